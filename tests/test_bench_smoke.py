"""The benchmarks run end to end at a small size (figures printed, never asserted: these
machines are shared and noisy)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.heavy


def bench(module: str, output: Path, *arguments: str) -> Any:
    """Run `python -m tests.bench.<module> ... --json OUTPUT`; its JSON."""
    result = subprocess.run(
        [sys.executable, "-m", f"tests.bench.{module}", *arguments, "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output.read_text())


def test_the_benchmark_runs_and_reports_every_scenario(tmp_path: Path) -> None:
    figures = bench(
        "sync_bench",
        tmp_path / "bench.json",
        *("--users", "150", "--shared-limit-users", "150"),
        *("--resumable-users", "150", "--budget", "20"),
    )

    rows = figures["runs"]
    assert [row["scenario"] for row in rows] == [
        "first sync",
        "no-change sync",
        "1% churn",
        "first, others 25%",
    ]
    assert rows[0]["writes"] == rows[0]["required_writes"] > 0 and rows[1]["writes"] == 0
    assert all({"time_ratio", "calls_ratio", "peak_rss_mb"} <= set(row) for row in rows)
    resumable = figures["resumable"]
    assert resumable["outcome"] == "succeeded" and resumable["invocations"] > 1
    assert len(resumable["per_invocation"]) == resumable["invocations"]


def test_a_resumable_run_stopped_early_projects_the_rest(tmp_path: Path) -> None:
    figures = bench(
        "sync_bench",
        tmp_path / "bench.json",
        *("--users", "--resumable-users", "300", "--budget", "20", "--max-invocations", "1"),
    )

    resumable = figures["resumable"]
    (first,) = resumable["per_invocation"]
    assert resumable["outcome"] == "incomplete" and first["left"] > 0
    assert resumable["projection"]["invocations"] > 1


def test_the_delta_benchmark_measures_idle_runs_onboarding_and_offboarding(
    tmp_path: Path,
) -> None:
    figures = bench(
        "delta_bench", tmp_path / "delta.json", "--users", "150", "--lag", "0.4", "--cycle", "0.2"
    )

    rows = {row["scenario"]: row for row in figures}
    assert set(rows) == {"idle delta run", "onboarding", "offboarding"}
    assert rows["idle delta run"]["aws_calls"] == {}
    assert rows["onboarding"]["writes"] > 0 and rows["offboarding"]["writes"] == 1


def test_the_report_benchmark_builds_and_opens_the_page(tmp_path: Path) -> None:
    (row,) = bench("report_bench", tmp_path / "report.json", "--people", "300", "--accounts", "20")

    assert row["cells_with_access"] > 300 and row["rows_drawn"] > 0
    assert {"report_seconds", "browser_open_seconds", "peak_traced_mb"} <= set(row)
