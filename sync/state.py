"""The record of what the sync manages, keyed by Google's immutable ids.

AWS gives objects created through the Identity Store API no marker of their creator, so this
record is the only proof of ownership: the sync modifies or deletes nothing that is not in it.
If it is lost, the next run rebuilds it by adoption and deletes nothing.
"""

import json
from dataclasses import dataclass, field

from sync.documents import Document, document_at
from sync.errors import ConfigError

STATE_VERSION = 1


@dataclass
class State:
    users: dict[str, str] = field(default_factory=dict)
    """Google user id -> Identity Store UserId."""
    groups: dict[str, str] = field(default_factory=dict)
    """Google group id -> Identity Store GroupId."""

    def to_json(self) -> str:
        body = {"version": STATE_VERSION, "users": self.users, "groups": self.groups}
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> "State":
        try:
            body = json.loads(text)
            if body.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported version {body.get('version')!r}")
            return cls(users=dict(body["users"]), groups=dict(body["groups"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{source}: the state file is not valid: {error}") from error


class StateStore:
    """Where the state lives between runs: a local file or an S3 object."""

    def __init__(self, document: Document) -> None:
        self._document = document

    def load(self) -> State:
        text = self._document.read()
        return State() if text is None else State.from_json(text, self._document.location)

    def save(self, state: State) -> None:
        self._document.write(state.to_json())


def state_store_for(location: str) -> StateStore:
    return StateStore(document_at(location))
