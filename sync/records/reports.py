"""The access reports full syncs leave for auditors: the HTML page and its JSON, as
`latest.html`/`latest.json` and one dated pair a run; the previous `latest.json` is what the
next report's "what changed" compares with."""

import json
from datetime import UTC, datetime
from typing import Any

from sync.records.documents import document_at
from sync.reporting.html_page import report_html, report_json


def previous_report(prefix: str) -> dict[str, Any] | None:
    """The last report written under `prefix`, or None (none yet, or unreadable as a report)."""
    text = document_at(f"{prefix.rstrip('/')}/latest.json").read()
    if text is None:
        return None
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) and "people" in report else None


def save_report(
    prefix: str, run_id: str, report: dict[str, Any], now: datetime | None = None
) -> str:
    """Write the report under `prefix` (a folder or s3://bucket/prefix); return the location
    of the run's own HTML page."""
    moment = now or datetime.now(UTC)
    base = prefix.rstrip("/")
    dated = f"{base}/{moment:%Y/%m/%d}/{run_id}"
    for stem in (dated, f"{base}/latest"):
        document_at(f"{stem}.json").write(report_json(report))
        document_at(f"{stem}.html").write(report_html(report))
    return f"{dated}.html"
