"""Lays out an AWS Organization in the emulator: OUs by path, accounts in them, tags.

A stand-in for the org bootstrap (deploy/) so that the demo and the tests have accounts for
the assignment rules to select.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedAccount:
    name: str
    email: str
    ou_path: str
    tags: dict[str, str] = field(default_factory=dict)


def build_organization(client: Any, accounts: list[PlannedAccount]) -> dict[str, str]:
    """Create the organization, its OUs and accounts; return account ids by name (the
    management account included, as "Management")."""
    organization = client.create_organization(FeatureSet="ALL")["Organization"]
    root_id = client.list_roots()["Roots"][0]["Id"]
    units: dict[str, str] = {"/": root_id}
    ids = {"Management": organization["MasterAccountId"]}
    for account in accounts:
        parent = _unit(client, units, account.ou_path)
        request = client.create_account(Email=account.email, AccountName=account.name)
        status = client.describe_create_account_status(
            CreateAccountRequestId=request["CreateAccountStatus"]["Id"]
        )["CreateAccountStatus"]
        account_id = status["AccountId"]
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
