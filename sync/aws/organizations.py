"""Reads the AWS Organization: its accounts, the OU path each is in, and their tags.

Selectors are evaluated against this on every run, so an account created or moved since the
last run converges on the next.
"""

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.identity_store import boto_config
from sync.aws.paging import all_pages
from sync.aws.rate_limit import CallMeter
from sync.aws.retry import aws_error_text, error_code
from sync.errors import ConfigError, ReadError
from sync.model import Account, OrganizationSnapshot


class OrganizationReader:
    def __init__(self, client: Any, retrying: Retrying, sts: Any | None = None) -> None:
        self._client = client
        self._retrying = retrying
        self._sts = sts

    @classmethod
    def connect(cls, meter: CallMeter, retrying: Retrying) -> "OrganizationReader":
        client = boto3.client("organizations", config=boto_config(1))
        sts = boto3.client("sts", config=boto_config(1))
        for metered in (client, sts):
            meter.attach(metered, rate_limited=False)  # quotas of their own
        return cls(client, retrying, sts)

    def read(self) -> OrganizationSnapshot:
        """The accounts, and where this run stands: the management account or the delegated
        administrator (STS GetCallerIdentity needs no permission)."""
        try:
            organization = self._call("describe_organization")["Organization"]
            (root,) = self._pages("list_roots", "Roots")
            accounts = tuple(self._accounts_under(root["Id"], ""))
            caller = None
            if self._sts is not None:
                caller = self._retrying(self._sts.get_caller_identity)["Account"]
        except (ClientError, BotoCoreError) as error:
            if error_code(error) == "AWSOrganizationsNotInUseException":
                raise ConfigError(
                    "this AWS account is not in an AWS Organization: the rules assign in the "
                    "Organization's accounts (run sso-sync bootstrap, or run from the "
                    "Organization's management or delegated administrator account)"
                ) from error
            raise ReadError(
                f"reading the AWS Organization failed: {aws_error_text(error)}"
            ) from error
        return OrganizationSnapshot(organization["MasterAccountId"], accounts, caller)

    def service_control_policies(self) -> dict[str, tuple[str, ...]] | None:
        """SCP names by target: an OU path ("/" the root) or an account id; None when this
        account may not read them (a delegated administrator of Identity Center only)."""
        try:
            (root,) = self._pages("list_roots", "Roots")
            paths = {root["Id"]: "/"}
            self._unit_paths(root["Id"], "", paths)
            names: dict[str, list[str]] = {}
            for policy in self._pages("list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY"):
                for target in self._pages(
                    "list_targets_for_policy", "Targets", PolicyId=policy["Id"]
                ):
                    key = paths.get(target["TargetId"], target["TargetId"])
                    names.setdefault(key, []).append(policy["Name"])
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in ("AccessDeniedException", "AWSOrganizationsNotInUseException"):
                return None
            raise ReadError(
                f"reading the Organization's SCPs failed: {aws_error_text(error)}"
            ) from error
        return {target: tuple(sorted(found)) for target, found in names.items()}

    def _unit_paths(self, parent_id: str, path: str, paths: dict[str, str]) -> None:
        for unit in self._pages(
            "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
        ):
            paths[unit["Id"]] = f"{path}/{unit['Name']}"
            self._unit_paths(unit["Id"], f"{path}/{unit['Name']}", paths)

    def _accounts_under(self, parent_id: str, path: str) -> Iterator[Account]:
        for raw in self._pages("list_accounts_for_parent", "Accounts", ParentId=parent_id):
            tags = self._pages("list_tags_for_resource", "Tags", ResourceId=raw["Id"])
            yield Account(
                id=raw["Id"],
                name=raw["Name"],
                status=raw.get("State") or raw.get("Status", ""),
                ou_path=path or "/",
                tags={tag["Key"]: tag["Value"] for tag in tags},
            )
        for unit in self._pages(
            "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
        ):
            yield from self._accounts_under(unit["Id"], f"{path}/{unit['Name']}")

    def _pages(self, operation: str, key: str, **params: Any) -> list[dict]:
        return all_pages(getattr(self._client, operation), key, self._retrying, **params)

    def _call(self, operation: str, **params: Any) -> dict:
        return self._retrying(getattr(self._client, operation), **params)
