"""The audit log: one JSON line per attempted write (and per state-only decision), one summary
line per run. To a local JSON-lines file, or one S3 object per run; always to the log too.
Secrets never reach it: operations carry names and ids only.
"""

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3

from sync.planning.plan import Operation, operation_json
from sync.records.documents import split_s3_url

log = logging.getLogger("sync.records.audit")


class AuditSink(Protocol):
    def write(self, line: str) -> None: ...

    def close(self) -> None: ...


class LocalAuditSink:
    """Appends to a file, flushing each line so a crash loses nothing already done."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class S3AuditSink:
    """Collects the run's lines and writes them as s3://bucket/prefix/<date>/<run id>.jsonl."""

    def __init__(self, bucket: str, prefix: str, run_id: str, client: Any | None = None) -> None:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self._bucket, self._key = bucket, f"{prefix.rstrip('/')}/{day}/{run_id}.jsonl"
        self._client = client or boto3.client("s3")
        self._lines: list[str] = []

    def write(self, line: str) -> None:
        self._lines.append(line)

    def close(self) -> None:
        if not self._lines:
            return
        body = "".join(line + "\n" for line in self._lines).encode()
        self._client.put_object(Bucket=self._bucket, Key=self._key, Body=body)


def audit_sink_for(location: str, run_id: str) -> AuditSink:
    if location.startswith("s3://"):
        bucket, prefix = split_s3_url(location)
        return S3AuditSink(bucket, prefix, run_id)
    return LocalAuditSink(Path(location))


class AuditLog:
    def __init__(self, sink: AuditSink, run_id: str, trigger: str) -> None:
        self._sink, self.run_id, self._trigger = sink, run_id, trigger
        self._lock = threading.Lock()

    def record(
        self, operation: Operation, result: str, attempts: int, error: str | None = None
    ) -> None:
        details = operation_json(operation)
        name = f"{details.pop('resource')}.{details.pop('action')}"
        self.record_entry(name, details, result, attempts, error)

    def record_entry(
        self,
        operation: str,
        target: dict[str, Any],
        result: str,
        attempts: int,
        error: str | None = None,
    ) -> None:
        self._write(
            {
                "operation": operation,
                "target": target,
                "result": result,
                "attempts": attempts,
                "error": error,
            }
        )

    def summary(self, summary: dict[str, Any]) -> None:
        self._write({"operation": "run.summary", **summary})

    def close(self) -> None:
        with self._lock:
            self._sink.close()

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "run_id": self.run_id,
                "trigger": self._trigger,
                **entry,
            },
            default=str,
        )
        with self._lock:
            self._sink.write(line)
        log.info(line)
