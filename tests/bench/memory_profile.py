"""Where the sync's memory goes at its peak: a first sync of a synthetic directory, then a
sync of the same scenario under memray, whose summary (allocations alive at the peak, by
function) is printed.

    python -m tests.bench.memory_profile --users 10000 [--scenario no-change|first] [--scale 50]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench.sync_bench import bench_stack, run_child

CHILD = Path(__file__).with_name("run_child.py")
MEMRAY_RUN = [sys.executable, "-m", "memray", "run", "--quiet", "--output"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--scenario", choices=("no-change", "first"), default="no-change")
    parser.add_argument("--scale", type=float, default=50.0)
    parser.add_argument("--rows", type=int, default=30)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        with bench_stack(arguments.users, arguments.scale, workdir) as (_, _, environment, _):
            if arguments.scenario == "no-change":
                summary, peak_kb = run_child(environment)
                print(f"first sync: {summary['outcome']}, peak RSS {peak_kb / 1024:.0f} MB")
            capture = workdir / "sync.bin"
            profiled = subprocess.run(
                [*MEMRAY_RUN, str(capture), str(CHILD), "apply", "--auto-approve", "--json"],
                env=environment,
                capture_output=True,
                text=True,
            )
            peak = next(
                line for line in profiled.stderr.splitlines() if line.startswith("PEAK_RSS_KB")
            )
            print(f"{arguments.scenario} sync under memray: {peak.split()[1]} KB peak RSS")
        subprocess.run([sys.executable, "-m", "memray", "stats", str(capture)], check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "memray",
                "summary",
                "--max-rows",
                str(arguments.rows),
                str(capture),
            ],
            check=True,
            env={"COLUMNS": "200"},
        )


if __name__ == "__main__":
    main()
