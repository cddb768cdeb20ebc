"""Small JSON documents the sync keeps between runs (its state, the delta cursor): a local file
written atomically, or one S3 object."""

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sync.errors import ConfigError, ReadError


class Document(Protocol):
    location: str

    def read(self) -> str | None:
        """The text, or None when the document does not exist yet."""
        ...

    def write(self, text: str | Iterable[str]) -> None:
        """The whole text, or its chunks (never held whole in memory)."""
        ...

    def delete(self) -> None:
        """Gone, whether or not it existed."""
        ...

    def lines(self) -> Iterator[str]:
        """The text line by line, never whole in memory; nothing when it does not exist."""
        ...


class LocalDocument:
    def __init__(self, path: Path) -> None:
        self._path = path
        self.location = str(path)

    def read(self) -> str | None:
        if not self._path.exists():
            return None
        return self._path.read_text(encoding="utf-8")

    def write(self, text: str | Iterable[str]) -> None:
        """Atomically: a crash leaves the old or the new text, never half of one."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}-")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.writelines([text] if isinstance(text, str) else text)
        os.replace(temporary, self._path)

    def delete(self) -> None:
        self._path.unlink(missing_ok=True)

    def lines(self) -> Iterator[str]:
        if not self._path.exists():
            return
        with self._path.open(encoding="utf-8") as file:
            yield from file


SPOOL_BYTES = 8 * 1024 * 1024
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "jsonl": "application/x-ndjson"}


class S3Document:
    def __init__(self, bucket: str, key: str, client: Any | None = None) -> None:
        self._bucket, self._key = bucket, key
        self._client = client or boto3.client("s3")
        self.location = f"s3://{bucket}/{key}"

    def read(self) -> str | None:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=self._key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise ReadError(f"reading {self.location}: {error}") from error
        except BotoCoreError as error:
            raise ReadError(f"reading {self.location}: {error}") from error
        return body.decode()

    def write(self, text: str | Iterable[str]) -> None:
        # Chunks are spooled to a temporary file past a few MB: one PutObject, the whole text
        # never in memory.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
            for chunk in [text] if isinstance(text, str) else text:
                body.write(chunk.encode())
            body.seek(0)
            self._client.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=body,
                ContentType=CONTENT_TYPES.get(self._key.rpartition(".")[2], "application/json"),
            )

    def delete(self) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._key)

    def lines(self) -> Iterator[str]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=self._key)["Body"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return
            raise ReadError(f"reading {self.location}: {error}") from error
        for line in body.iter_lines():
            yield line.decode()


def split_s3_url(location: str) -> tuple[str, str]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ConfigError(f"{location!r} is not an s3://bucket/key location")
    return bucket, key


def document_at(location: str) -> Document:
    if location.startswith("s3://"):
        return S3Document(*split_s3_url(location))
    return LocalDocument(Path(location))


def beside(location: str, name: str) -> str:
    """A document in the same folder as another: `s3://b/state/state.json` and `runs/x.json`
    give `s3://b/state/runs/x.json`."""
    folder, slash, _ = location.rpartition("/")
    return f"{folder}{slash}{name}"


def sibling(location: str, suffix: str) -> str:
    """A document next to another: `state.json` with suffix `delta` is `state.delta.json`."""
    stem, dot, extension = location.rpartition(".")
    if not dot or "/" in extension:
        return f"{location}.{suffix}"
    return f"{stem}.{suffix}.{extension}"
