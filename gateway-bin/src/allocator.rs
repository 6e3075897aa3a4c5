//! The process allocator, and the upkeep that hands memory freed by quiet connections back
//! to the system.
//!
//! mimalloc returns a freed page to the system only once it has been free for a delay (1 s)
//! *and* the allocator runs again on some thread: a gateway whose connections all went
//! quiet at once (each one releasing its parser buffers, see `Limits::idle_release`) makes
//! no further allocations, so it kept every released buffer resident, about 20 KiB per
//! parked connection. The upkeep task asks mimalloc twice a second to return what is free;
//! under load that changes nothing measurable (free pages were being returned anyway), once
//! idle it brings a parked connection's cost down to what it really holds.

use std::{
    alloc::{GlobalAlloc, Layout},
    ffi::c_void,
    time::Duration,
};

/// The process allocator: mimalloc gives freed pages back (see the `mimalloc` feature).
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

/// The largest alignment every mimalloc block of at least that size has
/// (`MI_MAX_ALIGN_SIZE`): blocks of 16 bytes or more start on a 16-byte boundary, smaller
/// ones on their own size class (8).
const NATURAL_ALIGN: usize = 16;

/// mimalloc as Rust's global allocator, asking for alignment only when a layout needs more
/// than what every block has anyway.
///
/// The `mimalloc` crate's allocator passes every layout to `mi_malloc_aligned`. In
/// mimalloc 3 that call takes its fast path only while the size class's current page has
/// free blocks; once the page is used up, it over-allocates from the next larger class
/// (`size + align - 1`) without ever refilling the exhausted one, so from then on most
/// allocations of that size take the slow path and waste up to a size class each. On the
/// request path that was about 1,500 instructions of allocator slow path per HTTP/1.1
/// request; in a 10,000-route compile, a fifth of its instructions. `mi_malloc` keeps the
/// fast path and refills pages, and gives the alignment Rust layouts need whenever the
/// alignment is at most [`NATURAL_ALIGN`] and no larger than the size (the same rule the
/// standard library uses for the system `malloc`).
#[derive(Debug)]
struct MiMalloc;

/// Whether `mi_malloc` alone aligns a block of `size` bytes to `align`.
fn naturally_aligned(size: usize, align: usize) -> bool {
    align <= NATURAL_ALIGN && align <= size
}

// SAFETY: every pointer handed out comes from mimalloc with at least the layout's size and
// alignment (directly, or by the `naturally_aligned` rule above), and every pointer taken
// back goes to mimalloc's own `mi_free`/`mi_realloc*`, which accept any block mimalloc made
// whatever call made it.
#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait implemented over mimalloc's C API"
)]
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain allocation calls; a null return is passed on as allocation failure.
        unsafe {
            if naturally_aligned(layout.size(), layout.align()) {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`, with the block zeroed.
        unsafe {
            if naturally_aligned(layout.size(), layout.align()) {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator, so by mimalloc.
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was returned by this allocator with `layout`; the new block keeps
        // the layout's alignment by the same rule as `alloc`.
        unsafe {
            if naturally_aligned(new_size, layout.align()) {
                libmimalloc_sys::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// How often the upkeep hands free memory back.
const RETURN_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the upkeep on the current tokio runtime; it ends with the runtime.
pub(crate) fn spawn_upkeep() {
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(RETURN_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            return_free_memory();
        }
    });
}

/// Returns the memory mimalloc holds free (in this thread's heap and in the shared arenas)
/// to the system.
#[allow(
    unsafe_code,
    reason = "the one foreign call the crate makes; mimalloc has no safe binding for it"
)]
fn return_free_memory() {
    // SAFETY: `mi_collect` takes no pointers and has no preconditions: it may be called on
    // any thread at any time, walks only the calling thread's heap and synchronises access
    // to the shared arenas itself.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
#[allow(unsafe_code, reason = "the tests call the allocator directly")]
mod tests {
    use super::*;

    /// Resident memory of this process, from `/proc/self/statm`.
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// Enough blocks of one size to use up several of mimalloc's pages of that size class,
    /// so that the refill path is exercised and not only the first page.
    const BLOCKS: usize = 2000;

    #[test]
    fn every_layout_gets_its_size_and_alignment() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 12, 24, 40, 48, 100, 1000, 5000] {
                let Ok(layout) = Layout::from_size_align(size.max(align), align) else {
                    continue;
                };
                let blocks: Vec<*mut u8> = (0..BLOCKS)
                    .map(|i| {
                        // SAFETY: the layout has a non-zero size.
                        let block = unsafe { ALLOCATOR.alloc(layout) };
                        assert!(!block.is_null(), "{layout:?} not allocated");
                        assert_eq!(block as usize % align, 0, "{layout:?} misaligned");
                        // SAFETY: the block holds `layout.size()` writable bytes.
                        unsafe { block.write_bytes(i as u8, layout.size()) };
                        block
                    })
                    .collect();
                for (i, block) in blocks.into_iter().enumerate() {
                    // SAFETY: written above with `layout.size()` bytes.
                    let last = unsafe { *block.add(layout.size() - 1) };
                    assert_eq!(last, i as u8, "{layout:?} blocks overlap");
                    // SAFETY: allocated above with `layout`.
                    unsafe { ALLOCATOR.dealloc(block, layout) };
                }
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_and_reallocation_keeps_contents_and_alignment() {
        for align in [8, 16, 64] {
            let layout = Layout::from_size_align(48, align).unwrap();
            // SAFETY: the layout has a non-zero size.
            let block = unsafe { ALLOCATOR.alloc_zeroed(layout) };
            assert!(!block.is_null());
            // SAFETY: the block holds 48 initialised bytes.
            let zeroed = unsafe { std::slice::from_raw_parts(block, 48) };
            assert!(zeroed.iter().all(|&byte| byte == 0));
            // SAFETY: the block holds 48 writable bytes.
            unsafe { block.write_bytes(7, 48) };
            // SAFETY: `block` was allocated with `layout`; the new size is non-zero.
            let grown = unsafe { ALLOCATOR.realloc(block, layout, 4000) };
            assert!(!grown.is_null());
            assert_eq!(grown as usize % align, 0);
            // SAFETY: the first 48 bytes were copied from the old block.
            let kept = unsafe { std::slice::from_raw_parts(grown, 48) };
            assert!(kept.iter().all(|&byte| byte == 7));
            // SAFETY: `grown` now has the layout's alignment and 4000 bytes.
            unsafe { ALLOCATOR.dealloc(grown, Layout::from_size_align(4000, align).unwrap()) };
        }
    }

    #[test]
    fn freed_buffers_leave_the_resident_set() {
        // Connection-sized buffers, touched so that they are resident, then freed.
        const BUFFERS: usize = 4096;
        let buffers: Vec<Vec<u8>> = (0..BUFFERS).map(|_| vec![1u8; 16 * 1024]).collect();
        let with_buffers = resident_bytes();
        drop(buffers);
        return_free_memory();
        let returned = with_buffers.saturating_sub(resident_bytes());
        // 64 MiB were freed; at least half of it must be gone from the resident set.
        assert!(
            returned > 32 << 20,
            "only {returned} bytes returned after freeing 64 MiB"
        );
    }
}
