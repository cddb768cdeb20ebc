"""Reads and writes the IAM Identity Center identity store (users, groups, memberships).

Each write is idempotent, so that a run interrupted anywhere is repaired by the next one:
creating what already exists returns the existing id, deleting what is gone counts as done.
"""

import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.paging import all_pages
from sync.aws.rate_limit import CallMeter
from sync.aws.retry import (
    RequestFailed,
    already_present,
    aws_error_text,
    error_code,
    is_transient,
)
from sync.errors import ConfigError, ReadError
from sync.model import (
    CORE_USER_ATTRIBUTES,
    ENTERPRISE_EXTENSION,
    ENTERPRISE_USER_ATTRIBUTES,
    GroupAttributes,
    IdcGroup,
    IdcMembership,
    IdcUser,
    IdentityCenterSnapshot,
    UserAttributes,
)

PAGE_SIZE = 100  # AWS rejects more on every List call of the identity store


def boto_config(concurrency: int) -> Config:
    """No botocore retries (ours count attempts and pass the rate limiter), enough connections."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=concurrency + 4,
        connect_timeout=10,
        read_timeout=60,
    )


def discover_instance(sso_admin: Any, instance_arn: str | None = None) -> tuple[str, str]:
    """(InstanceArn, IdentityStoreId) of the account's Identity Center instance, or of the one
    with the given ARN."""
    try:
        instances = sso_admin.list_instances()["Instances"]
    except (ClientError, BotoCoreError) as error:
        detail = aws_error_text(error)
        raise ReadError(f"sso-admin ListInstances failed: {detail}") from error
    if instance_arn is not None:
        instances = [i for i in instances if i["InstanceArn"] == instance_arn]
        if not instances:
            raise ConfigError(f"no Identity Center instance {instance_arn} in this account")
    if len(instances) != 1:
        raise ConfigError(
            f"found {len(instances)} Identity Center instances; set SSO_SYNC_INSTANCE_ARN or "
            "SSO_SYNC_IDENTITY_STORE_ID"
        )
    return instances[0]["InstanceArn"], instances[0]["IdentityStoreId"]


class IdentityStore:
    """One identity store, every call passing through the given retry policy."""

    def __init__(
        self, client: Any, store_id: str, retrying: Retrying, concurrency: int = 1
    ) -> None:
        self._client = client
        self._store_id = store_id
        self._retrying = retrying
        self._concurrency = concurrency
        self._extensions: dict[str, Any] = {}
        """Extensions=[...] for user reads: the enterprise extension when it is mapped."""

    def read_enterprise_extension(self) -> None:
        """Users are read with their enterprise extension (in the same listing: no
        DescribeUser per person)."""
        self._extensions = {"Extensions": [ENTERPRISE_EXTENSION]}

    @classmethod
    def connect(
        cls, store_id: str, meter: CallMeter, retrying: Retrying, concurrency: int
    ) -> "IdentityStore":
        client = boto3.client("identitystore", config=boto_config(concurrency))
        meter.attach(client)
        return cls(client, store_id, retrying, concurrency)

    # --- reading ------------------------------------------------------------------------

    def read(self, memberships_of: Callable[[IdcGroup], bool]) -> IdentityCenterSnapshot:
        """All users and groups, and the memberships of the groups `memberships_of` selects."""
        users, groups = self.read_principals()
        return IdentityCenterSnapshot(
            users, groups, self.read_memberships([g for g in groups if memberships_of(g)])
        )

    def read_principals(self) -> tuple[tuple[IdcUser, ...], tuple[IdcGroup, ...]]:
        """All users and all groups."""
        with self._reading():
            users = tuple(self._list("list_users", "Users", _user, **self._extensions))
            groups = tuple(self._list("list_groups", "Groups", _group))
        return users, groups

    def read_memberships(self, groups: list[IdcGroup]) -> tuple[IdcMembership, ...]:
        """The memberships of these groups: one listing per group, many small calls, so they
        run side by side under the shared rate limit."""
        with self._reading() as pool:
            listings = pool.map(self._memberships, groups)
            return tuple(m for listing in listings for m in listing)

    def read_groups(
        self, group_ids: set[str], display_names: set[str]
    ) -> tuple[tuple[IdcGroup, ...], tuple[IdcMembership, ...]]:
        """The groups with these ids or names (those that exist) and all their memberships:
        a delta run's slice."""
        with self._reading() as pool:
            groups = _found(pool.map(self._describe_group, group_ids))
            unseen = display_names - {group.attributes.name for group in groups}
            more = _found(pool.map(self.group_id_named, unseen)) - group_ids
            groups = tuple(groups | _found(pool.map(self._describe_group, more)))
            listings = pool.map(self._memberships, groups)
            return groups, tuple(m for listing in listings for m in listing)

    def read_users(self, user_ids: set[str], user_names: set[str]) -> tuple[IdcUser, ...]:
        """The users with these ids or names, those that exist."""
        with self._reading() as pool:
            users = _found(pool.map(self._describe_user, user_ids))
            unseen = user_names - {user.attributes.name for user in users}
            more = _found(pool.map(self.user_id_named, unseen)) - user_ids
            return tuple(users | _found(pool.map(self._describe_user, more)))

    def groups_of(self, user_ids: set[str]) -> dict[str, set[str]]:
        """UserId -> the GroupIds of every group the user is a member of."""
        with self._reading() as pool:
            listings = pool.map(
                lambda user_id: self._list(
                    "list_group_memberships_for_member",
                    "GroupMemberships",
                    MemberId={"UserId": user_id},
                ),
                sorted(user_ids),
            )
            return {
                user_id: {raw["GroupId"] for raw in listing}
                for user_id, listing in zip(sorted(user_ids), listings, strict=True)
            }

    @contextmanager
    def _reading(self) -> Iterator[ThreadPoolExecutor]:
        try:
            with ThreadPoolExecutor(self._concurrency, thread_name_prefix="read") as pool:
                yield pool
        except (ClientError, BotoCoreError) as error:
            raise ReadError(
                f"reading the identity store failed: {aws_error_text(error)}"
            ) from error

    def user_id_named(self, user_name: str) -> str | None:
        return self._unless_missing(lambda: self._user_id(user_name))

    def group_id_named(self, display_name: str) -> str | None:
        return self._unless_missing(lambda: self._group_id(display_name))

    def _user_id(self, user_name: str) -> str:
        return self._id_by("get_user_id", "UserId", "userName", user_name)

    def _group_id(self, display_name: str) -> str:
        return self._id_by("get_group_id", "GroupId", "displayName", display_name)

    def _id_by(self, operation: str, key: str, path: str, value: str) -> str:
        """One attempt at GetUserId or GetGroupId by a unique attribute."""
        identifier = {"UniqueAttribute": {"AttributePath": path, "AttributeValue": value}}
        return getattr(self._client, operation)(
            IdentityStoreId=self._store_id, AlternateIdentifier=identifier
        )[key]

    def principal_exists(self, principal_type: str, principal_id: str) -> bool:
        """One attempt at DescribeUser or DescribeGroup: whether it exists now."""
        describe = self._describe_group if principal_type == "GROUP" else self._describe_user
        return describe(principal_id) is not None

    def _describe_user(self, user_id: str) -> IdcUser | None:
        return self._unless_missing(
            lambda: _user(
                self._client.describe_user(
                    IdentityStoreId=self._store_id, UserId=user_id, **self._extensions
                )
            )
        )

    def _describe_group(self, group_id: str) -> IdcGroup | None:
        return self._unless_missing(
            lambda: _group(
                self._client.describe_group(IdentityStoreId=self._store_id, GroupId=group_id)
            )
        )

    def _unless_missing(self, call: Callable[[], Any]) -> Any:
        try:
            return self._retrying(call)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise

    def _memberships(self, group: IdcGroup) -> list[IdcMembership]:
        """The group's memberships of users (the only members the sync manages)."""
        listing = self._list(
            "list_group_memberships",
            "GroupMemberships",
            lambda raw: _membership(group.group_id, raw),
            GroupId=group.group_id,
        )
        return [membership for membership in listing if membership is not None]

    def _list(
        self,
        operation: str,
        key: str,
        convert: Callable[[dict], Any] | None = None,
        **params: Any,
    ) -> list:
        call = getattr(self._client, operation)
        return all_pages(
            call,
            key,
            self._retrying,
            convert,
            IdentityStoreId=self._store_id,
            MaxResults=PAGE_SIZE,
            **params,
        )

    # --- writing: each method is one attempt; the executor retries -----------------------

    def create_user(self, attributes: UserAttributes) -> str:
        try:
            return self._client.create_user(
                IdentityStoreId=self._store_id,
                UserName=attributes.user_name,
                DisplayName=attributes.display_name,
                Name={
                    "GivenName": attributes.given_name,
                    "FamilyName": attributes.family_name,
                },
                Emails=[{"Value": attributes.email, "Type": "work", "Primary": True}],
                **_mapped_attributes(attributes),
            )["UserId"]
        except ClientError as error:
            if not already_present(error):
                raise
            # Created by an interrupted run whose record was lost: it is ours. Without a user
            # of this name, another unique attribute (its email address) is someone else's.
            try:
                return self._user_id(attributes.user_name)
            except ClientError as lookup:
                if error_code(lookup) != "ResourceNotFoundException":
                    raise
            raise RequestFailed(
                f"Identity Center refused user {attributes.user_name}: another user, not "
                f"sso-sync's, already has one of its unique attributes, such as the email "
                f"address {attributes.email} ({error.response['Error'].get('Message', '')}). "
                "Rename or remove that user in Identity Center, or protect it in the rules"
            ) from error

    def update_user(self, user_id: str, changes: dict[str, Any]) -> None:
        """The other attributes first, then a new userName on its own: if AWS refuses the
        rename, the rest still lands, and the refusal is reported, not retried."""
        others = {path: value for path, value in changes.items() if path != "userName"}
        if others:
            self._update_user(user_id, others)
        if "userName" not in changes:
            return
        try:
            self._update_user(user_id, {"userName": changes["userName"]})
        except ClientError as error:
            if is_transient(error):
                raise
            raise RequestFailed(
                f"Identity Center refused the new user name {changes['userName']} "
                f"({error_code(error)}: {error.response['Error'].get('Message', '')}); until "
                "it is resolved the person cannot sign in with the new address"
            ) from error

    def _update_user(self, user_id: str, changes: dict[str, Any]) -> None:
        self._client.update_user(
            IdentityStoreId=self._store_id,
            UserId=user_id,
            Operations=[_operation(path, value) for path, value in changes.items()],
        )

    def delete_user(self, user_id: str) -> None:
        self._ignore_missing(self._client.delete_user, UserId=user_id)

    def create_group(self, attributes: GroupAttributes) -> str:
        try:
            return self._client.create_group(
                IdentityStoreId=self._store_id,
                DisplayName=attributes.display_name,
                Description=attributes.description,
            )["GroupId"]
        except ClientError as error:
            if not already_present(error):
                raise
            return self._group_id(attributes.display_name)

    def update_group(self, group_id: str, changes: dict[str, Any]) -> None:
        self._client.update_group(
            IdentityStoreId=self._store_id,
            GroupId=group_id,
            Operations=[_operation(path, value) for path, value in changes.items()],
        )

    def delete_group(self, group_id: str) -> None:
        self._ignore_missing(self._client.delete_group, GroupId=group_id)

    def add_member(self, group_id: str, user_id: str) -> None:
        try:
            self._client.create_group_membership(
                IdentityStoreId=self._store_id, GroupId=group_id, MemberId={"UserId": user_id}
            )
        except ClientError as error:
            if not already_present(error):
                raise  # CONCURRENT_MODIFICATION: the membership was not made; retried

    def remove_membership(self, membership_id: str) -> None:
        self._ignore_missing(self._client.delete_group_membership, MembershipId=membership_id)

    def _ignore_missing(self, call: Callable[..., Any], **params: Any) -> None:
        try:
            call(IdentityStoreId=self._store_id, **params)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise


def _membership(group_id: str, raw: dict) -> IdcMembership | None:
    user_id = raw.get("MemberId", {}).get("UserId")
    if user_id is None:
        return None
    # Interned: a user id recurs in every membership of that user.
    return IdcMembership(raw["MembershipId"], group_id, sys.intern(user_id))


def _found(results: Iterable[Any]) -> set[Any]:
    return {result for result in results if result is not None}


def _user(raw: dict) -> IdcUser:
    name = raw.get("Name") or {}
    emails = raw.get("Emails") or []
    primary = next((e for e in emails if e.get("Primary")), emails[0] if emails else {})
    return IdcUser(
        sys.intern(raw["UserId"]),
        UserAttributes(
            user_name=raw.get("UserName", ""),
            display_name=raw.get("DisplayName", ""),
            given_name=name.get("GivenName", ""),
            family_name=name.get("FamilyName", ""),
            email=primary.get("Value", ""),
            extra=_extra(raw),
        ),
    )


def _extra(raw: dict) -> tuple[tuple[str, str | None], ...]:
    """The single-valued attributes and the enterprise extension's, as the rules map them."""
    found = [(path, raw[key]) for path, key in CORE_USER_ATTRIBUTES.items() if raw.get(key)]
    enterprise = (raw.get("Extensions") or {}).get(ENTERPRISE_EXTENSION) or {}
    for name in ENTERPRISE_USER_ATTRIBUTES:
        value = enterprise.get(name)
        if isinstance(value, dict):  # the manager: {"value": UserId}
            value = value.get("value")
        if value:
            found.append((f"enterprise.{name}", str(value)))
    return tuple(sorted(found))


def _mapped_attributes(attributes: UserAttributes) -> dict[str, Any]:
    """CreateUser's arguments for the mapped attributes that have a value."""
    arguments: dict[str, Any] = {}
    enterprise: dict[str, Any] = {}
    for path, value in attributes.extra:
        if value is None:
            continue
        if path.startswith("enterprise."):
            name = path.removeprefix("enterprise.")
            enterprise[name] = {"value": value} if name == "manager" else value
        else:
            arguments[CORE_USER_ATTRIBUTES[path]] = value
    if enterprise:
        arguments["Extensions"] = {ENTERPRISE_EXTENSION: enterprise}
    return arguments


def _operation(path: str, value: Any) -> dict[str, Any]:
    """One UpdateUser operation; a value of None removes the attribute (no AttributeValue)."""
    if path.startswith("enterprise."):
        name = path.removeprefix("enterprise.")
        path = f"{ENTERPRISE_EXTENSION}.{name}" + (".value" if name == "manager" else "")
    return (
        {"AttributePath": path}
        if value is None
        else {"AttributePath": path, "AttributeValue": value}
    )


def _group(raw: dict) -> IdcGroup:
    return IdcGroup(
        raw["GroupId"], GroupAttributes(raw.get("DisplayName", ""), raw.get("Description", ""))
    )
