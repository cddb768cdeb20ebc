"""The rules file: which Google groups are synced, what access they get, what is protected,
and the safeguards. Every error names the key path and its line in the file."""

import fnmatch
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from sync.rules.access import AWS_MANAGED_POLICY, IAM_NAME, AssignmentRule, PermissionSetSpec
from sync.rules.attributes import AttributeMapping

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# Groups that AWS Control Tower creates in Identity Center: never adopted, never touched.
CONTROL_TOWER_GROUPS = (
    "AWSControlTower*",
    "AWSAccountFactory",
    "AWSAuditAccountAdmins",
    "AWSLogArchiveAdmins",
    "AWSLogArchiveViewers",
    "AWSSecurityAuditors",
    "AWSSecurityAuditPowerUsers",
    "AWSServiceCatalogAdmins",
)
RESERVED_DISPLAY_NAMES = ("Administrator", "AWSAdministrators")


PermissionSetName = Annotated[str, Field(min_length=1, max_length=32, pattern=IAM_NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _not_a_boolean(value: object) -> object:
    """`true` equals 1 in Python, not in the file: refuse it where a number is meant."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is not a version number (give 1)")
    return value


class GroupSelector(_Strict):
    """One entry of `sync.groups`: a Google group by email, or a Directory API group query."""

    email: Annotated[str, Field(pattern=EMAIL_PATTERN)] | None = None
    """A Google group's email address."""
    query: Annotated[str, Field(min_length=1)] | None = None
    """Groups whose `email:` and `name:` match, such as `email:aws-*` (a value, or a prefix
    ending in `*`; every term must match); each match keeps its email as name. sso-sync lists
    the groups and matches them itself: Google's group search can lag 36 hours behind."""
    name: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """Identity Center DisplayName for this group (only with `email`); default: the email."""
    _place: str | None = PrivateAttr(default=None)

    @property
    def place(self) -> str | None:
        """`file:line` of this entry, when it was read from a file."""
        return self._place

    def locate(self, place: str) -> None:
        """Record where in the rules file this entry stands, for messages about it."""
        self._place = place

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.email is None) == (self.query is None):
            raise ValueError("give exactly one of 'email' or 'query'")
        if self.name is not None and self.email is None:
            raise ValueError("'name' can only rename a group given by 'email'")
        if self.name in RESERVED_DISPLAY_NAMES:
            raise ValueError(f"'{self.name}' is a reserved name in Identity Center")
        if self.query is not None:
            query_terms(self.query)
        return self

    def matches(self, group_email: str, group_name: str) -> bool:
        """Whether a group (by its email and name) is one this query selects."""
        assert self.query is not None
        actual = {"email": group_email.lower(), "name": group_name.lower()}
        return all(
            _term_matches(value, actual[attribute]) for attribute, value in query_terms(self.query)
        )

    def may_select(self, group_email: str) -> bool:
        """Whether this query's email terms admit a group email (name terms unchecked)."""
        assert self.query is not None
        return "@" in group_email and all(
            _term_matches(value, group_email.lower())
            for attribute, value in query_terms(self.query)
            if attribute == "email"
        )


def _term_matches(value: str, actual: str) -> bool:
    return actual.startswith(value[:-1]) if value.endswith("*") else actual == value


def query_terms(query: str) -> list[tuple[str, str]]:
    """(attribute, lower-case value) of each term; ValueError for what sso-sync cannot match."""
    terms = []
    for term in query.split():
        attribute, colon, value = term.partition(":")
        value = value.strip("'\"").lower()
        if attribute not in ("email", "name") or not colon or not value or "*" in value[:-1]:
            raise ValueError(
                f"query term {term!r}: give email:VALUE or name:VALUE, where a VALUE ending in "
                "* matches as a prefix"
            )
        terms.append((attribute, value))
    return terms


class SyncScope(_Strict):
    groups: Annotated[list[GroupSelector], Field(min_length=1)]
    """Google groups by email or by Directory API query; their members become users."""


class Protect(_Strict):
    """Shell-style patterns (`*`, `?`) of Identity Center names the sync must never touch."""

    users: list[str] = []
    """Patterns of Identity Center UserNames."""
    groups: list[str] = []
    """Patterns of Identity Center group DisplayNames (Control Tower's are always included)."""


class Safeguards(_Strict):
    max_deletes: (
        Annotated[int, Field(ge=0, strict=True)]
        | Annotated[str, Field(pattern=r"^(100|[1-9]?[0-9])%$")]
        | None
    ) = None
    """Most deletions of one kind (users, groups, memberships) a run may make: a number or 'N%'
    of the managed ones. Default: 10% or 5, whichever is larger."""


class Rules(_Strict):
    """The sso-sync rules file (mappings/rules.yaml)."""

    version: Annotated[Literal[1], BeforeValidator(_not_a_boolean)]
    """Format version of this file."""
    sync: SyncScope
    """Which Google groups are synced to Identity Center."""
    protect: Protect = Protect()
    """Identity Center objects the sync must never adopt, change or delete."""
    safeguards: Safeguards = Safeguards()
    """Limits that refuse a run before it applies anything."""
    permission_sets: dict[PermissionSetName, PermissionSetSpec] = {}
    """Permission sets sso-sync creates and keeps as written here, by name."""
    assignments: list[AssignmentRule] = []
    """Which groups (or account owners) get which permission sets in which accounts."""
    attributes: AttributeMapping | None = None
    """Google Directory fields copied to every synced user's Identity Store attributes, and
    the attributes that become session tags (attribute-based access control)."""

    @model_validator(mode="after")
    def _distinct_names(self) -> Self:
        seen: dict[str, str] = {}
        for selector in self.sync.groups:
            if selector.email is None:
                continue
            target = selector.name or selector.email
            if target.lower() in seen:
                raise ValueError(
                    f"two groups map to the Identity Center name '{target}': "
                    f"{seen[target.lower()]} and {selector.email}"
                )
            seen[target.lower()] = selector.email
        return self

    def reference_problems(self) -> list[tuple[tuple, str]]:
        """(key path, problem) for each assignment naming what this file does not define."""
        problems: list[tuple[tuple, str]] = []
        if self.attributes is not None:
            problems += [(("attributes", *path), why) for path, why in self.attributes.problems()]
        for index, rule in enumerate(self.assignments):
            for position, name in enumerate(rule.permission_sets):
                if name not in self.permission_sets:
                    problems.append(
                        (
                            ("assignments", index, "permission_sets", position),
                            f"permission set {name!r} is not defined in permission_sets",
                        )
                    )
            for position, group in enumerate(rule.groups):
                if not self._syncs_group(group):
                    problems.append(
                        (
                            ("assignments", index, "groups", position),
                            f"group {group!r} is not synced by sync.groups (give its Google "
                            "email or its Identity Center name)",
                        )
                    )
        return problems

    def _syncs_group(self, reference: str) -> bool:
        reference = reference.lower()
        for selector in self.sync.groups:
            if selector.email is not None:
                if reference in (selector.email.lower(), (selector.name or "").lower()):
                    return True
            elif selector.may_select(reference):
                return True
        return False

    def aws_managed_policies(self) -> dict[str, list[str]]:
        """AWS managed policy ARN -> the permission sets naming it (policy or boundary)."""
        named: dict[str, list[str]] = {}
        for name, spec in sorted(self.permission_sets.items()):
            boundary = spec.permissions_boundary
            arns = [*spec.managed_policies]
            if boundary is not None and boundary.managed_policy_arn is not None:
                arns.append(boundary.managed_policy_arn)
            for arn in arns:
                if AWS_MANAGED_POLICY.match(arn):
                    named.setdefault(arn, []).append(name)
        return named

    def advisories(self) -> list[str]:
        """Warnings about a valid file: what AWS accepts now but will fail somewhere."""
        return [
            f"permission_sets.{name}: {advice}"
            for name, spec in sorted(self.permission_sets.items())
            for advice in spec.advisories()
        ]

    def is_protected_user(self, user_name: str) -> bool:
        return _matches_any(user_name, self.protect.users)

    def is_protected_group(self, display_name: str) -> bool:
        return _matches_any(display_name, (*CONTROL_TOWER_GROUPS, *self.protect.groups))

    def deletion_limit(self, managed: int) -> int:
        """How many objects of one kind a run may delete when `managed` of them are managed."""
        setting = self.safeguards.max_deletes
        if setting is None:
            return max(5, managed // 10)
        if isinstance(setting, int):
            return setting
        return managed * int(setting.rstrip("%")) // 100


def _matches_any(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in patterns)


def rules_json_schema() -> dict:
    """The JSON Schema of the rules file, for editors (mappings/rules.schema.json)."""
    schema = Rules.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
