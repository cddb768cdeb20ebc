"""The Organization's shared services as CloudFormation stack sets: GitHub Actions' OIDC
provider and a deploy role in every account of each deploy-role OU, and the shared registry's
replication (its configuration in the registry account, a registry policy in every
destination). Service-managed, with automatic deployment where the target is an OU, so an
account created or moved there tomorrow is covered without a bootstrap run. Pure: the
templates are read by `load_templates`, the accounts come from the plan's view of AWS."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from sync.bootstrap.definition import OrgDefinition, within
from sync.bootstrap.live import STACK_SET_PREFIX
from sync.bootstrap.template_yaml import read_template
from sync.errors import ConfigError
from sync.rules.confined_files import read_inside

TEMPLATES = ("github-deploy-role", "registry-source", "registry-destination")
# Amazon ECR service quotas: at most 25 unique destinations (account and Region pairs) across
# all rules of a registry's replication configuration, not adjustable.
REPLICATION_DESTINATIONS = 25
ORGANIZATION_PLACEHOLDER = "<organization>"
"""The Organization's id where this plan creates the Organization; the executor fills it."""
PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
]


@dataclass(frozen=True)
class DesiredStackSet:
    name: str
    template: str
    parameters: dict[str, str]
    targets: frozenset[str]
    """OU paths: every account in them (and below) gets an instance."""
    auto_deployment: bool
    shows: tuple[str, ...]
    """What it puts in which account, for the plan."""
    only_account: str | None = None
    """Deployed to this account of the target OU only (by name)."""


@dataclass(frozen=True)
class AccountView:
    name: str
    id: str | None
    """None: created by this plan, no id yet."""
    ou: str


def load_templates(directory: Path) -> dict[str, str]:
    templates = {}
    for name in TEMPLATES:
        path = directory / f"{name}.yaml"
        try:
            templates[name] = read_inside(directory, path.name)
        except OSError as error:
            raise ConfigError(
                f"{path}: cannot read the template: {error.strerror or error}"
            ) from error
    return templates


def desired_stack_sets(
    definition: OrgDefinition,
    templates: dict[str, str],
    accounts: list[AccountView],
    organization_id: str | None = None,
) -> list[DesiredStackSet]:
    found: list[DesiredStackSet] = []
    ci = definition.ci_access
    if ci is not None:
        for path, role in sorted(ci.deploy_roles.items()):
            subjects = ci.subjects(role)
            policies = [arn.rsplit("/", 1)[1] for arn in role.policy_arns()]
            found.append(
                DesiredStackSet(
                    f"{STACK_SET_PREFIX}github-deploy-{_slug(path)}",
                    templates["github-deploy-role"],
                    {
                        "RoleName": role.role_name,
                        "Subjects": ",".join(subjects),
                        "ManagedPolicyArns": ",".join(role.policy_arns()),
                    },
                    frozenset({path}),
                    True,
                    tuple(
                        f"OIDC provider token.actions.githubusercontent.com and role "
                        f"{role.role_name} ({', '.join(policies)}) trusting only "
                        f"{', '.join(subjects)}, audience sts.amazonaws.com, in "
                        f"{_label(account)}"
                        for account in _under(accounts, path)
                    )
                    or (f"every account that joins {path} (none yet)",),
                )
            )
    registry = definition.shared_registry
    if registry is not None:
        source = next(a for a in accounts if a.name.lower() == registry.account.lower())
        receiving = {a.name: a for path in registry.destinations for a in _under(accounts, path)}
        ordered = replication_order(list(receiving.values()), registry.replicate_first)
        regions = [definition.home_region]
        replicating = ordered[: REPLICATION_DESTINATIONS // len(regions)]
        pulling = ordered[len(replicating) :]
        prefixes = ", ".join(f"{prefix}*" for prefix in registry.repository_prefixes)
        shows = [
            f"replication of {prefixes} from {_label(source)} to "
            + (", ".join(_label(a) for a in replicating) or "no account yet")
            + f" in {', '.join(regions)}"
        ]
        if pulling:
            shows.append(
                f"{len(pulling)} more account(s) pull {prefixes} from {_label(source)} (ECR "
                f"replicates to {REPLICATION_DESTINATIONS} destinations at most; new "
                "repositories there let the Organization pull): "
                + ", ".join(_label(a) for a in pulling)
            )
        found.append(
            DesiredStackSet(
                f"{STACK_SET_PREFIX}registry-source",
                render_registry_source(
                    templates["registry-source"],
                    [account_id(a) for a in replicating],
                    regions,
                    registry.repository_prefixes,
                    (organization_id or ORGANIZATION_PLACEHOLDER) if pulling else None,
                ),
                {},
                frozenset({source.ou}),
                False,
                tuple(shows),
                only_account=source.name,
            )
        )
        found.append(
            DesiredStackSet(
                f"{STACK_SET_PREFIX}registry-destination",
                templates["registry-destination"],
                {"SourceAccountId": account_id(source)},
                frozenset(registry.destinations),
                True,
                tuple(
                    f"registry policy letting {source.name} replicate into {_label(account)}"
                    for account in ordered
                )
                or (f"every account that joins {', '.join(registry.destinations)}",),
            )
        )
    return found


def replication_order(accounts: list[AccountView], first: list[str]) -> list[AccountView]:
    """The accounts named (or in the OUs listed) in `replicate_first`, in its order, then the
    others; by name within each."""

    def rank(account: AccountView) -> int:
        for index, entry in enumerate(first):
            named = entry.lower() == account.name.lower()
            if named or (entry.startswith("/") and within(account.ou, entry)):
                return index
        return len(first)

    return sorted(accounts, key=lambda account: (rank(account), account.name.lower()))


def render_registry_source(
    template: str,
    destination_ids: list[str],
    regions: list[str],
    prefixes: list[str],
    pull_organization: str | None = None,
) -> str:
    """The source template: one replication rule to the destinations (at most 25), filtering
    on the prefixes; with `pull_organization`, a repository creation template per prefix whose
    repository policy lets accounts of that Organization pull. As JSON (CloudFormation takes
    either)."""
    assert len(destination_ids) * len(regions) <= REPLICATION_DESTINATIONS
    document = read_template(template)
    destinations = [
        {"Region": region, "RegistryId": account}
        for account in destination_ids
        for region in regions
    ]
    filters = [{"Filter": prefix, "FilterType": "PREFIX_MATCH"} for prefix in prefixes]
    replication = document["Resources"]["Replication"]["Properties"]["ReplicationConfiguration"]
    replication["Rules"] = (
        [{"Destinations": destinations, "RepositoryFilters": filters}] if destinations else []
    )
    if pull_organization is not None:
        for index, prefix in enumerate(prefixes):
            document["Resources"][f"PullByTheOrganization{index}"] = _pull_template(
                prefix, pull_organization
            )
    return json.dumps(document, indent=1, sort_keys=True)


def _pull_template(prefix: str, organization_id: str) -> dict:
    """Repositories created under `prefix` (by a push or by replication) carry a policy that
    lets every account of the Organization pull (AWS::ECR::RepositoryCreationTemplate)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PullFromAnyAccountOfTheOrganization",
                "Effect": "Allow",
                "Principal": "*",
                "Action": PULL_ACTIONS,
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
            }
        ],
    }
    return {
        "Type": "AWS::ECR::RepositoryCreationTemplate",
        "Properties": {
            "Prefix": prefix.rstrip("/") or "ROOT",
            "AppliedFor": ["CREATE_ON_PUSH", "REPLICATION"],
            "Description": "sso-sync bootstrap: accounts past ECR's 25 replication "
            "destinations pull from here",
            "RepositoryPolicy": json.dumps(policy, sort_keys=True),
        },
    }


def account_id(account: AccountView) -> str:
    """The account's id, or a placeholder the executor fills in once this run created it."""
    return account.id or f"<account:{account.name}>"


def _under(accounts: list[AccountView], path: str) -> list[AccountView]:
    return [a for a in accounts if within(a.ou, path)]


def _label(account: AccountView) -> str:
    return f"{account.name} ({account.id or 'created by this plan'})"


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
