"""The planner is pure: snapshots in, operations out. Fast, table-like tests."""

from sync.model import (
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
    GroupAttributes,
    IdcGroup,
    IdcMembership,
    IdcUser,
    IdentityCenterSnapshot,
    State,
    UserAttributes,
)
from sync.planning.identity_planner import build_plan, group_attributes, user_attributes
from sync.planning.plan import Action, Phase, phase_of
from sync.rules.loader import parse_rules

RULES = parse_rules(
    """
version: 1
sync:
  groups: [{email: eng@example.com, name: Eng}]
protect:
  users: ["root*@example.com"]
  groups: ["Platform-*"]
"""
)
ALICE = GoogleUser("g-alice", "alice@example.com", "Alice", "A", "Alice A")
BOB = GoogleUser("g-bob", "bob@example.com", "Bob", "B", "Bob B")
ENG = GoogleGroup("g-eng", "eng@example.com", "Engineering", "Eng", frozenset({"g-alice"}))


def google(*users: GoogleUser, groups: tuple[GoogleGroup, ...] = (ENG,)) -> GoogleSnapshot:
    return GoogleSnapshot({u.id: u for u in users}, groups)


def idc_user(user_id: str, user: GoogleUser) -> IdcUser:
    return IdcUser(user_id, user_attributes(user))


def idc_group(group_id: str, group: GoogleGroup = ENG) -> IdcGroup:
    return IdcGroup(group_id, group_attributes(group))


def summary(plan) -> list[tuple[str, str, str]]:
    return [(op.resource, op.action.value, op.label) for op in plan.operations]


def test_everything_new_is_created_in_dependency_order() -> None:
    plan = build_plan(google(ALICE, BOB), IdentityCenterSnapshot((), ()), State(), RULES)

    assert summary(plan) == [
        ("group", "create", "Eng"),
        ("user", "create", "alice@example.com"),
        ("membership", "create", "Eng ∋ alice@example.com"),
    ]
    assert [phase for phase, _ in plan.phases()] == [Phase.PRINCIPALS, Phase.GRANT_ACCESS]


def test_in_sync_means_an_empty_plan() -> None:
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE),), (idc_group("grp1"),), (IdcMembership("m1", "grp1", "u1"),)
    )
    state = State(users={"g-alice": "u1"}, groups={"g-eng": "grp1"})

    assert build_plan(google(ALICE), idc, state, RULES).operations == ()


def test_primary_email_change_is_an_update_of_the_recorded_user() -> None:
    renamed = GoogleUser("g-alice", "alice.b@example.com", "Alice", "A", "Alice A")
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE),), (idc_group("grp1"),), (IdcMembership("m1", "grp1", "u1"),)
    )
    state = State(users={"g-alice": "u1"}, groups={"g-eng": "grp1"})

    (operation,) = build_plan(google(renamed), idc, state, RULES).operations

    assert operation.action is Action.UPDATE and operation.object_id == "u1"
    assert dict(operation.changes)["userName"] == "alice.b@example.com"
    assert "emails" in dict(operation.changes)


def test_rename_onto_a_name_held_by_someone_else_is_a_warning_not_a_write() -> None:
    renamed = GoogleUser("g-alice", "taken@example.com", "Alice", "A", "Alice A")
    other = IdcUser("u9", UserAttributes("taken@example.com", "T", "T", "T", "taken@example.com"))
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE), other), (idc_group("grp1"),), (IdcMembership("m", "grp1", "u1"),)
    )
    state = State(users={"g-alice": "u1"}, groups={"g-eng": "grp1"})

    plan = build_plan(google(renamed), idc, state, RULES)

    assert plan.operations == ()
    assert any("cannot rename" in w for w in plan.warnings)


def test_membership_of_unmanaged_user_in_managed_group_is_left_alone() -> None:
    hand_made = IdcUser("u9", UserAttributes("x@example.com", "X", "X", "X", "x@example.com"))
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE), hand_made),
        (idc_group("grp1"),),
        (IdcMembership("m1", "grp1", "u1"), IdcMembership("m9", "grp1", "u9")),
    )
    state = State(users={"g-alice": "u1"}, groups={"g-eng": "grp1"})

    assert build_plan(google(ALICE), idc, state, RULES).operations == ()


def test_member_removed_in_google_loses_the_membership_but_the_user_stays_if_in_scope() -> None:
    other = GoogleGroup("g-ops", "ops@example.com", "Ops", "ops@example.com", frozenset({"g-bob"}))
    eng = GoogleGroup("g-eng", "eng@example.com", "Engineering", "Eng", frozenset({"g-alice"}))
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE), idc_user("u2", BOB)),
        (idc_group("grp1", eng), idc_group("grp2", other)),
        (
            IdcMembership("m1", "grp1", "u1"),
            IdcMembership("m2", "grp1", "u2"),
            IdcMembership("m3", "grp2", "u2"),
        ),
    )
    state = State(users={"g-alice": "u1", "g-bob": "u2"}, groups={"g-eng": "grp1", "g-ops": "grp2"})

    plan = build_plan(google(ALICE, BOB, groups=(eng, other)), idc, state, RULES)

    assert summary(plan) == [("membership", "delete", "Eng ∋ bob@example.com")]
    assert plan.operations[0].membership_id == "m2"
    assert phase_of(plan.operations[0]) is Phase.REMOVE_ACCESS


def test_protected_user_with_a_google_twin_is_not_adopted() -> None:
    root = GoogleUser("g-root", "root@example.com", "Root", "R", "Root R")
    group = GoogleGroup("g-eng", "eng@example.com", "E", "Eng", frozenset({"g-root"}))
    hand_made = IdcUser("u0", UserAttributes("root@example.com", "R", "R", "R", "root@example.com"))

    plan = build_plan(
        google(root, groups=(group,)), IdentityCenterSnapshot((hand_made,), ()), State(), RULES
    )

    assert ("user", "adopt", "root@example.com") not in summary(plan)
    assert all(op.label != "Eng ∋ root@example.com" for op in plan.operations)
    assert any("protected" in w for w in plan.warnings)


def test_control_tower_and_protected_groups_are_never_adopted() -> None:
    for name in ("AWSControlTowerAdmins", "AWSSecurityAuditors", "Platform-Oncall"):
        group = GoogleGroup("g-x", "x@example.com", "X", name, frozenset({"g-alice"}))
        existing = IdcGroup("grp0", GroupAttributes(name, "made elsewhere"))

        plan = build_plan(
            google(ALICE, groups=(group,)), IdentityCenterSnapshot((), (existing,)), State(), RULES
        )

        assert all(op.resource != "group" for op in plan.operations), name
        assert all(op.resource != "membership" for op in plan.operations), name


def test_recorded_objects_deleted_by_hand_are_forgotten_or_recreated() -> None:
    state = State(users={"g-alice": "gone1", "g-bob": "gone2"}, groups={"g-eng": "gone3"})

    plan = build_plan(google(ALICE, BOB), IdentityCenterSnapshot((), ()), state, RULES)

    assert ("user", "forget", "gone2") in summary(plan)
    assert ("user", "create", "alice@example.com") in summary(plan)
    assert ("group", "create", "Eng") in summary(plan)


def test_group_dropped_from_the_rules_is_deleted_and_its_members_follow() -> None:
    idc = IdentityCenterSnapshot(
        (idc_user("u1", ALICE),), (idc_group("grp1"),), (IdcMembership("m1", "grp1", "u1"),)
    )
    state = State(users={"g-alice": "u1"}, groups={"g-eng": "grp1"})

    plan = build_plan(google(ALICE, groups=()), idc, state, RULES)

    assert summary(plan) == [("group", "delete", "Eng"), ("user", "delete", "alice@example.com")]
    assert plan.deletions() == {"group": 1, "user": 1}


def test_two_google_groups_mapping_to_one_name_sync_only_the_first() -> None:
    twin = GoogleGroup("g-twin", "twin@example.com", "T", "Eng", frozenset({"g-bob"}))

    plan = build_plan(
        google(ALICE, BOB, groups=(ENG, twin)), IdentityCenterSnapshot((), ()), State(), RULES
    )

    assert [op.label for op in plan.operations if op.resource == "group"] == ["Eng"]
    assert any("both map" in w for w in plan.warnings)


def test_plan_is_deterministic() -> None:
    users = [GoogleUser(f"g{i}", f"u{i}@example.com", "U", str(i), "") for i in range(30)]
    group = GoogleGroup("g-eng", "eng@example.com", "E", "Eng", frozenset(u.id for u in users))
    first = build_plan(
        google(*users, groups=(group,)), IdentityCenterSnapshot((), ()), State(), RULES
    )
    second = build_plan(
        google(*reversed(users), groups=(group,)), IdentityCenterSnapshot((), ()), State(), RULES
    )

    assert first.operations == second.operations


def test_a_google_group_mapped_onto_a_protected_name_is_never_created() -> None:
    group = GoogleGroup(
        "g-x", "x@example.com", "X", "AWSControlTowerAdmins", frozenset({"g-alice"})
    )

    plan = build_plan(
        google(ALICE, groups=(group,)), IdentityCenterSnapshot((), ()), State(), RULES
    )

    assert all(op.resource != "group" for op in plan.operations)
    assert any("protected" in w for w in plan.warnings)
