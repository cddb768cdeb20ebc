"""One apply at a time: a lease taken before apply and released after.

The schedule and a manual invocation can overlap; two applies at once would race on the same
objects. In Lambda the lease is a DynamoDB item written with a conditional put and renewed
while the run lives (a heartbeat): it expires only when its run stopped renewing it, a crash,
and only then can another run take it. A run that cannot renew its lease stops applying. For
the CLI, an OS file lock (filelock): atomic, and released by the OS when the process dies.
"""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError
from filelock import FileLock, Timeout

from sync.apply.interrupts import leave_interrupts_to_the_main_thread
from sync.aws.retry import error_code
from sync.errors import SafeguardRefusal

log = logging.getLogger(__name__)

LOCK_NAME = "sso-sync-apply"


@dataclass(frozen=True)
class Lease:
    run_id: str
    trigger: str
    expires_at: float


class LockHeld(SafeguardRefusal):
    """Another run holds the lease: this one applies nothing (exit 3)."""

    def __init__(self, holder: Lease | None) -> None:
        if holder is None:
            super().__init__("another sso-sync run is applying; this one applied nothing")
        else:
            until = time.strftime("%H:%M:%S", time.gmtime(holder.expires_at))
            super().__init__(
                f"run {holder.run_id} ({holder.trigger}) is applying, its lease runs until "
                f"{until} UTC; this run applied nothing and the next one will catch up"
            )


class RunLock(Protocol):
    def acquire(self, lease: Lease) -> None: ...

    def renew(self, lease: Lease) -> bool:
        """Extend a held lease to `lease.expires_at`; False if it is no longer this run's."""
        ...

    def release(self, lease: Lease) -> None: ...


class LocalFileLock:
    """An OS lock on `<path>.flock` (filelock): taken atomically, held while the process
    lives, released by the OS when it dies; `<path>` names the holder for messages."""

    def __init__(self, path: Path) -> None:
        self._path = path
        # Not per thread: the lease keeper's thread asks whether the run still holds it.
        self._lock = FileLock(f"{path}.flock", timeout=0, thread_local=False)

    def acquire(self, lease: Lease) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise LockHeld(self._holder()) from None
        self._path.write_text(json.dumps({**lease.__dict__, "pid": os.getpid()}))

    def renew(self, lease: Lease) -> bool:
        return self._lock.is_locked  # held until released or the process ends

    def release(self, lease: Lease) -> None:
        if self._lock.is_locked:
            self._path.unlink(missing_ok=True)
            self._lock.release()

    def _holder(self) -> Lease | None:
        try:
            content = json.loads(self._path.read_text())
            content.pop("pid", None)
            return Lease(**content)
        except (OSError, ValueError, TypeError):
            return None


class DynamoDbLock:
    """A conditional put on one item: it succeeds only if no unexpired lease exists."""

    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = table
        self._client = client or boto3.client("dynamodb")

    def acquire(self, lease: Lease) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "lock": {"S": LOCK_NAME},
                    "run_id": {"S": lease.run_id},
                    "trigger": {"S": lease.trigger},
                    "expires_at": {"N": str(lease.expires_at)},
                },
                ConditionExpression="attribute_not_exists(#lock) OR expires_at < :now",
                ExpressionAttributeNames={"#lock": "lock"},
                ExpressionAttributeValues={":now": {"N": str(time.time())}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raise LockHeld(self._holder()) from error

    def renew(self, lease: Lease) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"lock": {"S": LOCK_NAME}},
                UpdateExpression="SET expires_at = :until",
                ConditionExpression="run_id = :mine",
                ExpressionAttributeValues={
                    ":mine": {"S": lease.run_id},
                    ":until": {"N": str(lease.expires_at)},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, lease: Lease) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"lock": {"S": LOCK_NAME}},
                ConditionExpression="run_id = :mine",
                ExpressionAttributeValues={":mine": {"S": lease.run_id}},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise  # another run took over an expired lease: nothing of ours to release

    def _holder(self) -> Lease | None:
        item = self._client.get_item(
            TableName=self._table, Key={"lock": {"S": LOCK_NAME}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return Lease(item["run_id"]["S"], item["trigger"]["S"], float(item["expires_at"]["N"]))


def run_lock_for(location: str) -> RunLock:
    if location.startswith("dynamodb://"):
        return DynamoDbLock(location.removeprefix("dynamodb://"))
    return LocalFileLock(Path(location))


class LeaseKeeper:
    """Renews a held lease every third of its length while the run applies; `lost` is set
    once it cannot (another run holds it, or renewals failed until it expired), and the run
    stops starting operations."""

    def __init__(self, lock: RunLock, lease: Lease, seconds: float) -> None:
        self._lock, self._lease, self._seconds = lock, lease, seconds
        self._expires_at = lease.expires_at
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lease", daemon=True)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _keep(self) -> None:
        leave_interrupts_to_the_main_thread()
        while not self._done.wait(self._seconds / 3):
            renewed = Lease(self._lease.run_id, self._lease.trigger, time.time() + self._seconds)
            try:
                held = self._lock.renew(renewed)
            except Exception as error:  # a failed renewal is retried until the lease ends
                log.warning("renewing the run lock failed: %s", error)
                held = time.time() < self._expires_at
            else:
                if held:
                    self._expires_at = renewed.expires_at
                    log.debug("renewed the run lock until %.3f", renewed.expires_at)
            if not held:
                log.error("lost the run lock: stopping before the next operation")
                self.lost.set()
                return
