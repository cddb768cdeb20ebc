"""The Directory API user fields the rules' attributes read, from a user resource.

Directory API `users` resource: `organizations` (a list; the one marked `primary`), `externalIds`
(`type`, or `customType` when the type is `custom`), `relations` (`type` manager: the manager's
email), and `customSchemas` (schema -> field -> value, or a list of `{value}` for multi-valued
fields), which `users.list` returns only with `projection=custom` and a `customFieldMask`
naming the schemas (or `projection=full`).
"""

from collections.abc import Sequence
from typing import Any


def read_fields(raw: dict[str, Any], paths: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(path, value) of each of `paths` the user has a non-empty value for."""
    found = []
    for path in paths:
        value = _value(raw, path.split("."))
        if value not in (None, ""):
            found.append((path, str(value)))
    return tuple(found)


def custom_schema_read(paths: Sequence[str]) -> dict[str, str]:
    """The `users.list`/`users.get` parameters that return the custom schemas `paths` read."""
    schemas = sorted({path.split(".")[1] for path in paths if path.startswith("customSchemas.")})
    return {"projection": "custom", "customFieldMask": ",".join(schemas)} if schemas else {}


def _value(raw: dict[str, Any], parts: list[str]) -> Any:
    match parts:
        case ["primaryEmail"]:
            return raw.get("primaryEmail")
        case ["name", field]:
            return (raw.get("name") or {}).get(field)
        case ["organizations", "primary", field]:
            organizations = raw.get("organizations") or []
            primary = next((o for o in organizations if o.get("primary")), None)
            return (primary or (organizations[0] if organizations else {})).get(field)
        case ["externalIds", kind]:
            return _typed(raw.get("externalIds") or [], kind)
        case ["relations", "manager"]:
            return _typed(raw.get("relations") or [], "manager")
        case ["customSchemas", schema, field]:
            value = ((raw.get("customSchemas") or {}).get(schema) or {}).get(field)
            if isinstance(value, list):
                return value[0].get("value") if value and isinstance(value[0], dict) else None
            return value
    return None


def _typed(entries: list[dict[str, Any]], kind: str) -> Any:
    for entry in entries:
        if entry.get("type") == kind or (
            entry.get("type") == "custom" and entry.get("customType") == kind
        ):
            return entry.get("value")
    return None
