"""The plans that runs which apply nothing leave for people to read: the whole plan (every
operation with its reason and values) as JSON, as `latest.json` and one document per run."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sync.records.documents import document_at
from sync.records.streamed_json import json_chunks


def save_plan(
    prefix: str, run_id: str, body: Callable[[], dict[str, Any]], now: datetime | None = None
) -> str:
    """Write the plan under `prefix` (a folder or s3://bucket/prefix); return the run's own
    document's location. `body` makes the document (its operations an iterator: streamed)."""
    moment = now or datetime.now(UTC)
    base = prefix.rstrip("/")
    dated = f"{base}/{moment:%Y/%m/%d}/{run_id}.json"
    for location in (dated, f"{base}/latest.json"):
        document_at(location).write(json_chunks(body()))
    return dated
