"""Planning permission sets and assignments from the rules, Google and the Organization."""

from sync.model import (
    AccessSnapshot,
    Account,
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
    GroupAttributes,
    IdcAssignment,
    IdcGroup,
    IdcMembership,
    IdcPermissionSet,
    IdcUser,
    IdentityCenterSnapshot,
    OrganizationSnapshot,
    State,
    UserAttributes,
)
from sync.planning.access_planner import permission_set_attributes
from sync.planning.identity_planner import build_plan
from sync.planning.plan import Plan
from sync.rules.loader import parse_rules
from sync.rules.model import Rules

RULES = """
version: 1
sync:
  groups:
    - {email: eng@example.com, name: Engineering}
    - {email: sandbox-users@example.com}
permission_sets:
  PowerUser:
    managed_policies: [PowerUserAccess]
    session_duration: PT8H
  SandboxAdmin:
    managed_policies: [AdministratorAccess]
assignments:
  - groups: [Engineering]
    permission_sets: [PowerUser]
    accounts: ["ou:/Workloads/**"]
    exclude: ["tag:env=prod"]
  - user_from_tag: owner
    permission_sets: [SandboxAdmin]
    accounts: ["ou:/Sandbox"]
"""
ALICE = GoogleUser("g-alice", "alice@example.com", "Alice", "A", "Alice A")
BOB = GoogleUser("g-bob", "bob@example.com", "Bob", "B", "Bob B")
ENG = GoogleGroup("g-eng", "eng@example.com", "Eng", "Engineering", frozenset({"g-alice"}))
SANDBOXERS = GoogleGroup(
    "g-sb", "sandbox-users@example.com", "SB", "sandbox-users@example.com", frozenset({"g-bob"})
)
GOOGLE = GoogleSnapshot({"g-alice": ALICE, "g-bob": BOB}, (ENG, SANDBOXERS))
DEV = Account("111111111111", "Development", "ACTIVE", "/Workloads/Development")
PROD = Account("222222222222", "Production", "ACTIVE", "/Workloads/Production", {"env": "prod"})
BOX = Account("333333333333", "sandbox-bob", "ACTIVE", "/Sandbox", {"owner": "bob@example.com"})
ORG = OrganizationSnapshot("999999999999", (DEV, PROD, BOX))
# Identity Center as the first sync leaves it: users, groups and memberships in place.
IDC = IdentityCenterSnapshot(
    (
        IdcUser(
            "u-alice",
            UserAttributes("alice@example.com", "Alice A", "Alice", "A", "alice@example.com"),
        ),
        IdcUser("u-bob", UserAttributes("bob@example.com", "Bob B", "Bob", "B", "bob@example.com")),
        IdcUser(
            "u-breakglass",
            UserAttributes("breakglass@example.com", "Break Glass", "B", "G", "breakglass@x.com"),
        ),
    ),
    (
        IdcGroup(
            "grp-eng",
            GroupAttributes("Engineering", "Managed by sso-sync from Google group eng@example.com"),
        ),
        IdcGroup(
            "grp-sb",
            GroupAttributes(
                "sandbox-users@example.com",
                "Managed by sso-sync from Google group sandbox-users@example.com",
            ),
        ),
    ),
)
STATE = State(
    users={"g-alice": "u-alice", "g-bob": "u-bob"}, groups={"g-eng": "grp-eng", "g-sb": "grp-sb"}
)


def plan(
    access: AccessSnapshot, rules: Rules | None = None, org: OrganizationSnapshot = ORG
) -> Plan:
    idc = IdentityCenterSnapshot(
        IDC.users,
        IDC.groups,
        (IdcMembership("m1", "grp-eng", "u-alice"), IdcMembership("m2", "grp-sb", "u-bob")),
    )
    return build_plan(GOOGLE, idc, STATE, rules or parse_rules(RULES), (org, access))


def managed_set(
    name: str, rules: Rules | None = None, provisioned: bool = True
) -> IdcPermissionSet:
    spec = (rules or parse_rules(RULES)).permission_sets[name]
    return IdcPermissionSet(
        f"arn:ps-{name}", name, permission_set_attributes(spec), True, provisioned
    )


def labels(result: Plan) -> list[tuple[str, str, str]]:
    return [(op.resource, op.action.value, op.label) for op in result.operations]


def in_sync() -> AccessSnapshot:
    return AccessSnapshot(
        (managed_set("PowerUser"), managed_set("SandboxAdmin")),
        (
            IdcAssignment(DEV.id, "arn:ps-PowerUser", "GROUP", "grp-eng"),
            IdcAssignment(BOX.id, "arn:ps-SandboxAdmin", "USER", "u-bob"),
        ),
    )


def test_first_plan_creates_permission_sets_then_assigns() -> None:
    result = plan(AccessSnapshot((), ()))

    assert labels(result) == [
        ("permission_set", "create", "PowerUser"),
        ("permission_set", "create", "SandboxAdmin"),
        ("assignment", "create", "PowerUser → group Engineering in Development (111111111111)"),
        (
            "assignment",
            "create",
            "SandboxAdmin → user bob@example.com in sandbox-bob (333333333333)",
        ),
    ]
    assignment = result.operations[2]
    assert assignment.permission_set_arn is None and assignment.principal_id == "grp-eng"


def test_in_sync_plans_nothing() -> None:
    assert plan(in_sync()).operations == ()


def test_an_edited_provisioned_permission_set_is_updated_then_provisioned() -> None:
    edited = parse_rules(RULES.replace("PT8H", "PT4H"))

    result = plan(in_sync(), edited)

    assert labels(result) == [
        ("permission_set", "update", "PowerUser"),
        ("permission_set", "provision", "PowerUser"),
    ]
    assert result.operations[0].changes == ("session_duration",)


def test_moved_account_loses_and_gains_access() -> None:
    moved = OrganizationSnapshot(
        ORG.management_account_id,
        (
            Account(DEV.id, DEV.name, "ACTIVE", "/Suspended"),
            PROD,
            BOX,
            Account("444444444444", "Staging", "ACTIVE", "/Workloads/Staging"),
        ),
    )

    result = plan(in_sync(), org=moved)

    assert labels(result) == [
        ("assignment", "create", "PowerUser → group Engineering in Staging (444444444444)"),
        ("assignment", "delete", "PowerUser → group Engineering in Development (111111111111)"),
    ]


def test_foreign_assignments_and_permission_sets_are_untouched() -> None:
    control_tower = IdcPermissionSet(
        "arn:ps-ct", "AWSAdministratorAccess", managed_set("PowerUser").attributes, managed=False
    )
    access = AccessSnapshot(
        (*in_sync().permission_sets, control_tower),
        (
            *in_sync().assignments,
            IdcAssignment(PROD.id, "arn:ps-PowerUser", "USER", "u-breakglass"),
            IdcAssignment(PROD.id, "arn:ps-ct", "GROUP", "grp-eng"),
        ),
    )

    assert plan(access).operations == ()


def test_assignments_to_principals_that_no_longer_exist_are_removed() -> None:
    access = AccessSnapshot(
        in_sync().permission_sets,
        (
            *in_sync().assignments,
            IdcAssignment(BOX.id, "arn:ps-SandboxAdmin", "USER", "u-deleted-by-a-delta-run"),
            IdcAssignment(BOX.id, "arn:ps-unmanaged", "USER", "u-gone-too"),
        ),
    )

    result = plan(access)

    assert labels(result) == [
        (
            "assignment",
            "delete",
            "SandboxAdmin → user u-deleted-by-a-delta-run (deleted) in sandbox-bob (333333333333)",
        )
    ]


def test_a_hand_made_permission_set_with_our_name_is_neither_adopted_nor_assigned() -> None:
    hand_made = IdcPermissionSet(
        "arn:ps-x", "PowerUser", managed_set("PowerUser").attributes, False
    )
    access = AccessSnapshot((hand_made, managed_set("SandboxAdmin")), in_sync().assignments[1:])

    result = plan(access)

    assert result.operations == ()
    assert any("PowerUser exists and is not managed" in warning for warning in result.warnings)


def test_a_permission_set_dropped_from_the_file_goes_after_its_assignments() -> None:
    without_power_user = parse_rules(
        RULES.replace(
            "  PowerUser:\n    managed_policies: [PowerUserAccess]\n    session_duration: PT8H\n",
            "",
        ).replace(
            "  - groups: [Engineering]\n    permission_sets: [PowerUser]\n"
            '    accounts: ["ou:/Workloads/**"]\n    exclude: ["tag:env=prod"]\n',
            "",
        )
    )

    result = plan(in_sync(), without_power_user)

    assert labels(result) == [
        ("assignment", "delete", "PowerUser → group Engineering in Development (111111111111)"),
        ("permission_set", "delete", "PowerUser"),
    ]
    phases = [phase for phase, _ in result.phases()]
    assert phases == sorted(phases)


def test_an_owner_who_is_not_synced_gets_a_warning_not_an_assignment() -> None:
    stranger_box = Account(
        "555555555555", "sandbox-x", "ACTIVE", "/Sandbox", {"owner": "x@example.com"}
    )
    org = OrganizationSnapshot(ORG.management_account_id, (*ORG.accounts, stranger_box))

    result = plan(in_sync(), org=org)

    assert result.operations == ()
    assert any("sandbox-x" in warning for warning in result.warnings)


def test_deleting_a_user_removes_their_assignments_first() -> None:
    google = GoogleSnapshot({"g-alice": ALICE, "g-bob": BOB}, (ENG, SANDBOXERS))
    suspended = GoogleSnapshot(
        {
            **google.users,
            "g-bob": GoogleUser("g-bob", "bob@example.com", "Bob", "B", "Bob B", suspended=True),
        },
        google.groups,
    )
    idc = IdentityCenterSnapshot(IDC.users, IDC.groups)

    result = build_plan(suspended, idc, STATE, parse_rules(RULES), (ORG, in_sync()))

    assert (
        "assignment",
        "delete",
        "SandboxAdmin → user bob@example.com in sandbox-bob (333333333333)",
    ) in labels(result)
    assert ("user", "delete", "bob@example.com") in labels(result)
