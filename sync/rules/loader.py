"""Reading the rules file: from a local path or s3://bucket/key, into a validated Rules."""

from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sync.errors import ConfigError
from sync.rules.model import Rules, Safeguards
from sync.rules.yaml_documents import parse_document


def load_rules(location: str | Path, max_deletes: str | None = None) -> Rules:
    """Read and validate a rules file, local or s3://bucket/key; a ConfigError names the file,
    key path and line. `max_deletes` overrides the file's safeguard."""
    location = str(location)
    if location.startswith("s3://"):
        text, base_dir = _read_s3_text(location), Path(".")
    else:
        path = Path(location)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the rules file: {error.strerror}") from error
        base_dir = path.parent
    rules = parse_rules(text, source=location, base_dir=base_dir)
    if max_deletes is None:
        return rules
    try:
        override = Safeguards(
            max_deletes=int(max_deletes) if max_deletes.isdigit() else max_deletes
        )
    except ValueError as error:
        raise ConfigError(f"SSO_SYNC_MAX_DELETES={max_deletes!r}: a number or 'N%'") from error
    return rules.model_copy(update={"safeguards": override})


def _read_s3_text(location: str) -> str:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise ConfigError(f"{location}: cannot read the rules file: {error}") from error
    return body.decode("utf-8")


def parse_rules(text: str, source: str = "<rules>", base_dir: Path = Path(".")) -> Rules:
    return parse_document(
        text,
        Rules,
        source,
        context={"base_dir": base_dir},
        cross_checks=Rules.reference_problems,
    )
