"""Synthetic Google directories for the benchmark: realistic shapes, deterministic."""

import random

from sync.local.google_directory import GoogleDirectoryEmulator

DOMAIN = "example.com"
TEAM_SIZE = 25


def seed_directory(google: GoogleDirectoryEmulator, users: int, seed: int = 1) -> list[str]:
    """`users` people in teams of about 25; departments of teams (nested groups); three very
    large groups; about 4 memberships a person. Returns the synced group emails."""
    chance = random.Random(seed)
    emails = [f"user{index:06}@{DOMAIN}" for index in range(users)]
    for index, email in enumerate(emails):
        google.add_user(email, "User", str(index), suspended=chance.random() < 0.01)
    teams = max(1, users // TEAM_SIZE)
    departments = max(1, teams // 8)
    synced = []
    for department in range(departments):
        google.add_group(f"aws-dept-{department:04}@{DOMAIN}")
        synced.append(f"aws-dept-{department:04}@{DOMAIN}")
    for team in range(teams):
        group = f"aws-team-{team:05}@{DOMAIN}"
        google.add_group(group)
        synced.append(group)
        google.add_member(f"aws-dept-{team % departments:04}@{DOMAIN}", group)
    large_groups = (("aws-everyone", 1.0), ("aws-engineering", 0.5), ("aws-readonly", 0.3))
    for name, _share in large_groups:
        google.add_group(f"{name}@{DOMAIN}")
        synced.append(f"{name}@{DOMAIN}")
    for index, email in enumerate(emails):
        google.add_member(f"aws-team-{index % teams:05}@{DOMAIN}", email)
        for name, share in large_groups:
            if chance.random() < share:
                google.add_member(f"{name}@{DOMAIN}", email)
    return synced


def churn(google: GoogleDirectoryEmulator, share: float, seed: int = 2) -> int:
    """About `share` of the people change: half leave (suspended), half join a team."""
    chance = random.Random(seed)
    people = sorted(u.primary_email for u in google.users.values() if not u.is_admin)
    changes = max(2, int(len(people) * share))
    for email in chance.sample(people, changes // 2):
        google.user_by_email(email).suspended = True  # type: ignore[union-attr]
    teams = sorted(g.email for g in google.groups.values() if g.email.startswith("aws-team-"))
    for index in range(changes - changes // 2):
        email = f"newhire{index:05}@{DOMAIN}"
        google.add_user(email, "New", str(index))
        google.add_member(chance.choice(teams), email)
        google.add_member(f"aws-everyone@{DOMAIN}", email)
    return changes


def give_profiles(google: GoogleDirectoryEmulator) -> None:
    """HR fields for everyone seeded above: a department and cost center by team, and the
    team's first member as every other member's manager."""
    users = sorted(google.users.values(), key=lambda user: user.primary_email)
    people = [user for user in users if user.primary_email.startswith("user")]
    teams = max(1, len(people) // TEAM_SIZE)
    for index, user in enumerate(people):
        team = index % teams
        lead = people[team].primary_email
        google.set_profile(
            user.primary_email,
            organizations=[
                {"primary": True, "department": f"Dept {team // 8}", "costCenter": f"CC-{team}"}
            ],
            relations=None if index == team else [{"type": "manager", "value": lead}],
        )


def manager_updates(google: GoogleDirectoryEmulator, synced_users: frozenset[str]) -> int:
    """Users a first sync gives a manager it creates in the same run: one update each, after
    the manager exists (both synced)."""
    return sum(
        1
        for user in google.users.values()
        if user.primary_email.lower() in synced_users
        and (relations := user.profile.get("relations"))
        and relations[0]["value"].lower() in synced_users
    )
