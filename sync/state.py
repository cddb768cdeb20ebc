"""The record of what the sync manages, keyed by Google's immutable ids.

AWS gives objects created through the Identity Store API no marker of their creator, so this
record is the only proof of ownership: the sync modifies or deletes nothing that is not in it.
If it is lost, the next run rebuilds it by adoption and deletes nothing.
"""

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sync.errors import ConfigError, ReadError

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


class StateStore(Protocol):
    def load(self) -> State: ...

    def save(self, state: State) -> None: ...


class LocalStateStore:
    def __init__(self, path: Path) -> None:
        self._path = path

    def load(self) -> State:
        if not self._path.exists():
            return State()
        return State.from_json(self._path.read_text(encoding="utf-8"), str(self._path))

    def save(self, state: State) -> None:
        """Write atomically: a crash leaves the old or the new record, never half of one."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".state-")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(state.to_json())
        os.replace(temporary, self._path)


class S3StateStore:
    def __init__(self, bucket: str, key: str, client: Any | None = None) -> None:
        self._bucket, self._key = bucket, key
        self._client = client or boto3.client("s3")

    def load(self) -> State:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=self._key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return State()
            raise ReadError(
                f"reading the state s3://{self._bucket}/{self._key}: {error}"
            ) from error
        except BotoCoreError as error:
            raise ReadError(
                f"reading the state s3://{self._bucket}/{self._key}: {error}"
            ) from error
        return State.from_json(body.decode(), f"s3://{self._bucket}/{self._key}")

    def save(self, state: State) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._key,
            Body=state.to_json().encode(),
            ContentType="application/json",
        )


def split_s3_url(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"{location!r} is not an s3://bucket/key location")
    return bucket, key


def state_store_for(location: str) -> StateStore:
    if location.startswith("s3://"):
        return S3StateStore(*split_s3_url(location))
    return LocalStateStore(Path(location))
