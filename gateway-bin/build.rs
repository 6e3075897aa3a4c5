//! Link-time layout of the gateway binary, for a smaller resident set:
//!
//! - `symbol-order.txt` goes to the linker, so the request path and the start-up code sit
//!   together at the front of the text section instead of spread over all of it (see
//!   benches/layout/order.py for why and how the file is made);
//! - relative relocations are packed (`DT_RELR`): the ~23,000 the loader applies at start
//!   take a few KiB instead of 550 KiB of `.rela.dyn` read into memory.
//!
//! Only where the toolchain links with LLD by default (x86_64 Linux GNU, rustc 1.90 and
//! later; GNU ld does not know the ordering option), and packing only with glibc 2.36 or
//! later, the first loader that reads `DT_RELR`. `GATEWAY_LINK_LAYOUT=off` turns both off,
//! for a build that picks another linker or runs on an older glibc than it was built on.

use std::env;
use std::process::Command;

const ORDER_FILE: &str = "symbol-order.txt";
/// rustc 1.90 made LLD the default linker for x86_64-unknown-linux-gnu.
const FIRST_LLD_RUSTC: (u32, u32) = (1, 90);
/// glibc 2.36 added `DT_RELR` support to its loader.
const FIRST_RELR_GLIBC: (u32, u32) = (2, 36);

fn main() {
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    println!("cargo:rerun-if-env-changed=GATEWAY_LINK_LAYOUT");
    let target = env::var("TARGET").unwrap_or_default();
    let disabled = env::var("GATEWAY_LINK_LAYOUT").is_ok_and(|value| value == "off");
    if disabled || target != "x86_64-unknown-linux-gnu" {
        return;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    if version_of(&rustc, &["--version"]).is_none_or(|v| v < FIRST_LLD_RUSTC) {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-link-arg-bin=gateway=-Wl,--symbol-ordering-file={dir}/{ORDER_FILE}");
    // Symbols the file names but this build lacks (another rustc, changed code) are skipped.
    println!("cargo:rustc-link-arg-bin=gateway=-Wl,--no-warn-symbol-ordering");
    let native = env::var("HOST").is_ok_and(|host| host == target);
    let glibc = version_of("getconf", &["GNU_LIBC_VERSION"]);
    if native && glibc.is_some_and(|v| v >= FIRST_RELR_GLIBC) {
        println!("cargo:rustc-link-arg-bin=gateway=-Wl,-z,pack-relative-relocs");
    }
}

/// The first `major.minor` in the second word of what `program args` prints
/// (`rustc 1.95.0 (...)`, `glibc 2.36`).
fn version_of(program: &str, args: &[&str]) -> Option<(u32, u32)> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text.split_whitespace().nth(1)?.split('.');
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor))
}
