"""Identity Store behaviour moto 5.2 lacks or gets wrong: UpdateUser and UpdateGroup, the
enterprise extension (Create/Update/Describe/ListUsers `Extensions`; moto drops it),
ConflictException on a duplicate membership, ResourceNotFoundException on deleting what does
not exist, memberships removed with their user or group, identity store ids validated.

moto scans every user on CreateUser and GetUserId, and every membership on each membership
listing page: quadratic at 50,000 users. The stores' dicts are swapped for indexed ones and
those calls answered from the indexes."""

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.identitystore.models import Name, User, identitystore_backends
from moto.moto_api._internal import mock_random

from sync.local.aws_errors import AwsError, JsonBody
from sync.model import CORE_USER_ATTRIBUTES, ENTERPRISE_EXTENSION, ENTERPRISE_USER_ATTRIBUTES

NAME_PATHS = {"name.givenName": "GivenName", "name.familyName": "FamilyName"}
USER_ATTRIBUTE_PATHS = {"userName", "displayName", "emails", *NAME_PATHS}
GROUP_ATTRIBUTE_PATHS = {"displayName", "description"}
ENTERPRISE_PATHS = {
    f"{ENTERPRISE_EXTENSION}.{name}" + (".value" if name == "manager" else ""): name
    for name in ENTERPRISE_USER_ATTRIBUTES
}
UNIQUE = "UNIQUENESS_CONSTRAINT_VIOLATION"
# CreateUser's optional fields, in the order of moto's User after DisplayName.
USER_OPTIONAL_FIELDS = (
    "NickName",
    "ProfileUrl",
    "Emails",
    "Addresses",
    "PhoneNumbers",
    "UserType",
    "Title",
    "PreferredLanguage",
    "Locale",
    "Timezone",
)


class IndexedUsers(dict[str, Any]):
    """UserId -> User, indexed by UserName."""

    def __init__(self, users: dict[str, Any]) -> None:
        super().__init__()
        self.by_name: dict[str, str] = {}
        for user_id, user in users.items():
            self[user_id] = user

    def __setitem__(self, user_id: str, user: Any) -> None:
        if user_id in self:
            self.by_name.pop(self[user_id].UserName, None)
        super().__setitem__(user_id, user)
        self.by_name[user.UserName] = user_id

    def __delitem__(self, user_id: str) -> None:
        self.by_name.pop(self[user_id].UserName, None)
        super().__delitem__(user_id)


class IndexedMemberships(dict[str, Any]):
    """MembershipId -> membership, indexed by group, by user and by (group, user)."""

    def __init__(self, memberships: dict[str, Any]) -> None:
        super().__init__()
        self.by_group: dict[str, dict[str, None]] = {}
        self.by_user: dict[str, dict[str, None]] = {}
        self.pairs: set[tuple[str, str]] = set()
        for membership_id, membership in memberships.items():
            self[membership_id] = membership

    def __setitem__(self, membership_id: str, membership: Any) -> None:
        if membership_id in self:
            del self[membership_id]
        super().__setitem__(membership_id, membership)
        group_id, user_id = _pair(membership)
        self.by_group.setdefault(group_id, {})[membership_id] = None
        self.by_user.setdefault(user_id, {})[membership_id] = None
        self.pairs.add((group_id, user_id))

    def __delitem__(self, membership_id: str) -> None:
        group_id, user_id = _pair(self[membership_id])
        super().__delitem__(membership_id)
        self.by_group[group_id].pop(membership_id, None)
        self.by_user[user_id].pop(membership_id, None)
        self.pairs.discard((group_id, user_id))


class IdentityStoreFixes:
    def __init__(self) -> None:
        self._fixes: dict[str, Callable[[Any, JsonBody], JsonBody | None]] = {
            "CreateUser": self._create_user,
            "GetUserId": self._get_user_id,
            "UpdateUser": self._update_user,
            "UpdateGroup": self._update_group,
            "CreateGroupMembership": self._create_group_membership,
            "DeleteGroupMembership": self._delete_group_membership,
            "ListUsers": self._list_users,
            "DescribeUser": self._describe_user,
            "ListGroupMemberships": self._list_group_memberships,
            "ListGroupMembershipsForMember": self._list_group_memberships_for_member,
            "DeleteUser": self._delete_user,
            "DeleteGroup": self._delete_group,
        }

    def handle(self, operation: str, body: JsonBody, region: str) -> JsonBody | None:
        """AWS's answer where moto's is wrong; None to let moto answer."""
        store = _store(body, region)
        fix = self._fixes.get(operation)
        return fix(store, body) if fix else None

    def _create_user(self, store: Any, body: JsonBody) -> JsonBody:
        name = body.get("Name") or {}
        missing = [
            label
            for label, value in (
                ("userName", body.get("UserName")),
                ("displayname", body.get("DisplayName")),
                ("givenname", name.get("GivenName")),
                ("familyname", name.get("FamilyName")),
            )
            if not value
        ]
        if missing:
            raise AwsError("ValidationException", f"required attributes missing: {missing}")
        for value in (body.get("DisplayName"), name.get("GivenName"), name.get("FamilyName")):
            _check_name(value)
        if body["UserName"] in store.users.by_name:
            raise AwsError("ConflictException", "Duplicate UserName", UNIQUE)
        user = User(
            str(mock_random.uuid4()),
            body["IdentityStoreId"],
            body["UserName"],
            Name.from_dict(name),
            body["DisplayName"],
            *(body.get(key) for key in USER_OPTIONAL_FIELDS),
        )
        extensions = body.get("Extensions") or {}
        unknown = set(extensions) - {ENTERPRISE_EXTENSION}
        if unknown:
            raise AwsError("ValidationException", f"Unsupported extensions {sorted(unknown)}")
        store.users[user.UserId] = user
        if extensions:
            store.user_extensions[user.UserId] = dict(extensions[ENTERPRISE_EXTENSION])
        return {"UserId": user.UserId, "IdentityStoreId": user.IdentityStoreId}

    def _get_user_id(self, store: Any, body: JsonBody) -> JsonBody | None:
        unique = (body.get("AlternateIdentifier") or {}).get("UniqueAttribute") or {}
        if str(unique.get("AttributePath", "")).lower() != "username":
            return None  # moto answers the other identifiers
        user_id = store.users.by_name.get(unique.get("AttributeValue"))
        if user_id is None:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        return {"UserId": user_id, "IdentityStoreId": body["IdentityStoreId"]}

    def _update_user(self, store: Any, body: JsonBody) -> JsonBody:
        user = store.users.get(body.get("UserId"))
        if user is None:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        operations = body.get("Operations") or []
        if not 1 <= len(operations) <= 100:
            raise AwsError("ValidationException", "Operations must have 1 to 100 items")
        changed = user._asdict()
        name = user.Name._asdict() if user.Name else dict.fromkeys(Name._fields)
        enterprise = dict(store.user_extensions.get(user.UserId, {}))
        for operation in operations:
            path, value = operation.get("AttributePath"), operation.get("AttributeValue")
            if path in CORE_USER_ATTRIBUTES:
                changed[CORE_USER_ATTRIBUTES[path]] = value  # no AttributeValue: removed
                continue
            if path in ENTERPRISE_PATHS:
                attribute = ENTERPRISE_PATHS[path]
                if value is None:
                    enterprise.pop(attribute, None)
                else:
                    enterprise[attribute] = {"value": value} if attribute == "manager" else value
                continue
            if path not in USER_ATTRIBUTE_PATHS:
                raise AwsError("ValidationException", f"Unsupported AttributePath {path!r}")
            if path == "userName":
                if store.users.by_name.get(value, user.UserId) != user.UserId:
                    raise AwsError("ConflictException", "Duplicate UserName", UNIQUE)
                changed["UserName"] = value
            elif path == "displayName":
                _check_name(value)
                changed["DisplayName"] = value
            elif path in NAME_PATHS:
                _check_name(value)
                name[NAME_PATHS[path]] = value
            else:
                changed["Emails"] = [{k[0].upper() + k[1:]: v for k, v in e.items()} for e in value]
        changed["Name"] = Name(**name)
        store.users[user.UserId] = type(user)(**changed)
        store.user_extensions[user.UserId] = enterprise
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
        if pair in store.group_memberships.pairs:
            raise AwsError("ConflictException", "Member is already in the group", UNIQUE)
        return None

    def _list_users(self, store: Any, body: JsonBody) -> JsonBody | None:
        if body.get("Filters"):
            return None  # moto answers filtered listings
        asked = _extensions_asked(body)
        return _page(
            list(store.users.values()),
            body,
            "Users",
            lambda user: _user_resource(user, store.user_extensions, asked),
        )

    def _describe_user(self, store: Any, body: JsonBody) -> JsonBody:
        user = store.users.get(body.get("UserId"))
        if user is None:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        return _user_resource(user, store.user_extensions, _extensions_asked(body))

    def _list_group_memberships(self, store: Any, body: JsonBody) -> JsonBody:
        index = store.group_memberships.by_group.get(body.get("GroupId"), {})
        return _page(list(index), body, "GroupMemberships", store.group_memberships.get)

    def _list_group_memberships_for_member(self, store: Any, body: JsonBody) -> JsonBody:
        user_id = (body.get("MemberId") or {}).get("UserId")
        index = store.group_memberships.by_user.get(user_id, {})
        return _page(list(index), body, "GroupMemberships", store.group_memberships.get)

    def _delete_group_membership(self, store: Any, body: JsonBody) -> None:
        if body.get("MembershipId") not in store.group_memberships:
            raise AwsError("ResourceNotFoundException", "GROUP_MEMBERSHIP not found.")
        return None

    def _delete_user(self, store: Any, body: JsonBody) -> None:
        user_id = body.get("UserId")
        if user_id not in store.users:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        _drop_memberships(store, store.group_memberships.by_user.get(user_id, {}))
        store.user_extensions.pop(user_id, None)
        return None

    def _delete_group(self, store: Any, body: JsonBody) -> None:
        group_id = body.get("GroupId")
        if group_id not in store.groups:
            raise AwsError("ResourceNotFoundException", "GROUP not found.")
        _drop_memberships(store, store.group_memberships.by_group.get(group_id, {}))
        return None


def _store(body: JsonBody, region: str) -> Any:
    backend = identitystore_backends[DEFAULT_ACCOUNT_ID][region]
    store_id = body.get("IdentityStoreId", "")
    if not re.fullmatch(r"d-[0-9a-z]{10}", store_id):  # moto's own ids are not hex
        raise AwsError("ValidationException", f"Invalid IdentityStoreId {store_id!r}")
    store = backend._IdentityStoreBackend__get_identity_store(store_id)
    if not isinstance(store.users, IndexedUsers):
        store.users = IndexedUsers(store.users)
        store.group_memberships = IndexedMemberships(store.group_memberships)
        store.user_extensions = {}
    return store


def _page(items: list[Any], body: JsonBody, key: str, render: Callable[[Any], Any]) -> JsonBody:
    """One page of a listing, rendering only that page (moto renders every item each time)."""
    size = int(body.get("MaxResults") or 100)
    if not 1 <= size <= 100:
        raise AwsError("ValidationException", "MaxResults must be 1 to 100")
    start = int(body.get("NextToken") or 0)
    page: JsonBody = {key: [render(item) for item in items[start : start + size]]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


def _user_resource(
    user: Any, extensions: dict[str, Any] | None = None, asked: bool = False
) -> JsonBody:
    """The user as DescribeUser and ListUsers answer it: its extension only when asked for
    (`Extensions`: botocore model; AWS omits attributes that have no value)."""
    resource = {key: value for key, value in user._asdict().items() if value is not None}
    resource["Name"] = user.Name._asdict() if user.Name else None
    enterprise = (extensions or {}).get(user.UserId)
    if asked and enterprise:
        resource["Extensions"] = {ENTERPRISE_EXTENSION: enterprise}
    return resource


def _extensions_asked(body: JsonBody) -> bool:
    asked = body.get("Extensions") or []
    if set(asked) - {ENTERPRISE_EXTENSION}:
        raise AwsError("ValidationException", f"Unsupported extensions {asked}")
    return bool(asked)


def _pair(membership: Any) -> tuple[str, str]:
    return membership["GroupId"], membership["MemberId"]["UserId"]


def _drop_memberships(store: Any, membership_ids: dict[str, None]) -> None:
    for membership_id in list(membership_ids):
        del store.group_memberships[membership_id]


def _check_name(value: str) -> None:
    """botocore's identitystore model: SensitiveStringType, 1 to 1,024 characters of Unicode
    letters, marks, symbols, numbers, punctuation, tab, newlines and three spaces."""
    allowed = all(
        unicodedata.category(character)[0] in "LMSNP" or character in "\t\n\r \u00a0\u3000"
        for character in value
    )
    if not allowed or not 1 <= len(value) <= 1024:
        raise AwsError("ValidationException", "1 validation error detected: a name")
