"""Reading the rules file: from a local path or s3://bucket/key, into a validated Rules.

Files the rules name by a relative path (inline policies) are read from the rules file's own
folder (on disk, links resolved) or S3 prefix, and from nowhere else."""

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sync.errors import ConfigError
from sync.rules.confined_files import key_inside, read_inside
from sync.rules.model import Rules, Safeguards
from sync.rules.yaml_documents import line_numbers, parse_document

ReadBeside = Callable[[str], str]
"""Reads a file named relative to the rules file; OSError when it cannot."""


def load_rules(location: str | Path, max_deletes: str | None = None) -> Rules:
    """Read and validate a rules file, local or s3://bucket/key; a ConfigError names the file,
    key path and line. `max_deletes` overrides the file's safeguard."""
    location = str(location)
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        client = boto3.client("s3")
        try:
            text = _read_s3_text(client, bucket, key)
        except OSError as error:
            raise ConfigError(f"{location}: cannot read the rules file: {error}") from error
        rules = parse_rules(text, location, _s3_beside(client, bucket, posixpath.dirname(key)))
    else:
        path = Path(location)
        try:
            text = utf8_text(path.read_bytes(), location)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the rules file: {error.strerror}") from error
        rules = parse_rules(text, location, base_dir=path.parent)
    if max_deletes is None:
        return rules
    try:
        override = Safeguards(
            max_deletes=int(max_deletes) if max_deletes.isdigit() else max_deletes
        )
    except ValueError as error:
        raise ConfigError(f"SSO_SYNC_MAX_DELETES={max_deletes!r}: a number or 'N%'") from error
    return rules.model_copy(update={"safeguards": override})


def _read_s3_text(client: Any, bucket: str, key: str) -> str:
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        raise OSError(f"s3://{bucket}/{key}: {error.response['Error'].get('Code')}") from error
    except BotoCoreError as error:
        raise OSError(f"s3://{bucket}/{key}: {error}") from error
    return utf8_text(body, f"s3://{bucket}/{key}")


def utf8_text(raw: bytes, source: str) -> str:
    """The file's text; a ConfigError naming the line of the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}:{line}: not UTF-8 text (byte {raw[error.start]:#04x}); save the file "
            "as UTF-8"
        ) from None


def _s3_beside(client: Any, bucket: str, prefix: str) -> ReadBeside:
    return lambda name: _read_s3_text(client, bucket, key_inside(prefix, name))


def _disk_beside(base_dir: Path) -> ReadBeside:
    return lambda name: read_inside(base_dir, name)


def parse_rules(
    text: str,
    source: str = "<rules>",
    read_beside: ReadBeside | None = None,
    base_dir: Path = Path("."),
) -> Rules:
    """Validate rules text; relative files are read with `read_beside` (default: from
    `base_dir` on disk)."""
    rules = parse_document(
        text,
        Rules,
        source,
        context={"read_beside": read_beside or _disk_beside(base_dir)},
        cross_checks=Rules.reference_problems,
    )
    lines = line_numbers(text)
    for index, selector in enumerate(rules.sync.groups):
        selector.locate(f"{source}:{lines.get(('sync', 'groups', index), 1)}")
    return rules
