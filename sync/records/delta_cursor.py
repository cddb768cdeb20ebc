"""How far a delta run has read Google's change feed.

Events become visible late, so each run reads again from `overlap` before its checkpoint and
skips the events it has already handled (kept for as long as they can reappear).
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync.errors import ConfigError
from sync.model import ActivityEvent
from sync.records.documents import Document

CURSOR_VERSION = 1
# Google: a member added to a nested group can take up to 10 minutes to show in the derived
# membership of the groups it is nested in (Directory API, Members: includeDerivedMembership).
DERIVED_MEMBERSHIP_DELAY = timedelta(minutes=10)


@dataclass(frozen=True)
class DeltaCursor:
    checkpoint: datetime | None = None
    """When the feed was last read up to; None before the first delta run."""
    handled: dict[str, datetime] = field(default_factory=dict)
    """Event key -> event time, for events handled within the overlap window."""
    rechecks: dict[str, datetime] = field(default_factory=dict)
    """Nested group id -> until when delta runs read it again (Google may take 10 minutes to
    show a change in a nested group in its parents' derived membership)."""

    def pending_rechecks(self, now: datetime) -> frozenset[str]:
        return frozenset(group for group, until in self.rechecks.items() if until > now)

    def window_start(self, now: datetime, overlap: timedelta) -> datetime:
        return (self.checkpoint or now) - overlap

    def unhandled(self, events: list[ActivityEvent]) -> list[ActivityEvent]:
        return [event for event in events if event.key not in self.handled]

    def advanced(
        self,
        now: datetime,
        handled: list[ActivityEvent],
        overlap: timedelta,
        rechecks: frozenset[str] = frozenset(),
    ) -> "DeltaCursor":
        """The cursor after a run that read up to `now`, handled `handled`, and reached synced
        groups through the nested groups `rechecks`."""
        keep_after = now - 2 * overlap
        remembered = {k: t for k, t in self.handled.items() if t >= keep_after}
        remembered |= {event.key: event.time for event in handled}
        pending = {group: until for group, until in self.rechecks.items() if until > now}
        pending |= {group: now + DERIVED_MEMBERSHIP_DELAY for group in rechecks}
        return DeltaCursor(now, remembered, pending)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "checkpoint": self.checkpoint.isoformat() if self.checkpoint else None,
                "handled": {key: moment.isoformat() for key, moment in self.handled.items()},
                "rechecks": {key: until.isoformat() for key, until in self.rechecks.items()},
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> "DeltaCursor":
        try:
            body = json.loads(text)
            if body.get("version") != CURSOR_VERSION:
                raise ValueError(f"unsupported version {body.get('version')!r}")
            checkpoint = body["checkpoint"]
            return cls(
                datetime.fromisoformat(checkpoint) if checkpoint else None,
                {k: datetime.fromisoformat(v) for k, v in body["handled"].items()},
                {k: datetime.fromisoformat(v) for k, v in body.get("rechecks", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{source}: the delta cursor is not valid: {error}") from error


def load_cursor(document: Document) -> DeltaCursor:
    text = document.read()
    return DeltaCursor() if text is None else DeltaCursor.from_json(text, document.location)
