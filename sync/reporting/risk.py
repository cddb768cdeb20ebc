"""What the access report flags: administrator-level permission sets and sensitive accounts."""

import json
from typing import Any

from sync.model import Account, PermissionSetAttributes
from sync.rules.access import PermissionSetSpec

ADMINISTRATOR_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
SENSITIVE_VALUES = ("sensitive", "restricted", "confidential")


def administrator_reason(
    spec: PermissionSetSpec | PermissionSetAttributes | None,
) -> str | None:
    """Why a permission set gives administrator-level access, or None. A permission set sso-sync
    does not manage (spec None) is not judged: its policies are not read."""
    if spec is None:
        return None
    if isinstance(spec, PermissionSetSpec):
        managed, inline = spec.managed_policies, spec.inline_policy
    else:
        managed, inline = sorted(spec.managed_policy_arns), spec.inline_policy
    if ADMINISTRATOR_POLICY in managed:
        return "AWS managed policy AdministratorAccess"
    if inline and _allows_everything(json.loads(inline)):
        return "inline policy allows every action (*) on every resource"
    return None


def _allows_everything(document: Any) -> bool:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    return any(
        isinstance(statement, dict)
        and statement.get("Effect") == "Allow"
        and "Condition" not in statement
        and {"*", "*:*"} & set(_as_list(statement.get("Action")))
        and "*" in _as_list(statement.get("Resource"))
        for statement in statements
    )


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value or [] if isinstance(item, str)]


def is_sensitive(account: Account) -> bool:
    """An account holding sensitive data: a tag value sensitive, restricted or confidential,
    or "sensitive" in its name or OU path."""
    return (
        any(value.strip().lower() in SENSITIVE_VALUES for value in account.tags.values())
        or "sensitive" in account.name.lower()
        or "sensitive" in account.ou_path.lower()
    )
