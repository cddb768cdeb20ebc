"""deploy/org.yaml: OUs with their SCPs, accounts, sandboxes with budgets, the delegated
administrator. Validated offline (exit 2 before any call)."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync.errors import ConfigError
from sync.rules.access import AWS_MANAGED_POLICY_PREFIX, IAM_NAME, MANAGED_POLICY_ARN
from sync.rules.confined_files import read_inside
from sync.rules.policy_documents import policy_document_problem
from sync.rules.yaml_documents import Problem, parse_document

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, Field(pattern=EMAIL_PATTERN)]
OuPath = Annotated[str, Field(pattern=r"^(/[^/]+)+$")]
MAX_SCP_CHARACTERS = 5_120
MAX_SCPS_PER_TARGET = 5  # FullAWSAccess included


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class UnitSpec(_Strict):
    scps: list[str] = []
    """SCP names: documents in deploy/scps/<name>.json."""


class AccountSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)]
    email: Email
    ou: OuPath
    tags: dict[str, str] = {}


class SandboxSpec(_Strict):
    owner: Email
    monthly_budget: Annotated[float, Field(gt=0)] | None = None
    """Overrides sandboxes.monthly_budget for this one."""


class Sandboxes(_Strict):
    ou: OuPath = "/Sandbox"
    monthly_budget: Annotated[float, Field(gt=0)]
    """USD a month per sandbox; notifications at 50/80/100% actual and 100% forecast."""
    account_email: Annotated[str, Field(pattern=r"\{name\}")]
    """Address of each sandbox account, with {name} for the owner's local part."""
    owners: list[Email | SandboxSpec] = []

    def specs(self) -> list[SandboxSpec]:
        return [o if isinstance(o, SandboxSpec) else SandboxSpec(owner=o) for o in self.owners]


GITHUB_OWNER = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$"
REPOSITORY = r"^(\*|[A-Za-z0-9._-]{1,100})$"
GitName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s:*?\[\\]+$")]


class DeployRoleSpec(_Strict):
    role_name: Annotated[str, Field(min_length=1, max_length=64, pattern=IAM_NAME)] = (
        "github-deploy"
    )
    """The deploy role's name in every account of the OU."""
    repositories: Annotated[list[Annotated[str, Field(pattern=REPOSITORY)]], Field(min_length=1)]
    """Repositories of the GitHub organization that may deploy here ("*": every one)."""
    environments: list[GitName] = []
    """Only jobs of these GitHub environments (their token's sub names the environment)."""
    branches: list[GitName] = []
    """Only workflows running on these branches."""
    managed_policies: Annotated[list[str], Field(min_length=1)]
    """AWS managed policies (short names such as PowerUserAccess, or ARNs)."""

    @model_validator(mode="after")
    def _environments_or_branches(self) -> Self:
        if self.environments and self.branches:
            raise ValueError(
                "give environments or branches, not both: a job's token names its environment "
                "when it has one, its branch otherwise (GitHub's OIDC guide)"
            )
        return self

    @model_validator(mode="after")
    def _policies_exist_as_arns(self) -> Self:
        for arn in self.policy_arns():
            if not MANAGED_POLICY_ARN.fullmatch(arn):
                raise ValueError(f"{arn!r} is not an AWS managed policy ARN")
        return self

    def policy_arns(self) -> list[str]:
        return [
            name if name.startswith("arn:") else AWS_MANAGED_POLICY_PREFIX + name
            for name in self.managed_policies
        ]


class CiAccess(_Strict):
    github_organization: Annotated[str, Field(pattern=GITHUB_OWNER)]
    deploy_roles: Annotated[dict[OuPath, DeployRoleSpec], Field(min_length=1)]
    """Per OU: the deploy role every account in it (now or later) gets."""

    def subjects(self, role: DeployRoleSpec) -> list[str]:
        """The token sub claims the role trusts (GitHub: 'About security hardening with
        OpenID Connect', example subject claims)."""
        found = []
        for repository in role.repositories:
            base = f"repo:{self.github_organization}/{repository}"
            if role.environments:
                found += [f"{base}:environment:{name}" for name in role.environments]
            elif role.branches:
                found += [f"{base}:ref:refs/heads/{name}" for name in role.branches]
            else:
                found.append(f"{base}:*")
        return found


class SharedRegistry(_Strict):
    account: str
    """The account holding the company's container registry (Infra)."""
    repository_prefixes: Annotated[
        list[Annotated[str, Field(max_length=256, pattern=r"^[a-z0-9][a-z0-9._/-]*$")]],
        Field(min_length=1),
    ]
    """Repositories whose names start with one of these replicate."""
    destinations: Annotated[list[OuPath], Field(min_length=1)] = ["/Workloads"]
    """OUs whose accounts (and those of OUs below) receive the images."""
    replicate_first: list[str] = []
    """Account names or OU paths whose accounts replicate before the others: ECR replicates
    to at most 25 account-region destinations; the accounts past them pull from the registry
    account instead."""


class OrgDefinition(_Strict):
    version: Literal[1]
    home_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    """The Identity Center home region: always allowed by the region allow-list."""
    allowed_regions: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]]
    platform_email: Email
    """Receives every sandbox budget notification, with the owner."""
    root_scps: list[str] = []
    organizational_units: dict[OuPath, UnitSpec]
    accounts: list[AccountSpec] = []
    sandboxes: Sandboxes | None = None
    delegated_administrator: str | None = None
    """Name of the account registered as Identity Center delegated administrator."""
    ci_access: CiAccess | None = None
    """CI deploy roles, trusted through GitHub Actions' OIDC tokens: no keys."""
    shared_registry: SharedRegistry | None = None
    """The central container registry and where its images replicate."""

    @model_validator(mode="after")
    def _parents_defined(self) -> Self:
        for path in self.organizational_units:
            parent = path.rpartition("/")[0]
            if parent and parent not in self.organizational_units:
                raise ValueError(f"OU {path} needs its parent {parent} defined too")
        return self

    def all_accounts(self) -> list["DesiredAccount"]:
        """The accounts of the file, sandboxes included, as they should be."""
        planned = [DesiredAccount(a.name, a.email, a.ou, dict(a.tags), None) for a in self.accounts]
        if self.sandboxes is not None:
            for sandbox in self.sandboxes.specs():
                local = sandbox.owner.split("@")[0]
                planned.append(
                    DesiredAccount(
                        f"sandbox-{local}",
                        self.sandboxes.account_email.format(name=local),
                        self.sandboxes.ou,
                        {"owner": sandbox.owner},
                        sandbox.monthly_budget or self.sandboxes.monthly_budget,
                    )
                )
        return planned

    def regions(self) -> list[str]:
        return sorted({*self.allowed_regions, self.home_region})


@dataclass(frozen=True)
class DesiredAccount:
    name: str
    email: str
    ou: str
    tags: dict[str, str]
    monthly_budget: float | None
    """Set for sandboxes: their COST budget in USD."""


def load_definition(path: Path) -> tuple[OrgDefinition, dict[str, str]]:
    """The definition and its SCP documents (name -> minified JSON), all validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the org definition: {error.strerror}") from error
    scps: dict[str, str] = {}
    scp_directory = path.parent / "scps"

    def problems(definition: OrgDefinition) -> list[Problem]:
        found = _account_problems(definition) + _shared_service_problems(definition)
        found += _scp_problems(definition, scp_directory, scps)
        return found

    definition = parse_document(text, OrgDefinition, str(path), "org definition", None, problems)
    return definition, scps


def _account_problems(definition: OrgDefinition) -> list[Problem]:
    found: list[Problem] = []
    names: set[str] = set()
    emails: set[str] = set()
    for index, account in enumerate(definition.all_accounts()):
        where: tuple = ("accounts", index)
        if index >= len(definition.accounts):
            where = ("sandboxes", "owners", index - len(definition.accounts))
        if account.ou not in definition.organizational_units:
            found.append(((*where, "ou"), f"OU {account.ou} is not in organizational_units"))
        if account.name.lower() in names:
            found.append(((*where,), f"a second account named {account.name}"))
        if account.email.lower() in emails:
            found.append(((*where,), f"a second account with the email {account.email}"))
        names.add(account.name.lower())
        emails.add(account.email.lower())
        owner = account.tags.get("owner")
        if owner is not None and not re.match(EMAIL_PATTERN, owner):
            found.append(((*where, "tags", "owner"), f"owner {owner!r} is not an email"))
    delegated = definition.delegated_administrator
    if delegated is not None and delegated.lower() not in names:
        found.append((("delegated_administrator",), f"no account named {delegated}"))
    return found


def _shared_service_problems(definition: OrgDefinition) -> list[Problem]:
    found: list[Problem] = []
    units = definition.organizational_units
    if definition.ci_access is not None:
        paths = list(definition.ci_access.deploy_roles)
        for path in paths:
            where = ("ci_access", "deploy_roles", path)
            if path not in units:
                found.append((where, f"OU {path} is not in organizational_units"))
            if outer := next((p for p in paths if p != path and within(path, p)), None):
                found.append(
                    (
                        where,
                        f"{path} is inside {outer}, which has a deploy role too: an account "
                        "gets one OIDC provider, so give deploy roles to OUs that do not nest",
                    )
                )
    registry = definition.shared_registry
    if registry is not None:
        names = {account.name.lower(): account for account in definition.all_accounts()}
        source = names.get(registry.account.lower())
        if source is None:
            found.append((("shared_registry", "account"), f"no account named {registry.account}"))
        for index, path in enumerate(registry.destinations):
            where = ("shared_registry", "destinations", index)
            if path not in units:
                found.append((where, f"OU {path} is not in organizational_units"))
            elif source is not None and within(source.ou, path):
                found.append((where, f"{registry.account} itself is in {path}"))
        names = {account.name.lower() for account in definition.all_accounts()}
        for index, entry in enumerate(registry.replicate_first):
            if entry.lower() not in names and entry not in units:
                found.append(
                    (
                        ("shared_registry", "replicate_first", index),
                        f"{entry} is neither an account nor an OU of the definition",
                    )
                )
    return found


def within(path: str, unit: str) -> bool:
    """`path` is the OU `unit` or below it."""
    return path == unit or path.startswith(unit + "/")


def _scp_problems(
    definition: OrgDefinition, directory: Path, documents: dict[str, str]
) -> list[Problem]:
    """Load each named SCP, templated with the regions; check JSON, size and the 5-per-target
    limit. Fills `documents`."""
    found: list[Problem] = []
    targets: list[tuple[tuple, list[str]]] = [(("root_scps",), definition.root_scps)]
    targets += [
        (("organizational_units", path, "scps"), unit.scps)
        for path, unit in definition.organizational_units.items()
    ]
    for where, names in targets:
        if len(set(names)) + 1 > MAX_SCPS_PER_TARGET:
            found.append(
                (where, f"{len(set(names))} SCPs and FullAWSAccess: AWS allows 5 per target")
            )
        for index, name in enumerate(names):
            if name in documents:
                continue
            problem = _load_scp(directory, name, definition.regions(), documents)
            if problem:
                found.append(((*where, index), problem))
    return found


def _load_scp(directory: Path, name: str, regions: list[str], documents: dict[str, str]) -> str:
    path = directory / f"{name}.json"
    try:
        text = read_inside(directory, f"{name}.json")
        document = json.loads(text.replace('"{{allowed_regions}}"', json.dumps(regions)))
    except OSError as error:
        return f"cannot read SCP {path}: {error.strerror or error}"
    except json.JSONDecodeError as error:
        return f"SCP {path} is not valid JSON: {error.msg} at line {error.lineno}"
    problem = policy_document_problem(document) if isinstance(document, dict) else "not an object"
    if problem:
        return f"SCP {path} is not a policy document: {problem}"
    minified = json.dumps(document, separators=(",", ":"))
    if len(minified) > MAX_SCP_CHARACTERS:
        return f"SCP {path} has {len(minified)} characters; AWS allows {MAX_SCP_CHARACTERS}"
    documents[name] = minified
    return ""
