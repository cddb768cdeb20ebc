"""Shared test helpers: a directory builder and a read-only view of the identity store."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.settings import Settings

WRITE_PREFIXES = (
    "Create",
    "Update",
    "Delete",
    "Put",
    "Attach",
    "Detach",
    "Provision",
    "Tag",
    "Untag",
)


def write_key(emulator: GoogleDirectoryEmulator, url: str, path: Path, scopes: Any = None) -> Path:
    path.write_text(json.dumps(emulator.issue_service_account_key(f"{url}/token", scopes)))
    return path


def seed_small_company(google: GoogleDirectoryEmulator) -> None:
    """engineering@ (with nested backend@), data@, and an unrelated marketing@."""
    for group in ("engineering", "backend", "data", "marketing"):
        google.add_group(f"{group}@example.com")
    people = {
        "alice": ["backend"],
        "bob": ["backend", "data"],
        "carol": ["engineering"],
        "dan": ["data"],
        "erin": ["marketing"],
    }
    for name, groups in people.items():
        google.add_user(f"{name}@example.com", name.title(), "Example")
        for group in groups:
            google.add_member(f"{group}@example.com", f"{name}@example.com")
    google.add_member("engineering@example.com", "backend@example.com")


def add_people(google: GoogleDirectoryEmulator, count: int, group: str | None = None) -> list[str]:
    """`count` more directory users (person000@...), members of `group` if one is given."""
    emails = []
    for index in range(count):
        email = f"person{index:03}@example.com"
        google.add_user(email, "Person", str(index))
        if group is not None:
            google.add_member(group, email)
        emails.append(email)
    return emails


def writes(app: ExtendedMotoApp) -> dict[str, int]:
    """Identity Center write calls (Identity Store and SSO Admin) the emulator received."""
    return {op: n for op, n in app.calls.items() if op.startswith(WRITE_PREFIXES)}


def settings_environment(settings: Settings) -> dict[str, str]:
    """The SSO_SYNC_ variables that configure `settings` (a function's environment)."""
    return {
        f"SSO_SYNC_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


@dataclass
class Context:
    """What Lambda passes as the context object: the fields the structured logger reads, and
    the time left, a constant or whatever `seconds_left` says when asked."""

    function_name: str = "sso-sync"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sso-sync"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_seconds: float = 900.0
    seconds_left: Callable[[], float] | None = None

    def get_remaining_time_in_millis(self) -> int:
        seconds = self.seconds_left() if self.seconds_left else self.remaining_seconds
        return int(seconds * 1000)


class ManualClock:
    """A clock that moves only when the test says: an emulator's delays pass on demand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TimeRunsOutAfterWrites:
    """An invocation's time left: plenty until the emulator has answered `count` more
    Identity Center writes than when it was made, then none. A run stops at a point the test
    chooses, whatever the machine's speed."""

    def __init__(self, app: ExtendedMotoApp, count: int) -> None:
        self._app, self._until = app, sum(writes(app).values()) + count

    def __call__(self) -> float:
        return 900.0 if sum(writes(self._app).values()) < self._until else 0.0


@dataclass
class IdentityCenterView:
    client: Any
    store_id: str

    def users(self) -> dict[str, str]:
        """UserName -> UserId."""
        pages = self.client.get_paginator("list_users").paginate(IdentityStoreId=self.store_id)
        return {u["UserName"]: u["UserId"] for page in pages for u in page["Users"]}

    def user(self, user_id: str) -> dict:
        return self.client.describe_user(IdentityStoreId=self.store_id, UserId=user_id)

    def groups(self) -> dict[str, str]:
        """DisplayName -> GroupId."""
        pages = self.client.get_paginator("list_groups").paginate(IdentityStoreId=self.store_id)
        return {g["DisplayName"]: g["GroupId"] for page in pages for g in page["Groups"]}

    def members(self, display_name: str) -> set[str]:
        """UserNames of the members of a group."""
        names = {user_id: name for name, user_id in self.users().items()}
        pages = self.client.get_paginator("list_group_memberships").paginate(
            IdentityStoreId=self.store_id, GroupId=self.groups()[display_name]
        )
        return {names[m["MemberId"]["UserId"]] for page in pages for m in page["GroupMemberships"]}

    def create_user(self, user_name: str) -> str:
        return self.client.create_user(
            IdentityStoreId=self.store_id,
            UserName=user_name,
            DisplayName=user_name,
            Name={"GivenName": "Hand", "FamilyName": "Made"},
            Emails=[{"Value": user_name, "Type": "work", "Primary": True}],
        )["UserId"]

    def create_group(self, display_name: str) -> str:
        return self.client.create_group(
            IdentityStoreId=self.store_id, DisplayName=display_name, Description="by hand"
        )["GroupId"]

    def add_member(self, display_name: str, user_name: str) -> None:
        self.client.create_group_membership(
            IdentityStoreId=self.store_id,
            GroupId=self.groups()[display_name],
            MemberId={"UserId": self.users()[user_name]},
        )


@dataclass(frozen=True)
class PlannedAccount:
    name: str
    email: str
    ou_path: str
    tags: dict[str, str] = field(default_factory=dict)


def build_organization(moto_app: ExtendedMotoApp, accounts: list[PlannedAccount]) -> dict[str, str]:
    """Create the organization, its OUs and accounts; return account ids by name (the
    management account included, as "Management")."""
    client = boto3.client("organizations")
    organization = client.create_organization(FeatureSet="ALL")["Organization"]
    root_id = client.list_roots()["Roots"][0]["Id"]
    units: dict[str, str] = {"/": root_id}
    ids = {"Management": organization["MasterAccountId"]}
    for account in accounts:
        parent = _unit(client, units, account.ou_path)
        account_id = create_account(moto_app, account.email, account.name)
        if parent != root_id:
            client.move_account(
                AccountId=account_id, SourceParentId=root_id, DestinationParentId=parent
            )
        if account.tags:
            client.tag_resource(
                ResourceId=account_id,
                Tags=[{"Key": key, "Value": value} for key, value in account.tags.items()],
            )
        ids[account.name] = account_id
    return ids


def create_account(moto_app: ExtendedMotoApp, email: str, name: str) -> str:
    """Create an account (the emulator, like AWS, answers IN_PROGRESS; the test ends that)."""
    client = boto3.client("organizations")
    request = client.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
    moto_app.organizations.finish_account_requests()
    status = client.describe_create_account_status(CreateAccountRequestId=request["Id"])
    return status["CreateAccountStatus"]["AccountId"]


def move_account(client: Any, account_id: str, to_path: str) -> None:
    units = _existing_units(client)
    (parent,) = client.list_parents(ChildId=account_id)["Parents"]
    client.move_account(
        AccountId=account_id,
        SourceParentId=parent["Id"],
        DestinationParentId=_unit(client, units, to_path),
    )


def _existing_units(client: Any) -> dict[str, str]:
    root_id = client.list_roots()["Roots"][0]["Id"]
    units = {"/": root_id}
    pending = [("", root_id)]
    while pending:
        path, parent = pending.pop()
        for unit in client.list_organizational_units_for_parent(ParentId=parent)[
            "OrganizationalUnits"
        ]:
            units[f"{path}/{unit['Name']}"] = unit["Id"]
            pending.append((f"{path}/{unit['Name']}", unit["Id"]))
    return units


def _unit(client: Any, units: dict[str, str], path: str) -> str:
    """The OU at `path`, created with its parents if missing."""
    if path in units:
        return units[path]
    parent_path, _, name = path.rpartition("/")
    parent = _unit(client, units, parent_path or "/")
    units[path] = client.create_organizational_unit(ParentId=parent, Name=name)[
        "OrganizationalUnit"
    ]["Id"]
    return units[path]
