"""Properties of the planner over generated directories, applied to an in-memory Identity
Center: one apply converges (the next plan is empty), and unmanaged objects survive."""

import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

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
from sync.planning.identity_planner import build_plan
from sync.planning.plan import Action, MembershipOperation, Plan
from sync.rules.loader import parse_rules

RULES = parse_rules(
    "version: 1\nsync: {groups: [{email: g0@example.com}]}\n"
    "protect: {users: ['root*'], groups: ['AWSControlTower*']}\n"
)
USER_IDS = [f"u{i}" for i in range(6)]
GROUP_IDS = ["g0", "g1", "g2"]
NEW_IDS = itertools.count()  # ids AWS hands out, unique across applies


def apply_in_memory(
    plan: Plan, idc: IdentityCenterSnapshot, state: State
) -> tuple[IdentityCenterSnapshot, State]:
    """What Identity Center and the state look like after the plan, as AWS would behave."""
    users = {u.user_id: u for u in idc.users}
    groups = {g.group_id: g for g in idc.groups}
    memberships = {m.membership_id: m for m in idc.memberships}
    state = State(dict(state.users), dict(state.groups))
    for _, operations in plan.phases():
        for op in operations:
            if isinstance(op, MembershipOperation):
                if op.action is Action.CREATE:
                    new = IdcMembership(
                        f"m-new{next(NEW_IDS)}",
                        state.groups[op.group_google_id],
                        state.users[op.user_google_id],
                    )
                    memberships[new.membership_id] = new
                else:
                    del memberships[op.membership_id]
                continue
            is_user = op.resource == "user"
            table, objects = (state.users, users) if is_user else (state.groups, groups)
            object_id = op.object_id
            if op.action is Action.CREATE:
                object_id = f"{op.resource}-new{next(NEW_IDS)}"
                kind = IdcUser if is_user else IdcGroup
                objects[object_id] = kind(object_id, op.attributes)
                table[op.google_id] = object_id
            elif op.action is Action.UPDATE:
                objects[object_id] = replace(objects[object_id], attributes=op.attributes)
            elif op.action is Action.DELETE:
                del objects[object_id]
                table.pop(op.google_id)
                memberships = {
                    k: m for k, m in memberships.items() if object_id not in (m.user_id, m.group_id)
                }
            elif op.action is Action.ADOPT:
                table[op.google_id] = object_id
            else:
                table.pop(op.google_id)
    snapshot = IdentityCenterSnapshot(
        tuple(users.values()), tuple(groups.values()), tuple(memberships.values())
    )
    return snapshot, state


@st.composite
def directories(draw: st.DrawFn, emails: dict[str, str] | None = None) -> GoogleSnapshot:
    """Six people; one may take the protected address root@example.com. Given the previous
    addresses, each person keeps theirs or moves to a fresh one (never another's)."""
    users: dict[str, GoogleUser] = {}
    for uid in USER_IDS:
        if emails is None:
            email = draw(st.sampled_from([f"{uid}@example.com", "root@example.com"]))
            if any(user.primary_email == email for user in users.values()):
                email = f"{uid}@example.com"
        else:
            email = draw(st.sampled_from([emails[uid], f"{uid}.renamed@example.com"]))
        users[uid] = GoogleUser(
            uid,
            email,
            draw(st.sampled_from(["Ann", "Bo"])),
            "X",
            "",
            suspended=draw(st.booleans()) and draw(st.booleans()),
        )
    groups = tuple(
        GoogleGroup(
            gid,
            f"{gid}@example.com",
            gid,
            draw(st.sampled_from([f"{gid}@example.com", f"Team-{gid}", "AWSControlTowerX"])),
            frozenset(draw(st.sets(st.sampled_from(USER_IDS)))),
        )
        for gid in draw(st.lists(st.sampled_from(GROUP_IDS), unique=True))
    )
    return GoogleSnapshot(users, groups)


@st.composite
def hand_made(draw: st.DrawFn) -> IdentityCenterSnapshot:
    """Objects made before sso-sync: some share names with Google users (adoption), some are
    protected, all may hold memberships."""
    names = draw(
        st.sets(st.sampled_from([*(f"{u}@example.com" for u in USER_IDS), "root@example.com"]))
    )
    users = tuple(
        IdcUser(f"h-{name}", UserAttributes(name, "Hand", "H", "M", name)) for name in sorted(names)
    )
    group_names = draw(st.sets(st.sampled_from(["Team-g0", "AWSControlTowerX", "Other"])))
    groups = tuple(IdcGroup(f"h-{n}", GroupAttributes(n, "by hand")) for n in sorted(group_names))
    memberships = tuple(
        IdcMembership(f"h-{u.user_id}-{g.group_id}", g.group_id, u.user_id)
        for u in users
        for g in groups
        if draw(st.booleans())
    )
    return IdentityCenterSnapshot(users, groups, memberships)


@given(data=st.data())
def test_one_apply_converges_and_protected_objects_survive(data: st.DataObject) -> None:
    initial = data.draw(hand_made())
    first = data.draw(directories())
    idc, state = apply_in_memory(build_plan(first, initial, State(), RULES), initial, State())
    assert build_plan(first, idc, state, RULES).operations == ()

    later = data.draw(directories({uid: u.primary_email for uid, u in first.users.items()}))
    idc, state = apply_in_memory(build_plan(later, idc, state, RULES), idc, state)
    assert build_plan(later, idc, state, RULES).operations == ()

    protected_users = [u for u in initial.users if u.attributes.user_name.startswith("root")]
    assert all(user in idc.users for user in protected_users)
    assert all(
        group in idc.groups
        for group in initial.groups
        if group.attributes.display_name != "Team-g0"  # the one name Google may map to
    )
    remaining_groups = {group.group_id for group in idc.groups}
    assert all(
        membership in idc.memberships
        for membership in initial.memberships
        if membership.user_id == "h-root@example.com" and membership.group_id in remaining_groups
    )
