"""Cold import time of the Lambda handler module: fresh interpreters, figures printed.

    python tests/bench/cold_import.py [--runs 7]

A Lambda cold start pays this before the first line of the sync runs. Printed, not asserted:
these machines are shared and noisy.
"""

import argparse
import statistics
import subprocess
import sys
import time


def wall_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def cost_by_package(count: int) -> list[tuple[float, str]]:
    """Import time spent in each top-level package's own modules (-X importtime 'self')."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sync.handler"],
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            package = parts[2].strip().split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(parts[0]) / 1e6
    return sorted(((seconds, name) for name, seconds in totals.items()), reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    bare = [wall_seconds("pass") for _ in range(runs)]
    handler = [wall_seconds("import sync.handler") for _ in range(runs)]
    overhead = statistics.median(handler) - statistics.median(bare)
    print(f"python {sys.version.split()[0]}, {runs} fresh interpreters each")
    print(f"interpreter alone:     median {statistics.median(bare):.3f}s  min {min(bare):.3f}s")
    print(
        f"import sync.handler:   median {statistics.median(handler):.3f}s  min {min(handler):.3f}s"
    )
    print(f"handler import cost:   {overhead:.3f}s (median difference)")
    print("import time by package (its own modules):")
    for seconds, name in cost_by_package(10):
        print(f"  {seconds:.3f}s  {name}")


if __name__ == "__main__":
    main()
