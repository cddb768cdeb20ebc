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
