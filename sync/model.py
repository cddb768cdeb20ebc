"""The shared vocabulary: plain snapshots of both sides as the planner sees them, the change
feed's events, and the record of what the sync owns."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sync.errors import ConfigError

ENTERPRISE_EXTENSION = "aws:identitystore:enterprise"
"""Identity Store's one user extension (botocore `identitystore` model, `ExtensionName`;
DescribeUser: "aws:identitystore:enterprise is the only supported extension name")."""
CORE_USER_ATTRIBUTES = {
    "title": "Title",
    "nickName": "NickName",
    "userType": "UserType",
    "preferredLanguage": "PreferredLanguage",
    "locale": "Locale",
    "timezone": "Timezone",
    "profileUrl": "ProfileUrl",
}
"""Single-valued string attributes of an Identity Store user: UpdateUser path -> CreateUser
and ListUsers key (botocore `identitystore` model, `User`)."""
ENTERPRISE_USER_ATTRIBUTES = (
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
)
"""The enterprise extension's attributes (SCIM's enterprise user, as Identity Center keeps it):
mapped as `enterprise.<name>`; the manager is the manager's UserId."""


@dataclass(frozen=True, slots=True)
class GoogleUser:
    id: str
    primary_email: str
    given_name: str
    family_name: str
    full_name: str
    suspended: bool = False
    archived: bool = False
    aliases: frozenset[str] = frozenset()
    """Other addresses of the user (lower case), such as a former primary email."""
    fields: tuple[tuple[str, str], ...] = ()
    """(Directory field path, value) of the non-empty fields the rules' attributes read."""

    @property
    def active(self) -> bool:
        return not (self.suspended or self.archived)


@dataclass(frozen=True, slots=True)
class GoogleGroup:
    id: str
    email: str
    name: str
    display_name: str
    """The Identity Center DisplayName this group maps to (the email unless the rules rename it)."""
    member_ids: frozenset[str]
    """Google ids of the directory users who are members, directly or through nested groups."""
    nested_ids: frozenset[str] = frozenset()
    """Google ids of the groups nested in it, at any depth."""


@dataclass(frozen=True, slots=True)
class GoogleSnapshot:
    users: Mapping[str, GoogleUser]
    groups: tuple[GoogleGroup, ...]
    warnings: tuple[str, ...] = ()
    known_emails: Mapping[str, str] = field(default_factory=dict)
    """Google id -> email of group members a delta run did not read in full (for labels)."""


@dataclass(frozen=True, slots=True)
class UserAttributes:
    """What the sync writes for a user: UserName must equal the SAML NameID (primary email)."""

    user_name: str
    display_name: str
    given_name: str
    family_name: str
    email: str
    extra: tuple[tuple[str, str | None], ...] = ()
    """(attribute, value or None when absent) of the rules' mapped attributes, sorted by
    attribute: title, enterprise.costCenter, ..."""

    @property
    def name(self) -> str:
        """The unique name of the user in Identity Center."""
        return self.user_name

    def restricted_to(self, attributes: Iterable[str]) -> "UserAttributes":
        """These attributes with `extra` holding exactly `attributes` (None where absent)."""
        have = dict(self.extra)
        extra = tuple((name, have.get(name)) for name in sorted(attributes))
        return UserAttributes(
            self.user_name, self.display_name, self.given_name, self.family_name, self.email, extra
        )


@dataclass(frozen=True, slots=True)
class GroupAttributes:
    display_name: str
    description: str

    @property
    def name(self) -> str:
        """The unique name of the group in Identity Center."""
        return self.display_name


@dataclass(frozen=True, slots=True)
class IdcUser:
    user_id: str
    attributes: UserAttributes


@dataclass(frozen=True, slots=True)
class IdcGroup:
    group_id: str
    attributes: GroupAttributes


@dataclass(frozen=True, slots=True)
class IdcMembership:
    membership_id: str
    group_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class IdentityCenterSnapshot:
    users: tuple[IdcUser, ...]
    groups: tuple[IdcGroup, ...]
    memberships: tuple[IdcMembership, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    status: str
    ou_path: str
    """The OU the account is directly in, as a path from the root: "/Workloads/Production"."""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrganizationSnapshot:
    management_account_id: str
    accounts: tuple[Account, ...]
    caller_account_id: str | None = None
    """The account the sync runs in (None: not known, taken as the management account)."""

    @property
    def run_by_delegated_administrator(self) -> bool:
        """Run from the Identity Center delegated administrator, which may not assign in the
        management account nor change permission sets provisioned there."""
        return self.caller_account_id not in (None, self.management_account_id)


@dataclass(frozen=True, slots=True)
class PermissionSetAttributes:
    """Everything sso-sync keeps in step on a permission set, in comparable form."""

    description: str | None
    session_duration: str
    relay_state: str | None
    managed_policy_arns: frozenset[str]
    customer_managed_policies: frozenset[tuple[str, str]]
    """(name, path) pairs."""
    inline_policy: str | None
    """Canonical JSON: compact, keys sorted."""
    permissions_boundary: tuple[str, str] | None
    """("managed", ARN) or ("customer", path + name)."""
    tags: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class IdcPermissionSet:
    arn: str
    name: str
    attributes: PermissionSetAttributes | None
    """Read only for managed permission sets."""
    managed: bool
    """Tagged as managed by sso-sync."""
    provisioned: bool = False
    """Provisioned to at least one account, so an edit needs ProvisionPermissionSet."""
    provisioned_accounts: frozenset[str] = frozenset()
    """The accounts it is provisioned to (read for managed permission sets)."""


@dataclass(frozen=True, slots=True)
class IdcAssignment:
    account_id: str
    permission_set_arn: str
    principal_type: str  # USER or GROUP
    principal_id: str


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """The permission sets of the instance, and the assignments of the managed ones."""

    permission_sets: tuple[IdcPermissionSet, ...]
    assignments: tuple[IdcAssignment, ...]
    access_control: tuple[tuple[str, str], ...] | None = None
    """The instance's access-control attributes, (session tag key, source) sorted by key;
    None when it has no configuration (or it was not read)."""


@dataclass(frozen=True)
class ActivityEvent:
    key: str
    """Unique per event: the activity's application, time and unique qualifier, and the
    event's position in it."""
    time: datetime
    application: str
    name: str
    parameters: Mapping[str, str]


STATE_VERSION = 1


@dataclass
class State:
    """What the sync owns, keyed by Google's immutable ids (the only proof of ownership)."""

    users: dict[str, str] = field(default_factory=dict)
    """Google user id -> Identity Store UserId."""
    groups: dict[str, str] = field(default_factory=dict)
    """Google group id -> Identity Store GroupId."""
    memberships: int = 0
    """Managed memberships at the last full sync: what a delta run's percentage limit on
    membership deletions is a share of (it reads only a slice of them)."""
    nesting: dict[str, list[str]] = field(default_factory=dict)
    """Google group id -> the synced groups it is nested in (at any depth), as last read: how
    a delta run finds the synced groups a change in a nested group reaches (Google's
    groups.list takes a user, not a group)."""

    def renest(self, groups: Iterable[GoogleGroup]) -> None:
        """Replace what the nesting says of these synced groups by what they hold now."""
        reread = {group.id for group in groups}
        nesting: dict[str, list[str]] = {}
        for child, parents in self.nesting.items():
            kept = [parent for parent in parents if parent not in reread]
            if kept:
                nesting[child] = kept
        for group in groups:
            for child in group.nested_ids:
                nesting.setdefault(child, []).append(group.id)
        self.nesting = {child: sorted(parents) for child, parents in sorted(nesting.items())}

    def to_json(self) -> str:
        body = {
            "version": STATE_VERSION,
            "users": self.users,
            "groups": self.groups,
            "memberships": self.memberships,
            "nesting": self.nesting,
        }
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> "State":
        try:
            body = json.loads(text)
            if body.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported version {body.get('version')!r}")
            memberships = body.get("memberships", 0)
            if not isinstance(memberships, int) or isinstance(memberships, bool):
                raise ValueError(f"memberships is not a count: {memberships!r}")
            nesting = {str(k): [str(p) for p in v] for k, v in body.get("nesting", {}).items()}
            return cls(dict(body["users"]), dict(body["groups"]), memberships, nesting)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{source}: the state file is not valid: {error}") from error
