#!/usr/bin/env python3
"""Tells whether the execution profile still fits the request path (run by CI).

When a function's code changes after `gateway-bin/pgo/gateway.profdata` was recorded, LLVM
cannot match the recorded counts to it any more: it drops them, compiles the function as if
there were no profile, and says so in a warning ("function control flow change detected
(hash mismatch) <symbol>"). A few such functions in start-up or reload code cost nothing
that matters; on the request path they undo what the profile is for.

This script reads the output of a `gateway-bin/pgo/cargo-release` build (cargo repeats the
warnings of crates it did not rebuild), takes the serving section of
`gateway-bin/symbol-order.txt` (the functions the load benchmark ran while serving, hottest
first; see benches/layout/order.py) and fails when more than `--max-stale` of them lost
their profile, naming them. The fix is to record the profile again:

    python3 benches/pgo/train.py                       # the profile (~20 min)
    gateway-bin/pgo/cargo-release -p gateway-bin       # a binary built with it
    python3 benches/layout/order.py --no-install       # its function order
    gateway-bin/pgo/cargo-release -p gateway-bin       # linked in that order

Usage:

    gateway-bin/pgo/cargo-release -p gateway-bin 2>&1 | tee build.log
    python3 benches/pgo/check.py build.log
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layout"))
from order import ORDER_FILE, STARTUP_MARKER  # noqa: E402  (the file and marker it writes)

MISMATCH = re.compile(r"control flow change detected \(hash mismatch\) (\S+)")


def serving_symbols(order_file: Path) -> list[str]:
    """The symbols of the order file's serving section, hottest first."""
    serving = []
    for line in order_file.read_text().splitlines():
        if line == STARTUP_MARKER:
            return serving
        if line and not line.startswith("#"):
            serving.append(line)
    raise SystemExit(f"{order_file} has no '{STARTUP_MARKER}' line: regenerate it with "
                     "python3 benches/layout/order.py")


def stale_symbols(build_log: str) -> set[str]:
    """Symbols whose recorded counts LLVM dropped, from a build's output."""
    return set(MISMATCH.findall(build_log))


def demangle(names: list[str]) -> list[str]:
    try:
        done = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True,
                              text=True, check=True)
        return done.stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_log", type=Path, help="output of gateway-bin/pgo/cargo-release")
    parser.add_argument("--max-stale", type=float, default=0.05,
                        help="largest share of serving functions allowed to lose their profile")
    args = parser.parse_args()
    serving = serving_symbols(ORDER_FILE)
    stale = stale_symbols(args.build_log.read_text(errors="replace"))
    lost = [name for name in serving if name in stale]
    share = len(lost) / len(serving) if serving else 0.0
    print(f"profile: {len(stale)} functions lost their recorded counts, {len(lost)} of "
          f"{len(serving)} serving functions ({share:.1%}; at most {args.max_stale:.0%})")
    for name in demangle(lost):
        print(f"  {name}")
    if share > args.max_stale:
        print("the execution profile is stale on the request path: record it again with "
              "python3 benches/pgo/train.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
