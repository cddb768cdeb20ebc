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
DESTINATIONS_PER_RULE, RULES_AT_MOST = 25, 10
"""ECR: a replication configuration holds at most 10 rules of at most 25 destinations."""


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
    definition: OrgDefinition, templates: dict[str, str], accounts: list[AccountView]
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
        destinations = sorted(
            {a.name: a for path in registry.destinations for a in _under(accounts, path)}.values(),
            key=lambda a: a.name.lower(),
        )
        regions = [definition.home_region]
        prefixes = ", ".join(f"{prefix}*" for prefix in registry.repository_prefixes)
        found.append(
            DesiredStackSet(
                f"{STACK_SET_PREFIX}registry-source",
                render_registry_source(
                    templates["registry-source"],
                    [account_id(a) for a in destinations],
                    regions,
                    registry.repository_prefixes,
                ),
                {},
                frozenset({source.ou}),
                False,
                (
                    f"replication of {prefixes} from {_label(source)} to "
                    + (", ".join(_label(a) for a in destinations) or "no account yet")
                    + f" in {', '.join(regions)}",
                ),
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
                    for account in destinations
                )
                or (f"every account that joins {', '.join(registry.destinations)}",),
            )
        )
    return found


def render_registry_source(
    template: str, destination_ids: list[str], regions: list[str], prefixes: list[str]
) -> str:
    """The source template with its replication rules: all destinations, in rules of at most
    25, each filtering on the prefixes; as JSON (CloudFormation takes either)."""
    document = read_template(template)
    destinations = [
        {"Region": region, "RegistryId": account}
        for account in destination_ids
        for region in regions
    ]
    chunks = [
        destinations[i : i + DESTINATIONS_PER_RULE]
        for i in range(0, len(destinations), DESTINATIONS_PER_RULE)
    ]
    if len(chunks) > RULES_AT_MOST:
        raise ConfigError(
            f"shared_registry: {len(destinations)} destinations; ECR replicates to at most "
            f"{DESTINATIONS_PER_RULE * RULES_AT_MOST} (10 rules of 25)"
        )
    filters = [{"Filter": prefix, "FilterType": "PREFIX_MATCH"} for prefix in prefixes]
    replication = document["Resources"]["Replication"]["Properties"]["ReplicationConfiguration"]
    replication["Rules"] = [
        {"Destinations": chunk, "RepositoryFilters": filters} for chunk in chunks
    ]
    return json.dumps(document, indent=1, sort_keys=True)


def account_id(account: AccountView) -> str:
    """The account's id, or a placeholder the executor fills in once this run created it."""
    return account.id or f"<account:{account.name}>"


def _under(accounts: list[AccountView], path: str) -> list[AccountView]:
    return [a for a in accounts if within(a.ou, path)]


def _label(account: AccountView) -> str:
    return f"{account.name} ({account.id or 'created by this plan'})"


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
