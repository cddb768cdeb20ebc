"""What a plan was made from, as digests. A saved plan records them: an auditor can tell which
rules, directory and Identity Center a reviewed plan came from, and apply can tell that the
rules changed since the review."""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sync.model import AccessSnapshot, GoogleSnapshot, IdentityCenterSnapshot
from sync.planning.plan import plain
from sync.rules.model import Rules


def rules_digest(rules: Rules) -> str:
    """Of the rules as validated: their meaning, policy files included (comments and layout
    are not)."""
    return _digest([rules.model_dump(mode="json")])


def google_digest(google: GoogleSnapshot) -> str:
    users = (google.users[key] for key in sorted(google.users))
    return _digest([*users, *sorted(google.groups, key=lambda group: group.id)])


def identity_center_digest(idc: IdentityCenterSnapshot, access: AccessSnapshot | None) -> str:
    parts: list[Any] = [
        *sorted(idc.users, key=lambda user: user.user_id),
        *sorted(idc.groups, key=lambda group: group.group_id),
        *sorted(idc.memberships, key=lambda membership: membership.membership_id),
    ]
    if access is not None:
        parts += sorted(access.permission_sets, key=lambda permission_set: permission_set.arn)
        parts += sorted(plain(access.assignments), key=json.dumps)
    return _digest(parts)


def _digest(items: Iterable[Any]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps(plain(item), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"
