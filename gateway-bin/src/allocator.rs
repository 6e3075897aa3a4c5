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

use std::time::Duration;

/// The process allocator: mimalloc gives freed pages back (see the `mimalloc` feature).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
mod tests {
    use super::*;

    /// Resident memory of this process, from `/proc/self/statm`.
    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
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
