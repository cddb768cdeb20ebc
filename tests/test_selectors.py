"""Account selectors: every kind, AND within a mapping, OR across a list, exclusion wins,
only ACTIVE accounts, the management account only on an explicit opt-in."""

import pytest

from sync.model import Account
from sync.rules.selectors import parse_selector, select_accounts

MANAGEMENT = Account("000000000000", "Management", "ACTIVE", "/")
PRODUCTION = Account(
    "111111111111", "Production", "ACTIVE", "/Workloads/Production", {"env": "prod"}
)
STAGING = Account("222222222222", "Staging", "ACTIVE", "/Workloads/Staging", {"env": "stage"})
ANALYTICS = Account(
    "333333333333", "Analytics-Dev", "ACTIVE", "/Workloads/Development/Data", {"data": "analytics"}
)
SANDBOX = Account(
    "444444444444", "sandbox-lena", "ACTIVE", "/Sandbox", {"owner": "lena@example.com"}
)
CLOSED = Account("555555555555", "Old", "SUSPENDED", "/Workloads/Production")
ALL = (MANAGEMENT, PRODUCTION, STAGING, ANALYTICS, SANDBOX, CLOSED)


def chosen(include: list, exclude: list | None = None, management: bool = False) -> set[str]:
    accounts = select_accounts(
        ALL,
        tuple(parse_selector(s) for s in include),
        tuple(parse_selector(s) for s in exclude or []),
        MANAGEMENT.id,
        management,
    )
    return {account.name for account in accounts}


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("ou:/Workloads/Production", {"Production"}),
        ("ou:/Workloads", set()),
        ("ou:/Workloads/**", {"Production", "Staging", "Analytics-Dev"}),
        ("ou:/**", {"Production", "Staging", "Analytics-Dev", "sandbox-lena"}),
        ("name:sandbox-*", {"sandbox-lena"}),
        ("name:PRODUCTION", {"Production"}),
        ("id:222222222222", {"Staging"}),
        ("tag:env=prod", {"Production"}),
        ("tag:env=*", {"Production", "Staging"}),
        ("all", {"Production", "Staging", "Analytics-Dev", "sandbox-lena"}),
        ("management", {"Management"}),
        ({"ou": "/Workloads/**", "tag": "data=analytics"}, {"Analytics-Dev"}),
        ({"ou": "/Workloads/**", "tag": "env=dev"}, set()),
    ],
)
def test_each_selector_kind(selector: object, names: set[str]) -> None:
    assert chosen([selector]) == names


def test_a_list_ors_and_exclude_wins() -> None:
    assert chosen(["ou:/Workloads/Production", "ou:/Sandbox"]) == {"Production", "sandbox-lena"}
    assert chosen(["ou:/Workloads/**"], exclude=["tag:env=prod"]) == {"Staging", "Analytics-Dev"}


def test_management_account_only_on_opt_in() -> None:
    assert "Management" not in chosen(["all"])
    assert "Management" in chosen(["all"], management=True)
    assert chosen(["id:000000000000"]) == set()
    assert chosen(["id:000000000000"], management=True) == {"Management"}


def test_suspended_accounts_are_never_chosen() -> None:
    assert "Old" not in chosen(["ou:/Workloads/Production", "id:555555555555"])


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("everything", "is not one of"),
        ("ou:Workloads", "an OU path"),
        ("ou:/Workloads/*", "an OU path"),
        ("id:12345", "12 digits"),
        ("tag:env", "key=value"),
        ("region:eu-west-1", "unknown selector kind"),
        ({"ou": "/A", "colour": "blue"}, "unknown selector kind"),
        (42, "a selector is a string"),
    ],
)
def test_bad_selectors_say_what_is_wrong(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_selector(raw)
