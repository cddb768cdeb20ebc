"""Memory per person stays small: the sync's own peak (VmHWM of a child process, the way the
Lambda runs it) at 500 and at 2,000 people, first sync and no-change sync. The slope, KB per
person, must stay under a threshold about twice today's (2.7 KB measured at 500/2,000/10,000
people, README: Performance): a change that doubles memory per person fails. No time is
asserted."""

import tempfile
from pathlib import Path

import pytest

from tests.bench.sync_bench import bench_stack, run_child

pytestmark = pytest.mark.heavy

SMALL, LARGE = 500, 2000
KB_PER_PERSON_AT_MOST = 5.0


def peak_mb(users: int) -> float:
    """The higher of the first sync's and the no-change sync's peaks, in MB."""
    with (
        tempfile.TemporaryDirectory() as folder,
        bench_stack(users, scale=100, workdir=Path(folder)) as (_, _, environment, _),
    ):
        peaks = []
        for _ in ("first sync", "no-change sync"):
            summary, peak_kb = run_child(environment)
            assert summary["outcome"] == "succeeded", summary
            peaks.append(peak_kb / 1024)
        return max(peaks)


def test_memory_per_person_stays_small() -> None:
    small, large = peak_mb(SMALL), peak_mb(LARGE)

    per_person_kb = (large - small) * 1024 / (LARGE - SMALL)
    print(
        f"peak {small:.0f} MB at {SMALL}, {large:.0f} MB at {LARGE}: {per_person_kb:.1f} KB/person"
    )
    assert per_person_kb < KB_PER_PERSON_AT_MOST
