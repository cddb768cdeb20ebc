"""Checks that refuse a run before anything is applied (exit 3)."""

from sync.errors import SafeguardRefusal
from sync.model import GoogleSnapshot
from sync.planning.plan import Plan
from sync.rules.model import Rules


def check_google_answer(google: GoogleSnapshot) -> None:
    """An empty answer from Google is an error, never 'everyone left'."""
    if not google.users:
        raise SafeguardRefusal("Google returned no users; refusing to remove everyone")
    if google.groups and not any(group.member_ids for group in google.groups):
        raise SafeguardRefusal(
            "Google returned no members for every synced group; refusing to remove everyone"
        )


def check_deletions(plan: Plan, rules: Rules, allow_mass_delete: bool) -> None:
    if allow_mass_delete:
        return
    excessive = []
    for resource, count in sorted(plan.deletions().items()):
        limit = rules.deletion_limit(plan.managed[resource])
        if count > limit:
            excessive.append(
                f"{count} {resource} deletions (limit {limit} of {plan.managed[resource]} managed)"
            )
    if excessive:
        raise SafeguardRefusal(
            "refusing a mass deletion: "
            + "; ".join(excessive)
            + ". Check Google and the rules file, then re-run with --allow-mass-delete "
            "if this is intended."
        )
