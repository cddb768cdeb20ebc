"""The demo company in both emulators: its Google directory, an Identity Center that already
holds objects made by hand and by Control Tower, and its Organization bootstrapped from
deploy/org.yaml. `sso-sync demo` and `sso-sync local` start from it."""

from pathlib import Path
from typing import Any

import boto3

from sync.bootstrap.run import BootstrapReport, run_bootstrap
from sync.local.seed import DOMAIN, seed_demo_directory
from sync.local.stack import REGION, LocalStack
from sync.settings import Settings

RULES = Path("mappings/rules.yaml")
ACCOUNT_QUOTA = 50
"""The Organization's account quota once raised: a new Organization's 10 cannot hold the
definition's accounts (`sso-sync bootstrap plan` says how to request more)."""


def start_company(stack: LocalStack, workdir: Path) -> tuple[Settings, BootstrapReport]:
    """Seed the company into `stack` (its AWS environment set); settings for runs in
    `workdir`, and the bootstrap's report."""
    seed_demo_directory(stack.google)
    _, store_id = stack.aws.identity_center(REGION)
    settings = stack.settings(workdir, store_id, rules=str(RULES))
    _hand_made_objects(boto3.client("identitystore"), store_id)
    stack.aws.service_quotas.account_quota = ACCOUNT_QUOTA
    return settings, run_bootstrap(settings, apply=True)


def _hand_made_objects(client: Any, store_id: str) -> None:
    for email, given, family in (
        ("breakglass@example.com", "Break", "Glass"),
        (f"maya.chen@{DOMAIN}", "Maya", "Chen"),
    ):
        client.create_user(
            IdentityStoreId=store_id,
            UserName=email,
            DisplayName=f"{given} {family}",
            Name={"GivenName": given, "FamilyName": family},
            Emails=[{"Value": email, "Type": "work", "Primary": True}],
        )
    client.create_group(
        IdentityStoreId=store_id,
        DisplayName="AWSControlTowerAdmins",
        Description="Created by AWS Control Tower",
    )
