"""deploy/org.yaml: OUs with their SCPs, accounts, sandboxes with budgets, the delegated
administrator. Validated offline (exit 2 before any call)."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sync.errors import ConfigError
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
        found = _account_problems(definition)
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
        text = path.read_text(encoding="utf-8").replace(
            '"{{allowed_regions}}"', json.dumps(regions)
        )
        document = json.loads(text)
    except OSError as error:
        return f"cannot read SCP {path}: {error.strerror}"
    except json.JSONDecodeError as error:
        return f"SCP {path} is not valid JSON: {error.msg} at line {error.lineno}"
    minified = json.dumps(document, separators=(",", ":"))
    if len(minified) > MAX_SCP_CHARACTERS:
        return f"SCP {path} has {len(minified)} characters; AWS allows {MAX_SCP_CHARACTERS}"
    documents[name] = minified
    return ""
