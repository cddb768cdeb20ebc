"""The access half of the rules file: permission sets, and the rules that assign them to
groups (or to the owner named in an account tag) in the accounts that selectors pick."""

import json
import re
import unicodedata
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sync.rules.policy_documents import policy_document_problem
from sync.rules.selectors import Selector, parse_selector

AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"
MANAGED_TAG = ("managed-by", "sso-sync")
MAX_POLICIES = 20
# IAM's default quota of managed policies per role (adjustable to 20 per account): each account
# gets the permission set as a role, so an 11th policy fails the assignment there.
ROLE_MANAGED_POLICIES = 10
MAX_INLINE_POLICY_BYTES = 32_768
# The permission set's inline policy becomes the role's inline policy in each account, and IAM
# counts at most 10,240 characters of a role's policies, white space not counted.
MAX_ROLE_POLICY_CHARACTERS = 10_240
MAX_TAGS = 75
IAM_CHARACTERS = "[A-Za-z0-9_+=,.@-]"
"""IAM and Identity Center names: botocore's models say [\\w+=,.@-]+, where \\w is ASCII (Java's
regex; IAM: "alphanumeric characters" and these); Python's and pydantic's \\w take any letter."""
IAM_NAME = rf"^{IAM_CHARACTERS}+$"
AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")
# botocore's sso-admin model: PermissionSetDescription, TagKey, TagValue, ManagedPolicyArn.
DESCRIPTION_CHARACTERS = r"^[\t\n\r\x20-\x7e\xa1-\xff]*$"
MANAGED_POLICY_ARN = re.compile(
    r"arn:aws(-[a-z]{1,5}){0,3}:iam::aws:policy((/[A-Za-z0-9\.,\+@=_-]+)*)/([A-Za-z0-9\.,\+=@_-]+)"
)
TAG_SYMBOLS = set("_.:/=+-@")
DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")


def _tag_text(text: str) -> bool:
    """botocore's tag pattern: Unicode letters (L), separators (Z), numbers (N), _.:/=+-@."""
    return all(
        unicodedata.category(character)[0] in "LZN" or character in TAG_SYMBOLS
        for character in text
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CustomerManagedPolicy(_Strict):
    """A policy of that name and path that must exist in every account the set is used in."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=IAM_NAME)]
    path: Annotated[str, Field(max_length=512, pattern=rf"^/({IAM_CHARACTERS}+/)*$")] = "/"


class PermissionsBoundary(_Strict):
    """Exactly one of an AWS managed policy ARN or a customer-managed policy reference."""

    managed_policy_arn: Annotated[str, Field(pattern=AWS_MANAGED_POLICY.pattern + ".+")] | None = (
        None
    )
    customer_managed: CustomerManagedPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.managed_policy_arn is None) == (self.customer_managed is None):
            raise ValueError("give exactly one of 'managed_policy_arn' or 'customer_managed'")
        return self


def _inline_policy_json(value: Any, info: ValidationInfo) -> Any:
    """A mapping, JSON text, or a file path relative to the rules file -> canonical JSON."""
    if value is None:
        return None
    if isinstance(value, str) and not value.lstrip().startswith("{"):
        read_beside = (info.context or {}).get("read_beside")
        if read_beside is None:
            raise ValueError("an inline policy file can only be named in a rules file")
        try:
            value = read_beside(value)
        except OSError as error:
            raise ValueError(
                f"cannot read inline policy file {value!r}: {error.strerror or error}"
            ) from None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"inline policy is not JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise ValueError("inline policy must be a JSON object")
    if problem := policy_document_problem(value):
        raise ValueError(f"inline policy is not an IAM policy document: {problem}")
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_INLINE_POLICY_BYTES:
        raise ValueError(f"inline policy is over {MAX_INLINE_POLICY_BYTES} bytes")
    characters = sum(not character.isspace() for character in text)
    if characters > MAX_ROLE_POLICY_CHARACTERS:
        raise ValueError(
            f"inline policy has {characters} characters besides white space; IAM allows "
            f"{MAX_ROLE_POLICY_CHARACTERS} in the role it becomes in each account"
        )
    return text


class PermissionSetSpec(_Strict):
    description: (
        Annotated[str, Field(min_length=1, max_length=700, pattern=DESCRIPTION_CHARACTERS)] | None
    ) = None
    """Once set, AWS's API can change it but not clear it: removed here, the old one stays."""
    session_duration: str = "PT1H"
    """ISO 8601 duration from PT1H to PT12H."""
    relay_state: Annotated[str, Field(min_length=1, max_length=240)] | None = None
    """Once set, AWS's API can change it but not clear it: removed here, the old one stays."""
    managed_policies: list[str] = []
    """AWS managed policies: short names (PowerUserAccess, job-function/Billing) or ARNs."""
    customer_managed_policies: list[CustomerManagedPolicy] = []
    inline_policy: Annotated[
        str | None,
        BeforeValidator(_inline_policy_json),
        WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "string"}, {"type": "null"}]}),
    ] = None
    """A policy document inline (YAML or JSON), or a file path relative to the rules file."""
    permissions_boundary: PermissionsBoundary | None = None
    tags: dict[str, str] = {}

    @field_validator("session_duration")
    @classmethod
    def _duration_in_range(cls, value: str) -> str:
        found = DURATION.match(value)
        minutes = int(found.group(1) or 0) * 60 + int(found.group(2) or 0) if found else 0
        if not 60 <= minutes <= 720:
            raise ValueError(f"{value!r} is not an ISO 8601 duration from PT1H to PT12H")
        return value

    @field_validator("managed_policies")
    @classmethod
    def _as_arns(cls, names: list[str]) -> list[str]:
        arns = [
            name if name.startswith("arn:") else AWS_MANAGED_POLICY_PREFIX + name for name in names
        ]
        if len(set(arns)) != len(arns):
            raise ValueError("a managed policy is listed twice")
        for arn in arns:
            if not MANAGED_POLICY_ARN.fullmatch(arn):
                raise ValueError(f"{arn!r} is not an AWS managed policy ARN")
        return arns

    @field_validator("tags")
    @classmethod
    def _tags_allowed(cls, tags: dict[str, str]) -> dict[str, str]:
        if MANAGED_TAG[0] in tags:
            raise ValueError(f"the tag {MANAGED_TAG[0]!r} is reserved for sso-sync")
        if len(tags) >= MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS - 1} tags (sso-sync adds its own)")
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or not _tag_text(key):
                raise ValueError(
                    f"tag key {key!r}: 1 to 128 letters, digits, spaces or _ . : / = + - @"
                )
            if len(value) > 256 or not _tag_text(value):
                raise ValueError(
                    f"tag {key!r}: the value may hold up to 256 letters, digits, spaces or "
                    "_ . : / = + - @"
                )
        return tags

    @model_validator(mode="after")
    def _policy_count(self) -> Self:
        count = len(self.managed_policies) + len(self.customer_managed_policies)
        if count > MAX_POLICIES:
            raise ValueError(
                f"{count} managed and customer-managed policies; AWS allows {MAX_POLICIES}"
            )
        return self

    def advisories(self) -> list[str]:
        """What is valid but fails in accounts whose quotas are the defaults."""
        count = len(self.managed_policies) + len(self.customer_managed_policies)
        if count <= ROLE_MANAGED_POLICIES:
            return []
        return [
            f"{count} managed and customer-managed policies: IAM allows "
            f"{ROLE_MANAGED_POLICIES} per role unless each account's 'Managed policies per "
            "role' quota is raised, so assignments fail in accounts where it is not"
        ]

    def all_tags(self) -> dict[str, str]:
        return {**self.tags, MANAGED_TAG[0]: MANAGED_TAG[1]}


SelectorField = Annotated[
    Selector,
    BeforeValidator(parse_selector),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["all", "ou:/Workloads/**", "tag:env=prod"]},
                {"type": "object", "additionalProperties": {"type": "string"}},
            ]
        }
    ),
]


class AssignmentRule(_Strict):
    """Give these groups (or each account's owner, by tag) these permission sets there."""

    groups: list[str] = []
    """Synced groups, by Google email or Identity Center name."""
    user_from_tag: Annotated[str, Field(min_length=1)] | None = None
    """An account tag holding a user's email: that user gets the permission sets there only."""
    permission_sets: Annotated[list[str], Field(min_length=1)]
    accounts: Annotated[list[SelectorField], Field(min_length=1)]
    """Selectors, any of which picks an account."""
    exclude: list[SelectorField] = []
    """Selectors of accounts left out, whatever `accounts` says."""
    include_management_account: bool = False
    """Let `accounts` match the management account (the `management` selector always does)."""
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """What the plan and messages call this rule, besides its number."""
    allow_empty: bool = False
    """The selectors may match no account on purpose: the rule's assignments are then
    removed. Otherwise a rule that matches nothing while its assignments exist (a selector
    typo) refuses the run."""

    @property
    def may_assign_in_the_management_account(self) -> bool:
        return self.include_management_account or any(s.is_management for s in self.accounts)

    @model_validator(mode="after")
    def _one_kind_of_principal(self) -> Self:
        if bool(self.groups) == (self.user_from_tag is not None):
            raise ValueError("give either 'groups' or 'user_from_tag'")
        return self
