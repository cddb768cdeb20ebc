"""One apply at a time: concurrent runs against the emulators, expired and orphaned leases."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from sync.apply.run_lock import DynamoDbLock, Lease, LocalFileLock, LockHeld
from sync.errors import ExitCode
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules
from sync.run import RunOptions, RunReport, run_sync
from sync.settings import Settings
from tests.helpers import add_people, seed_small_company, writes


@pytest.fixture
def lock_table(moto_app: ExtendedMotoApp) -> str:
    boto3.client("dynamodb").create_table(
        TableName="sso-sync-lock",
        KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "sso-sync-lock"


def test_two_concurrent_runs_one_applies_the_other_refuses_cleanly(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    lock_table: str,
) -> None:
    seed_small_company(google)
    add_people(google, 20, "data@example.com")
    shared = settings.model_copy(update={"lock": f"dynamodb://{lock_table}", "concurrency": 1})
    moto_app.latency_seconds = 0.05  # the first run takes a few seconds to apply
    first: list[RunReport] = []
    runner = threading.Thread(
        target=lambda: first.append(
            run_sync(shared, RunOptions(apply=True, trigger="schedule"), rules)
        )
    )
    runner.start()
    deadline = time.monotonic() + 30
    while not writes(moto_app) and time.monotonic() < deadline:
        time.sleep(0.02)

    second = run_sync(shared, RunOptions(apply=True, trigger="manual"), rules)
    runner.join()

    assert second.exit_code is ExitCode.REFUSED
    assert "(schedule) is applying" in (second.refused or "")
    assert second.applied is None and second.plan.operations == ()
    assert first[0].exit_code is ExitCode.OK
    lines = [json.loads(line) for line in Path(settings.audit).read_text().splitlines()]
    assert any(line.get("outcome") == "refused" and line["trigger"] == "manual" for line in lines)
    moto_app.latency_seconds = 0.0
    assert run_sync(shared, RunOptions(apply=True), rules).plan.operations == ()


def test_an_expired_lease_is_taken_over(lock_table: str) -> None:
    lock = DynamoDbLock(lock_table)
    lock.acquire(Lease("crashed", "schedule", time.time() - 1))

    lock.acquire(Lease("next", "schedule", time.time() + 60))

    with pytest.raises(LockHeld, match="run next"):
        lock.acquire(Lease("third", "manual", time.time() + 60))


def test_releasing_leaves_someone_elses_lease_alone(lock_table: str) -> None:
    lock = DynamoDbLock(lock_table)
    mine = Lease("mine", "schedule", time.time() - 1)
    lock.acquire(mine)
    theirs = Lease("theirs", "schedule", time.time() + 60)
    lock.acquire(theirs)  # mine expired

    lock.release(mine)

    with pytest.raises(LockHeld, match="run theirs"):
        lock.acquire(Lease("another", "manual", time.time() + 60))


def test_a_local_lease_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path.write_text(
        json.dumps(
            {
                "run_id": "killed",
                "trigger": "cli",
                "expires_at": time.time() + 600,
                "pid": int(dead.stdout),
            }
        )
    )
    lock = LocalFileLock(path)

    lock.acquire(Lease("next", "cli", time.time() + 60))

    with pytest.raises(LockHeld, match="run next"):
        LocalFileLock(path).acquire(Lease("other", "cli", time.time() + 60))
    assert json.loads(path.read_text())["pid"] == os.getpid()


def applying_in_background(
    settings: Settings, rules: Rules, moto_app: ExtendedMotoApp, lock_table: str
) -> tuple[Settings, threading.Thread, list[RunReport]]:
    """A slow apply (30 people, 0.05 s a call) with a 0.6 s lease, started in a thread once
    it has begun writing: (its settings, its thread, where its report lands)."""
    short = settings.model_copy(
        update={"lock": f"dynamodb://{lock_table}", "concurrency": 1, "lock_seconds": 0.6}
    )
    moto_app.latency_seconds = 0.05
    reports: list[RunReport] = []
    runner = threading.Thread(
        target=lambda: reports.append(run_sync(short, RunOptions(apply=True), rules))
    )
    runner.start()
    deadline = time.monotonic() + 30
    while not writes(moto_app) and time.monotonic() < deadline:
        time.sleep(0.02)
    return short, runner, reports


def test_a_lease_shorter_than_the_run_is_renewed_so_a_second_apply_is_refused(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    lock_table: str,
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")  # about 4 s of writes: several lease lengths
    short, runner, first = applying_in_background(settings, rules, moto_app, lock_table)
    time.sleep(1.5)  # well past the first lease's own length

    second = run_sync(short, RunOptions(apply=True, trigger="manual"), rules)
    runner.join()

    assert second.exit_code is ExitCode.REFUSED and second.applied is None
    assert first[0].exit_code is ExitCode.OK, first[0].summary()


def test_a_run_that_loses_its_lease_stops_starting_operations(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    lock_table: str,
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    _, runner, first = applying_in_background(settings, rules, moto_app, lock_table)
    boto3.client("dynamodb").put_item(  # someone takes the lock from under it
        TableName=lock_table,
        Item={
            "lock": {"S": "sso-sync-apply"},
            "run_id": {"S": "intruder"},
            "trigger": {"S": "manual"},
            "expires_at": {"N": str(time.time() + 60)},
        },
    )
    runner.join()

    report = first[0]
    assert report.exit_code is ExitCode.RUN_FAILED
    assert "lost the run lock" in (report.crashed or "")
    assert report.applied is not None and report.applied.postponed > 0


RACE = """
import sys, time
from pathlib import Path
from sync.apply.run_lock import Lease, LocalFileLock, LockHeld
path, start = Path(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    pass
lock = LocalFileLock(path)  # held as long as the run holds it
try:
    lock.acquire(Lease(sys.argv[3], "cli", time.time() + 60))
except LockHeld:
    print("refused")
else:
    print("held")
    time.sleep(1.5)
"""


def test_local_runs_started_together_have_one_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    start = time.time() + 2.0  # every process waits for the same moment
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(path), str(start), f"run{index}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(8)
    ]
    answers = [process.communicate(timeout=60)[0].strip() for process in processes]

    assert sorted(answers) == ["held"] + ["refused"] * 7


def test_a_local_run_longer_than_its_lease_keeps_its_lock(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    moto_app.latency_seconds = 0.05  # about 4 s of writes: several renewals
    short = settings.model_copy(update={"concurrency": 1, "lock_seconds": 0.6})

    report = run_sync(short, RunOptions(apply=True), rules)

    assert report.exit_code is ExitCode.OK, report.crashed
    assert report.applied is not None and report.applied.postponed == 0
