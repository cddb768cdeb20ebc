"""One apply at a time: a lease taken before apply and released after.

The schedule and a manual invocation can overlap; two applies at once would race on the same
objects. A lease expires on its own, so a crashed run does not block the next one for longer
than its lease. In Lambda the lease is a DynamoDB item written with a conditional put; for the
CLI, a local file created exclusively.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import ClientError

from sync.aws.retry import error_code
from sync.errors import SafeguardRefusal

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

    def release(self, lease: Lease) -> None: ...


class LocalFileLock:
    """A file created exclusively, naming the run and its process: a lease whose process has
    died (a killed CLI run) is taken over at once, not only when it expires."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def acquire(self, lease: Lease) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                handle = os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                holder, pid = self._holder()
                if holder is not None and holder.expires_at > time.time() and _alive(pid):
                    raise LockHeld(holder) from None
                self._path.unlink(missing_ok=True)
                continue
            with os.fdopen(handle, "w") as file:
                json.dump({**lease.__dict__, "pid": os.getpid()}, file)
            return
        raise LockHeld(self._holder()[0])

    def release(self, lease: Lease) -> None:
        holder, _ = self._holder()
        if holder is not None and holder.run_id == lease.run_id:
            self._path.unlink(missing_ok=True)

    def _holder(self) -> tuple[Lease | None, int | None]:
        try:
            content = json.loads(self._path.read_text())
            pid = content.pop("pid", None)
            return Lease(**content), pid
        except (OSError, ValueError, TypeError):
            return None, None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
