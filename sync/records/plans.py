"""Plans as documents. One format for a plan saved with `plan --out` (to review, then apply)
and for the plans that runs which apply nothing leave for people to read: every operation with
its reason and every value it writes, and digests of what the plan was made from."""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.errors import ConfigError
from sync.planning.plan import Plan
from sync.records.documents import document_at
from sync.records.streamed_json import json_chunks

PLAN_FORMAT = "sso-sync plan 2"
MOST_NAMED = 10


def plan_document(
    plan: Plan, inputs: dict[str, str], run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The plan as a document (its operations an iterator: streamed when written)."""
    body = {"format": PLAN_FORMAT, "inputs": inputs} | plan.to_json()
    return body if run is None else body | {"run": run}


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


@dataclass(frozen=True)
class SavedPlan:
    """A reviewed plan: applied only while the rules are the ones it was made from and a
    fresh plan is exactly it, operation by operation and value by value."""

    source: str
    operations: tuple[dict[str, Any], ...]
    inputs: dict[str, str]

    def stale_because(self, rules_digest: str, fresh: Iterable[dict[str, Any]]) -> str | None:
        """Why this plan may not be applied now, or None."""
        now = [json.loads(json.dumps(operation)) for operation in fresh]
        if self.inputs.get("rules") != rules_digest:
            where = self.inputs.get("rules_location")
            made_from = f" ({where} as it was then)" if where else ""
            differs = (
                "the plan they make now is the same, but a plan applies only with the rules it "
                "was reviewed with"
                if now == list(self.operations)
                else f"with the rules now, the plan differs in "
                f"{'; '.join(_differences(self.operations, now))}"
            )
            return (
                f"the saved plan {self.source} is stale: it was made from other rules{made_from}: "
                f"rules {_short(self.inputs.get('rules'))} then, {_short(rules_digest)} now; "
                f"{differs}. Nothing applied: run plan --out again with the rules you mean to "
                "apply, and review it"
            )
        if now == list(self.operations):
            return None
        return (
            f"the saved plan {self.source} is stale: Google Workspace or Identity Center "
            "changed since it was made, or the file was edited; a fresh plan differs in "
            f"{'; '.join(_differences(self.operations, now))}; nothing applied (run plan "
            "again and review it)"
        )


def read_plan_file(path: Path) -> SavedPlan:
    """A plan saved by `plan --out`; a ConfigError says why a file is not one."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the plan: {error.strerror or error}") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a plan saved by sso-sync plan --out ({error})") from error
    found = body.get("format") if isinstance(body, dict) else None
    if found != PLAN_FORMAT:
        if isinstance(found, str) and found.startswith("sso-sync plan "):
            raise ConfigError(
                f"{path}: written in plan format {found!r}; this sso-sync applies "
                f"{PLAN_FORMAT!r} only: run plan --out again with this version and review it"
            )
        raise ConfigError(f"{path}: not a plan saved by sso-sync plan --out")
    operations, inputs = body.get("operations"), body.get("inputs")
    if not isinstance(operations, list) or not isinstance(inputs, dict):
        raise ConfigError(f"{path}: a plan file needs its operations and inputs")
    return SavedPlan(str(path), tuple(operations), inputs)


def _differences(saved: Iterable[dict[str, Any]], fresh: Iterable[dict[str, Any]]) -> list[str]:
    """Which objects' operations differ: `+` newly planned, `-` no longer planned, `~` the
    same object and action with other values."""

    def keyed(operations: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
        return {(op["resource"], op["action"], op["target"]): op for op in operations}

    before, after = keyed(saved), keyed(fresh)
    lines = [
        f"{'~' if key in before and key in after else '-' if key in before else '+'} "
        f"{key[0]} {key[1]} {key[2]}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]
    if len(lines) > MOST_NAMED:
        lines = [*lines[:MOST_NAMED], f"and {len(lines) - MOST_NAMED} more"]
    return lines or ["the order of the same operations"]


def _short(digest: str | None) -> str:
    return "(none recorded)" if not digest else digest.removeprefix("sha256:")[:12]
