"""Runs `sso-sync` in this process and reports its peak memory on stderr.

The peak is the kernel's high-water mark of this process's own memory (VmHWM in
/proc/self/status). Not ru_maxrss: at exec, Linux folds the old address space's peak into it,
and a child started by a benchmark holding the emulators would report the parent's size."""

import sys
from pathlib import Path

from sync.cli import main


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    print(f"PEAK_RSS_KB {peak_kb()}", file=sys.stderr)
    sys.exit(code)
