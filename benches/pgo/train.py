#!/usr/bin/env python3
"""Writes the execution profile the release binary is optimised with (profile-guided
optimisation).

`gateway-bin/pgo/gateway.profdata` records how often each branch and call of the gateway ran
under the load benchmark's traffic. `gateway-bin/pgo/cargo-release` hands it to rustc
(`-Cprofile-use`), and LLVM then lays out the hot paths straight, inlines where calls are
hot, and moves the code that did not run out of the way. On the one-route HTTP/1.1 request
path that took instructions per request from about 30,000 to 21,600 and instruction-cache
misses from about 1,580 to 570 (callgrind); see the README's performance section.

This script makes the profile:

1. builds an instrumented gateway (`-Cprofile-generate`) in `target/pgo-train`;
2. runs it under `benches/load/run.py` (`gateway`, `gateway-policies` and `gateway-10k`: start-up,
   HTTP/1.1, h2c, 64 KiB bodies, a single connection, 2,000 idle connections parked and woken,
   and a reload from 1 to 10,000 routes under load);
3. merges what the runs wrote with the toolchain's own `llvm-profdata` (the rustup
   `llvm-tools` component, installed when missing), keeping only code that ran (`--sparse`:
   code that did not run is optimised as without a profile, not as cold).

    python3 benches/pgo/train.py               # about 20 minutes on 2 cores, mostly the build
    python3 benches/pgo/train.py --no-build    # reuse target/pgo-train's instrumented binary

Run it again after a rustc upgrade or large changes to the request path: functions whose
code changed since the profile was made are compiled as if it had none. The profile's
format follows the LLVM of the rustc that wrote it (`gateway-bin/pgo/llvm-version`);
`cargo-release` builds without it when rustc's LLVM is older.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
import run as load  # noqa: E402  (the load benchmark: configurations and the runner)

PGO_DIR = load.ROOT / "gateway-bin" / "pgo"
PROFILE = PGO_DIR / "gateway.profdata"
LLVM_VERSION = PGO_DIR / "llvm-version"
TRAIN_TARGET = load.TARGET / "pgo-train"
RAW_DIR = TRAIN_TARGET / "profraw"
TRAINING = ["--proxies", "gateway,gateway-policies,gateway-10k", "--rounds", "1",
            "--duration", "3", "--idle-conns", "2000"]


def rustc_llvm_major() -> int:
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^LLVM version: (\d+)", out, re.MULTILINE)
    if found is None:
        raise RuntimeError("rustc -vV names no LLVM version")
    return int(found.group(1))


def llvm_profdata() -> Path:
    """The toolchain's llvm-profdata (it must read what this rustc's instrumentation writes)."""
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                             check=True).stdout.strip()
    found = sorted(Path(sysroot).glob("lib/rustlib/*/bin/llvm-profdata"))
    if not found:
        subprocess.run(["rustup", "component", "add", "llvm-tools"], check=True)
        found = sorted(Path(sysroot).glob("lib/rustlib/*/bin/llvm-profdata"))
    if not found:
        raise RuntimeError(f"no llvm-profdata under {sysroot} (rustup component add llvm-tools)")
    return found[0]


def install() -> None:
    """The load generators, and the origin the runs send to."""
    load.apt_install({"wrk": "wrk", "h2load": "nghttp2-client"})
    load.build_peers()


def build_instrumented() -> Path:
    # Build scripts are instrumented too: what they write while the build runs them goes to
    # a directory of its own, not into the source tree.
    env = dict(os.environ, RUSTFLAGS="-Cprofile-generate", CARGO_TARGET_DIR=str(TRAIN_TARGET),
               LLVM_PROFILE_FILE=str(TRAIN_TARGET / "build-scripts" / "%m-%p.profraw"))
    subprocess.run(["cargo", "build", "--release", "-p", "gateway-bin"], cwd=load.ROOT,
                   check=True, env=env)
    return TRAIN_TARGET / "release" / "gateway"


def train(binary: Path) -> list[Path]:
    """Runs the load benchmark against `binary`; returns the raw profiles it wrote."""
    if RAW_DIR.exists():
        shutil.rmtree(RAW_DIR)
    RAW_DIR.mkdir(parents=True)
    env = dict(os.environ, GATEWAY_BIN=str(binary),
               LLVM_PROFILE_FILE=str(RAW_DIR / "gateway-%p.profraw"))
    subprocess.run([sys.executable, str(load.ROOT / "benches" / "load" / "run.py"),
                    "--no-install", *TRAINING], cwd=load.ROOT, check=True, env=env)
    raw = sorted(RAW_DIR.glob("gateway-*.profraw"))
    if not raw:
        raise RuntimeError(f"the instrumented gateway wrote no profile to {RAW_DIR}")
    return raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true",
                        help="reuse the instrumented binary in target/pgo-train")
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()
    profdata = llvm_profdata()
    if not args.no_install:
        install()
    binary = TRAIN_TARGET / "release" / "gateway" if args.no_build else build_instrumented()
    raw = train(binary)
    subprocess.run([str(profdata), "merge", "--sparse", "-o", str(PROFILE), *map(str, raw)],
                   check=True)
    LLVM_VERSION.write_text(f"{rustc_llvm_major()}\n")
    print(f"merged {len(raw)} runs into {PROFILE} ({PROFILE.stat().st_size // 1024} KiB); "
          f"rebuild with {load.CARGO_RELEASE.relative_to(load.ROOT)} -p gateway-bin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
