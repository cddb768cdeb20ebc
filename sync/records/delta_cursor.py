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


@dataclass(frozen=True)
class DeltaCursor:
    checkpoint: datetime | None = None
    """When the feed was last read up to; None before the first delta run."""
    handled: dict[str, datetime] = field(default_factory=dict)
    """Event key -> event time, for events handled within the overlap window."""

    def window_start(self, now: datetime, overlap: timedelta) -> datetime:
        return (self.checkpoint or now) - overlap

    def unhandled(self, events: list[ActivityEvent]) -> list[ActivityEvent]:
        return [event for event in events if event.key not in self.handled]

    def advanced(
        self, now: datetime, handled: list[ActivityEvent], overlap: timedelta
    ) -> "DeltaCursor":
        """The cursor after a run that read up to `now` and handled `handled`."""
        keep_after = now - 2 * overlap
        remembered = {k: t for k, t in self.handled.items() if t >= keep_after}
        remembered |= {event.key: event.time for event in handled}
        return DeltaCursor(now, remembered)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "checkpoint": self.checkpoint.isoformat() if self.checkpoint else None,
                "handled": {key: moment.isoformat() for key, moment in self.handled.items()},
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
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{source}: the delta cursor is not valid: {error}") from error


def load_cursor(document: Document) -> DeltaCursor:
    text = document.read()
    return DeltaCursor() if text is None else DeltaCursor.from_json(text, document.location)
