"""Account selectors of the rules file, and their evaluation against the Organization.

`ou:/Workloads/Production` (accounts directly in that OU), `ou:/Workloads/**` (recursive),
`name:<glob>`, `id:<12 digits>`, `tag:key=value` (value may be `*`), `all`, and `management`
(the management account, which no other selector matches). A mapping such as
`{ou: /Workloads/**, tag: data=analytics}` ANDs its parts; a list of selectors ORs them.
"""

import fnmatch
import re
from dataclasses import dataclass

from sync.model import Account

KINDS = ("ou", "name", "id", "tag")
ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_PATH = re.compile(r"^(?:/|(?:/[^/*]+)+|(?:/[^/*]+)*/\*\*)$")


@dataclass(frozen=True)
class Condition:
    kind: str  # ou, name, id, tag, all or management
    value: str = ""

    def matches(self, account: Account, management_account_id: str) -> bool:
        match self.kind:
            case "all":
                return True
            case "management":
                return account.id == management_account_id
            case "id":
                return account.id == self.value
            case "name":
                return fnmatch.fnmatchcase(account.name.lower(), self.value.lower())
            case "tag":
                key, _, value = self.value.partition("=")
                return key in account.tags and value in ("*", account.tags[key])
            case _:
                if self.value.endswith("/**"):
                    base = self.value.removesuffix("/**")
                    return account.ou_path == (base or "/") or account.ou_path.startswith(
                        base + "/"
                    )
                return account.ou_path == self.value


@dataclass(frozen=True)
class Selector:
    """Conditions that must all hold."""

    conditions: tuple[Condition, ...]
    text: str

    @property
    def is_management(self) -> bool:
        return any(condition.kind == "management" for condition in self.conditions)

    def matches(self, account: Account, management_account_id: str) -> bool:
        return all(c.matches(account, management_account_id) for c in self.conditions)


def parse_selector(raw: object) -> Selector:
    """A selector from the rules file; ValueError says what is wrong with it."""
    if isinstance(raw, str):
        if raw in ("all", "management"):
            return Selector((Condition(raw),), raw)
        kind, separator, value = raw.partition(":")
        if not separator:
            raise ValueError(
                f"selector {raw!r} is not one of all, management, ou:, name:, id:, tag:"
            )
        return Selector((_condition(kind, value, raw),), raw)
    if isinstance(raw, dict) and raw:
        conditions = tuple(_condition(str(kind), str(value), raw) for kind, value in raw.items())
        text = "{" + ", ".join(f"{k}: {v}" for k, v in raw.items()) + "}"
        return Selector(conditions, text)
    raise ValueError(f"a selector is a string such as 'ou:/Workloads/**' or a mapping, not {raw!r}")


def _condition(kind: str, value: str, raw: object) -> Condition:
    if kind not in KINDS:
        raise ValueError(
            f"unknown selector kind {kind!r} in {raw!r}; use one of {', '.join(KINDS)}"
        )
    if kind == "ou" and not OU_PATH.match(value):
        raise ValueError(f"{raw!r}: an OU path looks like /Workloads/Production or /Workloads/**")
    if kind == "id" and not ACCOUNT_ID.match(value):
        raise ValueError(f"{raw!r}: an account id has 12 digits")
    if kind == "tag" and ("=" not in value or value.startswith("=")):
        raise ValueError(f"{raw!r}: a tag selector is key=value (value may be *)")
    if kind == "name" and not value:
        raise ValueError(f"{raw!r}: a name selector needs a pattern")
    return Condition(kind, value)


def select_accounts(
    accounts: tuple[Account, ...],
    include: tuple[Selector, ...],
    exclude: tuple[Selector, ...],
    management_account_id: str,
    include_management: bool,
) -> list[Account]:
    """ACTIVE accounts matched by any `include` and no `exclude` selector. The management
    account only through the `management` selector or `include_management`."""
    return [
        account
        for account, _ in matched_accounts(
            accounts, include, exclude, management_account_id, include_management
        )
    ]


def matched_accounts(
    accounts: tuple[Account, ...],
    include: tuple[Selector, ...],
    exclude: tuple[Selector, ...],
    management_account_id: str,
    include_management: bool,
) -> list[tuple[Account, Selector]]:
    """`select_accounts`, each account with the first selector that chose it."""
    chosen = []
    for account in accounts:
        if account.status != "ACTIVE":
            continue
        matching = [s for s in include if s.matches(account, management_account_id)]
        if account.id == management_account_id and not include_management:
            matching = [s for s in matching if s.is_management]
        if matching and not any(s.matches(account, management_account_id) for s in exclude):
            chosen.append((account, matching[0]))
    return chosen
