"""Runs `sso-sync` in this process and reports its peak memory on stderr; or, given
`step RUN_ID [CARRIED]`, one step of a workflow's run (as the Lambda runs it), its summary as
JSON on stdout.

The peak is the kernel's high-water mark of this process's own memory (VmHWM in
/proc/self/status). Not ru_maxrss: at exec, Linux folds the old address space's peak into it,
and a child started by a benchmark holding the emulators would report the parent's size."""

import json
import sys
from pathlib import Path

from sync.cli import main
from sync.execution_step import StepRequest, run_step
from sync.run import RunOptions
from sync.settings import load_settings


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def step(run_id: str, carried: str | None) -> int:
    options = RunOptions(apply=True, trigger="schedule", run_id=run_id)
    result = run_step(load_settings(), StepRequest(run_id, options, carried))
    print(json.dumps(result.summary()))
    return int(result.exit_code)


if __name__ == "__main__":
    if sys.argv[1:2] == ["step"]:
        code = step(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        code = main(sys.argv[1:])
    print(f"PEAK_RSS_KB {peak_kb()}", file=sys.stderr)
    sys.exit(code)
