"""A delta run: read Google's change feed since the last one, and sync only what it names.

When nothing relevant happened it costs one Reports API call per application and no Identity
Center call. Otherwise the named users and groups are re-read (the events are hints, the
directory is the truth) and go through the same plan, safeguards, apply and audit as a full
sync, under the same run lock. The full sync stays on its slower schedule as the safety net
for events that arrive late or never.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta

from sync.apply.executor import ApplyResult
from sync.errors import ConfigError
from sync.google.activity_feed import SCOPES_HINT, connect_feed
from sync.google.api import google_errors
from sync.model import ActivityEvent
from sync.planning.plan import Plan
from sync.reading.change_hints import ChangeHints, hints_from
from sync.records.delta_cursor import DeltaCursor, load_cursor
from sync.records.documents import document_at, sibling
from sync.rules.loader import load_rules
from sync.rules.model import Rules
from sync.run import RunOptions, RunReport, run_sync
from sync.settings import Settings


def run_delta(settings: Settings, options: RunOptions, rules: Rules | None = None) -> RunReport:
    if settings.scope == "management":
        raise ConfigError(
            "--scope management makes no delta runs: the main deployment's delta runs carry "
            "Google's changes; run full syncs (plan, apply) in the management account"
        )
    started = time.monotonic()
    rules = rules or load_rules(settings.rules, settings.max_deletes)
    feed = connect_feed(settings)
    cursor_document = document_at(settings.delta_cursor or sibling(settings.state, "delta"))
    cursor = load_cursor(cursor_document)
    now = datetime.now(UTC)
    overlap = timedelta(seconds=settings.delta_overlap)
    since = cursor.window_start(now, overlap)
    with google_errors("reading Google's change feed", SCOPES_HINT):
        events = feed.events_since(since)
    fresh = cursor.unhandled(events)
    # The first delta run starts the feed here: what happened before is the full sync's.
    hints = hints_from(fresh) if cursor.checkpoint is not None else ChangeHints()
    hints = hints.with_groups(cursor.pending_rechecks(now))
    if hints:
        report = run_sync(settings, options, rules, changes=hints)
    else:
        report = RunReport(
            options.run_id or uuid.uuid4().hex[:12], options.trigger, Plan(()), mode="delta"
        )
        report.applied = ApplyResult() if options.apply else None
    report.seconds = time.monotonic() - started
    report.google_calls = feed.calls + report.google_calls
    report.feed = {
        "since": since.isoformat(timespec="seconds"),
        "events": len(events),
        "new_events": len(fresh),
        "users": sorted(hints.users),
        "groups": sorted(hints.groups),
    }
    if options.apply and _handled(report) and _worth_saving(cursor, fresh, now, overlap, report):
        advanced = cursor.advanced(now, fresh, overlap, report.rechecks)
        cursor_document.write(advanced.to_json())
    return report


def _handled(report: RunReport) -> bool:
    """Events count as handled once their changes are applied, or refused by a safeguard (the
    full sync then meets the same refusal). Anything else leaves them for the next run."""
    if report.crashed or report.busy:
        return False
    applied = report.applied
    return applied is None or not (applied.failures or applied.postponed)


def _worth_saving(
    cursor: DeltaCursor,
    fresh: list[ActivityEvent],
    now: datetime,
    overlap: timedelta,
    report: RunReport,
) -> bool:
    """An idle run moves the checkpoint only now and then: the overlap re-reads the rest."""
    if fresh or cursor.checkpoint is None or report.rechecks or cursor.rechecks:
        return True
    return now - cursor.checkpoint >= overlap / 2
