"""One apply at a time: concurrent runs against the emulators, expired and orphaned leases."""

import json
import logging
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
from sync.local.aws import ExtendedMotoApp, Hold
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules
from sync.run import RunOptions, RunReport, run_sync
from sync.settings import Settings
from tests.helpers import add_people, seed_small_company


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
    applying = moto_app.hold("CreateUser", after=1)  # the first run, caught mid-apply
    first: list[RunReport] = []
    runner = threading.Thread(
        target=lambda: first.append(
            run_sync(shared, RunOptions(apply=True, trigger="schedule"), rules)
        )
    )
    runner.start()
    assert applying.reached.wait(timeout=120), "the first run never reached its second write"

    second = run_sync(shared, RunOptions(apply=True, trigger="manual"), rules)
    applying.release()
    runner.join()

    assert second.exit_code is ExitCode.REFUSED
    assert "(schedule) is applying" in (second.refused or "")
    assert second.applied is None and second.plan.operations == ()
    assert first[0].exit_code is ExitCode.OK
    lines = [json.loads(line) for line in Path(settings.audit).read_text().splitlines()]
    assert any(line.get("outcome") == "refused" and line["trigger"] == "manual" for line in lines)
    assert run_sync(shared, RunOptions(apply=True), rules).plan.operations == ()


def test_an_expired_lease_is_taken_over(lock_table: str) -> None:
    lock = DynamoDbLock(lock_table)
    lock.acquire(Lease("crashed", "schedule", time.time() - 1))

    lock.acquire(Lease("next", "schedule", time.time() + 3600))

    with pytest.raises(LockHeld, match="run next"):
        lock.acquire(Lease("third", "manual", time.time() + 3600))


def test_releasing_leaves_someone_elses_lease_alone(lock_table: str) -> None:
    lock = DynamoDbLock(lock_table)
    mine = Lease("mine", "schedule", time.time() - 1)
    lock.acquire(mine)
    theirs = Lease("theirs", "schedule", time.time() + 3600)
    lock.acquire(theirs)  # mine expired

    lock.release(mine)

    with pytest.raises(LockHeld, match="run theirs"):
        lock.acquire(Lease("another", "manual", time.time() + 3600))


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

    lock.acquire(Lease("next", "cli", time.time() + 3600))

    with pytest.raises(LockHeld, match="run next"):
        LocalFileLock(path).acquire(Lease("other", "cli", time.time() + 3600))
    assert json.loads(path.read_text())["pid"] == os.getpid()


class LockEvents(logging.Handler):
    """The run lock's own log lines, as events a test waits on: each renewal, and its loss."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.renewals = threading.Semaphore(0)
        self.lost = threading.Event()
        self._logger = logging.getLogger("sync.apply.run_lock")

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("renewed the run lock"):
            self.renewals.release()
        elif record.getMessage().startswith("lost the run lock"):
            self.lost.set()

    def __enter__(self) -> "LockEvents":
        self._level = self._logger.level
        self._logger.setLevel(logging.DEBUG)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def applying_in_background(
    settings: Settings,
    rules: Rules,
    moto_app: ExtendedMotoApp,
    lock_table: str,
    lease_seconds: float,
) -> tuple[Settings, threading.Thread, list[RunReport], Hold]:
    """A run held at its second user creation (until the test releases it), with a lease of
    `lease_seconds`: (its settings, its thread, where its report lands, the hold)."""
    short = settings.model_copy(
        update={"lock": f"dynamodb://{lock_table}", "concurrency": 1, "lock_seconds": lease_seconds}
    )
    applying = moto_app.hold("CreateUser", after=1)
    reports: list[RunReport] = []
    runner = threading.Thread(
        target=lambda: reports.append(run_sync(short, RunOptions(apply=True), rules))
    )
    runner.start()
    assert applying.reached.wait(timeout=120), "the run never reached its second write"
    return short, runner, reports, applying


def test_a_lease_shorter_than_the_run_is_renewed_so_a_second_apply_is_refused(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    lock_table: str,
) -> None:
    seed_small_company(google)
    with LockEvents() as events:
        short, runner, first, applying = applying_in_background(
            settings, rules, moto_app, lock_table, lease_seconds=6
        )
        for _ in range(4):  # renewed every 2 s: past the first lease's own length
            assert events.renewals.acquire(timeout=120), "the lease was not renewed"

        second = run_sync(short, RunOptions(apply=True, trigger="manual"), rules)
        applying.release()
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
    with LockEvents() as events:
        _, runner, first, applying = applying_in_background(
            settings, rules, moto_app, lock_table, lease_seconds=0.6
        )
        boto3.client("dynamodb").put_item(  # someone takes the lock from under it
            TableName=lock_table,
            Item={
                "lock": {"S": "sso-sync-apply"},
                "run_id": {"S": "intruder"},
                "trigger": {"S": "manual"},
                "expires_at": {"N": str(time.time() + 3600)},
            },
        )
        assert events.lost.wait(timeout=120), "the run did not notice"
        applying.release()
        runner.join()

    report = first[0]
    assert report.exit_code is ExitCode.RUN_FAILED
    assert "lost the run lock" in (report.crashed or "")
    assert report.applied is not None and report.applied.postponed > 0


RACE = """
import sys, time
from pathlib import Path
from sync.apply.run_lock import Lease, LocalFileLock, LockHeld
print("ready", flush=True)
sys.stdin.readline()  # every process is started and waits here: they try together
lock = LocalFileLock(Path(sys.argv[1]))  # held as long as the run holds it
try:
    lock.acquire(Lease(sys.argv[2], "cli", time.time() + 3600))
except LockHeld:
    print("refused", flush=True)
else:
    print("held", flush=True)
    sys.stdin.read()  # held until the test has every answer
"""


def test_local_runs_started_together_have_one_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(path), f"run{index}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(8)
    ]
    assert [p.stdout.readline().strip() for p in processes] == ["ready"] * 8  # type: ignore[union-attr]
    for process in processes:
        process.stdin.write("go\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
    # Each answers once it tried; the holder holds until every answer is in, so a process
    # that tries late still meets the lock held, however slow the machine.
    answers = [process.stdout.readline().strip() for process in processes]  # type: ignore[union-attr]
    for process in processes:
        process.communicate(timeout=60)

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
