"""Plain immutable snapshots of both sides, as the planner sees them."""

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GoogleUser:
    id: str
    primary_email: str
    given_name: str
    family_name: str
    full_name: str
    suspended: bool = False
    archived: bool = False

    @property
    def active(self) -> bool:
        return not (self.suspended or self.archived)


@dataclass(frozen=True)
class GoogleGroup:
    id: str
    email: str
    name: str
    display_name: str
    """The Identity Center DisplayName this group maps to (the email unless the rules rename it)."""
    member_ids: frozenset[str]
    """Google ids of the directory users who are members, directly or through nested groups."""


@dataclass(frozen=True)
class GoogleSnapshot:
    users: Mapping[str, GoogleUser]
    groups: tuple[GoogleGroup, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserAttributes:
    """What the sync writes for a user: UserName must equal the SAML NameID (primary email)."""

    user_name: str
    display_name: str
    given_name: str
    family_name: str
    email: str

    @property
    def name(self) -> str:
        """The unique name of the user in Identity Center."""
        return self.user_name


@dataclass(frozen=True)
class GroupAttributes:
    display_name: str
    description: str

    @property
    def name(self) -> str:
        """The unique name of the group in Identity Center."""
        return self.display_name


@dataclass(frozen=True)
class IdcUser:
    user_id: str
    attributes: UserAttributes


@dataclass(frozen=True)
class IdcGroup:
    group_id: str
    attributes: GroupAttributes


@dataclass(frozen=True)
class IdcMembership:
    membership_id: str
    group_id: str
    user_id: str


@dataclass(frozen=True)
class IdentityCenterSnapshot:
    users: tuple[IdcUser, ...]
    groups: tuple[IdcGroup, ...]
    memberships: tuple[IdcMembership, ...] = field(default=())


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    status: str
    ou_path: str
    """The OU the account is directly in, as a path from the root: "/Workloads/Production"."""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrganizationSnapshot:
    management_account_id: str
    accounts: tuple[Account, ...]
