"""Identity Store behaviour moto 5.2 lacks or gets wrong: UpdateUser and UpdateGroup,
ConflictException on a duplicate membership, ResourceNotFoundException on deleting what does
not exist, memberships removed with their user or group, identity store ids validated."""

import re
import weakref
from collections.abc import Callable
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.identitystore.models import Name, identitystore_backends

from sync.local.aws_errors import AwsError, JsonBody

NAME_PATHS = {"name.givenName": "GivenName", "name.familyName": "FamilyName"}
USER_ATTRIBUTE_PATHS = {"userName", "displayName", "emails", *NAME_PATHS}
GROUP_ATTRIBUTE_PATHS = {"displayName", "description"}
UNIQUE = "UNIQUENESS_CONSTRAINT_VIOLATION"


class IdentityStoreFixes:
    def __init__(self) -> None:
        self._pairs: weakref.WeakKeyDictionary[Any, tuple[int, set]] = weakref.WeakKeyDictionary()
        self._fixes: dict[str, Callable[[Any, JsonBody], JsonBody | None]] = {
            "UpdateUser": self._update_user,
            "UpdateGroup": self._update_group,
            "CreateGroupMembership": self._create_group_membership,
            "DeleteGroupMembership": self._delete_group_membership,
            "DeleteUser": self._delete_user,
            "DeleteGroup": self._delete_group,
        }

    def handle(self, operation: str, body: JsonBody, region: str) -> JsonBody | None:
        """AWS's answer where moto's is wrong; None to let moto answer."""
        store = _store(body, region)
        fix = self._fixes.get(operation)
        return fix(store, body) if fix else None

    def _update_user(self, store: Any, body: JsonBody) -> JsonBody:
        user = store.users.get(body.get("UserId"))
        if user is None:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        operations = body.get("Operations") or []
        if not 1 <= len(operations) <= 100:
            raise AwsError("ValidationException", "Operations must have 1 to 100 items")
        changed = user._asdict()
        name = user.Name._asdict() if user.Name else dict.fromkeys(Name._fields)
        for operation in operations:
            path, value = operation.get("AttributePath"), operation.get("AttributeValue")
            if path not in USER_ATTRIBUTE_PATHS:
                raise AwsError("ValidationException", f"Unsupported AttributePath {path!r}")
            if path == "userName":
                if any(u.UserName == value for u in store.users.values() if u is not user):
                    raise AwsError("ConflictException", "Duplicate UserName", UNIQUE)
                changed["UserName"] = value
            elif path == "displayName":
                changed["DisplayName"] = value
            elif path in NAME_PATHS:
                name[NAME_PATHS[path]] = value
            else:
                changed["Emails"] = [{k[0].upper() + k[1:]: v for k, v in e.items()} for e in value]
        changed["Name"] = Name(**name)
        store.users[user.UserId] = type(user)(**changed)
        return {}

    def _update_group(self, store: Any, body: JsonBody) -> JsonBody:
        group = store.groups.get(body.get("GroupId"))
        if group is None:
            raise AwsError("ResourceNotFoundException", "GROUP not found.")
        changes: dict[str, Any] = {}
        for operation in body.get("Operations") or []:
            path, value = operation.get("AttributePath"), operation.get("AttributeValue")
            if path not in GROUP_ATTRIBUTE_PATHS:
                raise AwsError("ValidationException", f"Unsupported AttributePath {path!r}")
            if path == "displayName":
                if any(g.DisplayName == value for g in store.groups.values() if g is not group):
                    raise AwsError("ConflictException", "Duplicate GroupDisplayName", UNIQUE)
                changes["DisplayName"] = value
            else:
                changes["Description"] = value
        store.groups[group.GroupId] = group._replace(**changes)
        return {}

    def _create_group_membership(self, store: Any, body: JsonBody) -> None:
        pair = (body.get("GroupId"), (body.get("MemberId") or {}).get("UserId"))
        size, pairs = self._membership_pairs(store)
        if pair in pairs:
            raise AwsError("ConflictException", "Member is already in the group", UNIQUE)
        # moto adds it next; if it refuses, the size no longer matches and the index is rebuilt.
        pairs.add(pair)
        self._pairs[store] = (size + 1, pairs)
        return None

    def _membership_pairs(self, store: Any) -> tuple[int, set]:
        """(group, user) pairs of the store, indexed: a scan per call is quadratic at 10k users.
        Rebuilt whenever the store's size says another call changed it."""
        cached = self._pairs.get(store)
        if cached is None or cached[0] != len(store.group_memberships):
            pairs = {
                (m["GroupId"], m["MemberId"]["UserId"]) for m in store.group_memberships.values()
            }
            cached = (len(store.group_memberships), pairs)
            self._pairs[store] = cached
        return cached

    def _delete_group_membership(self, store: Any, body: JsonBody) -> None:
        if body.get("MembershipId") not in store.group_memberships:
            raise AwsError("ResourceNotFoundException", "GROUP_MEMBERSHIP not found.")
        return None

    def _delete_user(self, store: Any, body: JsonBody) -> None:
        user_id = body.get("UserId")
        if user_id not in store.users:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        _drop_memberships(store, lambda m: m["MemberId"]["UserId"] == user_id)
        return None

    def _delete_group(self, store: Any, body: JsonBody) -> None:
        group_id = body.get("GroupId")
        if group_id not in store.groups:
            raise AwsError("ResourceNotFoundException", "GROUP not found.")
        _drop_memberships(store, lambda m: m["GroupId"] == group_id)
        return None


def _store(body: JsonBody, region: str) -> Any:
    backend = identitystore_backends[DEFAULT_ACCOUNT_ID][region]
    store_id = body.get("IdentityStoreId", "")
    if not re.fullmatch(r"d-[0-9a-z]{10}", store_id):  # moto's own ids are not hex
        raise AwsError("ValidationException", f"Invalid IdentityStoreId {store_id!r}")
    return backend._IdentityStoreBackend__get_identity_store(store_id)


def _drop_memberships(store: Any, matches: Any) -> None:
    for membership_id in [k for k, m in store.group_memberships.items() if matches(m)]:
        del store.group_memberships[membership_id]
