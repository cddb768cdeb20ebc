"""What the commands print: the plan as a diff, the result as a table, access as greppable lines
(or JSON)."""

import csv
import difflib
import json
import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.status import Status
from rich.table import Table

from sync.apply.executor import ApplyResult
from sync.bootstrap.planner import Step
from sync.bootstrap.run import BootstrapReport
from sync.errors import ConfigError
from sync.model import Account, OrganizationSnapshot
from sync.planning.access_report import AccessAnswer, AccessLine, accounts_named
from sync.planning.plan import (
    Action,
    Operation,
    Plan,
    PrincipalOperation,
    ValueChange,
    masked,
    operation_json,
    value_changes,
)
from sync.records.streamed_json import write_json
from sync.reporting.access_matrix import cells_of
from sync.run import RunReport

SYMBOLS = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.ADOPT: ("=", "cyan"),
    Action.FORGET: ("?", "dim"),
    Action.PROVISION: ("~", "yellow"),
}
SECTIONS = (
    ("group", "Groups"),
    ("user", "Users"),
    ("membership", "Memberships"),
    ("permission_set", "Permission sets"),
    ("assignment", "Assignments"),
    ("access_control", "Session tags (attributes for access control)"),
)
VERBS = {("assignment", Action.CREATE): "assign", ("assignment", Action.DELETE): "unassign"}


def terminal(stderr: bool = False) -> Console:
    """The console every command prints through. Markup is ours (values go through `escape`);
    emoji codes and highlighting are off, so a name, path or error holding `:100:` or
    `:skull:` prints as it is."""
    return Console(stderr=stderr, emoji=False, highlight=False, soft_wrap=True)


def print_plan(plan: Plan, console: Console, read: str = "") -> None:
    """The plan, section by section, and its summary line; `read` says what a partial run
    (a delta run) read, so that no change is not taken for everything matching."""
    for resource, title in SECTIONS:
        operations = [op for op in plan.operations if op.resource == resource]
        if not operations:
            continue
        console.print(f"[bold]{title}[/bold]")
        for operation in operations:
            symbol, colour = SYMBOLS[operation.action]
            verb = VERBS.get((operation.resource, operation.action), operation.action.value)
            console.print(
                f"  [{colour}]{symbol} {verb:<6} {escape(operation.label)}[/{colour}]"
                f"  [dim]# {escape(operation.reason)}[/dim]",
                highlight=False,
                soft_wrap=True,
            )
            if created := created_attributes(operation):
                console.print(f"      {escape(created)}", highlight=False, soft_wrap=True)
            for change in value_changes(operation):
                for line in value_change_lines(change):
                    console.print(f"      {escape(line)}", highlight=False, soft_wrap=True)
    for warning in plan.warnings:
        console.print(f"[yellow]! {escape(warning)}[/yellow]", highlight=False, soft_wrap=True)
    console.print(summary_line(plan, read))


def created_attributes(operation: Operation) -> str:
    """A new user's mapped attributes (the rules' attributes.user), on one line."""
    if operation.action is not Action.CREATE or not isinstance(operation, PrincipalOperation):
        return ""
    extra = getattr(operation.attributes, "extra", ())
    return ", ".join(
        f"{name}: {masked(operation, name, value)}" for name, value in extra if value is not None
    )


def value_change_lines(change: ValueChange) -> list[str]:
    """`field: before → after`; a structured value (a policy, a list) as a unified diff of its
    JSON."""
    if not isinstance(change.before, dict | list) and not isinstance(change.after, dict | list):
        return [f"{change.field}: {_literal(change.before)} → {_literal(change.after)}"]
    before, after = (_json_lines(value) for value in (change.before, change.after))
    diff = list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]
    return [f"{change.field}:", *(f"  {line}" for line in diff)]


def _literal(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _json_lines(value: Any) -> list[str]:
    if value is None:
        return []
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def summary_line(plan: Plan, read: str = "") -> str:
    counts = plan.counts()
    held = f" {plan.held_back} deletion(s) held back by --no-delete." if plan.held_back else ""
    if not plan.operations and plan.held_back:
        return f"Plan: no changes but deletions.{held}"
    if not plan.operations and read:
        return f"Plan: no changes for {read}."
    if not plan.operations:
        return "Plan: no changes. Identity Center matches Google Workspace."
    parts = []
    for action in Action:
        total = sum(n for (_, a), n in counts.items() if a == action.value)
        if total:
            parts.append(f"{total} to {action.value}")
    return f"Plan: {', '.join(parts)} ({plan.writes()} API writes).{held}"


def print_result(result: ApplyResult, console: Console) -> None:
    table = Table(title="Applied", show_edge=False)
    table.add_column("operation")
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    done = result.counts()
    keys = sorted({key.removesuffix(".failed") for key in done})
    for key in keys:
        table.add_row(key, str(done[key]), str(done[f"{key}.failed"] or ""))
    if keys:
        console.print(table)
    for failure in result.failures:
        console.print(
            f"[red]✗ {failure.operation.resource} {failure.operation.action.value} "
            f"{escape(failure.operation.label)}: {escape(failure.error or '')}[/red]",
            highlight=False,
        )


BOOTSTRAP_SYMBOLS = {
    Step.DETACH_SCP: ("-", "red"),
    Step.UPDATE_SCP: ("~", "yellow"),
    Step.UPDATE_BUDGET: ("~", "yellow"),
    Step.MOVE_ACCOUNT: ("~", "yellow"),
    Step.TAG_ACCOUNT: ("~", "yellow"),
    Step.UPDATE_STACK_SET: ("~", "yellow"),
    Step.WITHDRAW_STACK_SET: ("-", "red"),
    Step.DELETE_STACK_SET: ("-", "red"),
    Step.DEREGISTER_ADMINISTRATOR: ("-", "red"),
    Step.ADOPT_OIDC_PROVIDER: ("=", "cyan"),
    Step.RETRY_STACK_INSTANCE: ("~", "yellow"),
}


def print_bootstrap(report: BootstrapReport, console: Console) -> None:
    for operation in report.plan.operations:
        symbol, colour = BOOTSTRAP_SYMBOLS.get(operation.step, ("+", "green"))
        console.print(
            f"  [{colour}]{symbol} {operation.step.value} {escape(operation.target)}[/{colour}]"
            f"  [dim]# {escape(operation.reason)}[/dim]",
            highlight=False,
            soft_wrap=True,
        )
        for line in operation.shows:
            console.print(f"      {escape(line)}", highlight=False, soft_wrap=True)
    for notice in report.plan.notices:
        console.print(f"[yellow]! {escape(notice)}[/yellow]", highlight=False, soft_wrap=True)
    if report.plan.deploy_roles:
        console.print("CI deploy roles (role-to-assume in GitHub Actions workflows):")
        for role in report.plan.deploy_roles:
            console.print(f"  {escape(role)}", highlight=False, soft_wrap=True)
    steps = len(report.plan.operations)
    console.print(f"Bootstrap plan: {steps} steps." if steps else "Bootstrap plan: no changes.")
    for blocker in report.plan.blockers:
        console.print(
            f"[red bold]Refused:[/red bold] {escape(blocker)}", highlight=False, soft_wrap=True
        )
    if report.result is None:
        return
    failures = report.result.failures
    for failure in failures:
        console.print(
            f"[red]✗ {failure.operation.step.value} {escape(failure.operation.target)}: "
            f"{escape(failure.error or '')}[/red]",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"Applied {steps - len(failures)} of {steps} steps.")


def _what_was_read(feed: dict[str, Any] | None) -> str:
    if feed is None:
        return ""
    named = len(feed["users"]) + len(feed["groups"])
    if not named:
        return (
            "anyone: nothing new in the change feed, so nothing was read (each full sync "
            "compares everything)"
        )
    return f"the {named} people and groups the change feed named (a full sync compares the rest)"


def print_feed(feed: dict[str, Any], console: Console) -> None:
    """What a delta run found in Google's change feed."""
    named = [*feed["users"], *feed["groups"]]
    console.print(
        f"Change feed since {feed['since']}: {feed['events']} events, "
        f"{feed['new_events']} new"
        + (f"; re-reading {escape(', '.join(named))}" if named else "; nothing to sync")
    )


def show_access(
    answer: AccessAnswer,
    console: Console,
    subject: str,
    as_json: bool | str = False,
    person: str | None = None,
) -> None:
    """One greppable line per account and permission set, with the reason: for `person`, or
    else for each person reaching them; or JSON, or CSV with `as_json="csv"` (a row a
    person). For a person the rules give nothing, why."""
    lines = answer.lines

    def people(line: AccessLine) -> list[str]:
        return [p for p in line.people if person is None or p.lower() == person.lower()]

    if as_json == "csv":  # one row a person: what a spreadsheet filters and counts
        writer = csv.writer(sys.stdout)
        writer.writerow(["account", "account_id", "permission_set", "person", "through", "why"])
        for line in lines:
            for someone in people(line):
                writer.writerow(
                    _inert(value)
                    for value in (
                        line.account,
                        line.account_id,
                        line.permission_set,
                        someone,
                        line.principal,
                        line.why,
                    )
                )
        return
    if as_json:
        body: Any = [line.to_json() for line in lines]
        if answer.why_not:
            body = {"access": body, "why_not": answer.why_not}
        print(json.dumps(body, indent=2))
        return
    if not lines:
        reason = f" ({answer.why_not})" if answer.why_not else ""
        console.print(f"{escape(subject)}: no access to any account{escape(reason)}.")
        return
    console.print(f"[bold]{escape(subject)}[/bold]")
    rows = sorted(lines, key=lambda x: (x.account.lower(), x.permission_set, x.principal))
    width = max(len(f"{row.account} ({row.account_id})") for row in rows)
    for row in rows:
        line = f"  {row.account + ' (' + row.account_id + ')':<{width}}  {row.permission_set:<20}"
        if person is None:  # who reaches these accounts: each person, and through what
            via = f"member of {row.principal}; " if row.principal.startswith("group") else ""
            for someone in row.people:
                console.print(
                    f"{escape(line)}  {escape(someone)}  [dim]# {escape(via + row.why)}[/dim]",
                    highlight=False,
                )
            continue
        console.print(f"{escape(line)}  {escape(row.principal)}  [dim]# {escape(row.why)}[/dim]")


def _inert(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: an account or group name starting with = + - @
    (or a tab or carriage return) would otherwise run as a formula (OWASP: CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def show_matrix(
    report: dict[str, Any], console: Console, person: str | None, account: str | None
) -> None:
    """The access report's matrix for a quick look: people with access (or the one asked
    about) x the accounts they reach, each cell the permission sets as short codes."""
    accounts, sets = report["accounts"], report["permission_sets"]
    columns = set(range(len(accounts)))
    if account is not None:
        org = OrganizationSnapshot(
            report["management_account_id"],
            tuple(Account(a["id"], a["name"], "ACTIVE", a["ou"], a["tags"]) for a in accounts),
        )
        chosen = {a.id for a in accounts_named(account, org)}
        columns = {i for i, a in enumerate(accounts) if a["id"] in chosen}
    people = [
        p
        for p in report["people"]
        if (person is None or p["email"].lower() == person.lower())
        and (person is not None or any(a in columns for a in p["access"][::2]))
    ]
    if person is not None and not people:
        raise ConfigError(f"{person} is not among the people the rules sync")
    used = sorted({a for p in people for a in p["access"][::2] if a in columns})
    codes = short_codes([ps["name"] for ps in sets])
    rows = [
        (
            row["email"],
            {
                index: " ".join(sorted({codes[ps] for ps, _ in entries}))
                for index, entries in cells_of(report, row).items()
            },
        )
        for row in people
    ]
    width = {
        index: max(
            [len(accounts[index]["name"])] + [len(cells.get(index, "")) for _, cells in rows]
        )
        for index in used
    }
    person_width = max([len("person")] + [len(email) for email, _ in rows])
    parts = _columns_that_fit(used, width, console.width - person_width - 4)
    console.print(escape(report["view_label"]))
    for part in parts:
        title = None
        if len(parts) > 1:
            first, last = used.index(part[0]) + 1, used.index(part[-1]) + 1
            title = f"Accounts {first} to {last} of {len(used)}"
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("person", no_wrap=True)
        for index in part:
            table.add_column(escape(accounts[index]["name"]), justify="center", no_wrap=True)
        for email, cells in rows:
            table.add_row(escape(email), *(cells.get(index) or "·" for index in part))
        console.print(table)
    legend = [f"{codes[i]} {ps['name']}" for i, ps in enumerate(sets)]
    console.print("[dim]" + escape(", ".join(legend)) + "[/dim]")
    console.print(
        f"{len(people)} people x {len(used)} accounts. Why: sso-sync access EMAIL; the whole "
        "picture: sso-sync report --html FILE."
    )


def _columns_that_fit(used: list[int], width: dict[int, int], room: int) -> list[list[int]]:
    """The account columns in runs that each fit `room` characters beside the person column
    (a column takes its text, two of padding and a border), at least one column a run."""
    parts: list[list[int]] = [[]]
    taken = 0
    for index in used:
        needed = width[index] + 3
        if parts[-1] and taken + needed > room:
            parts.append([])
            taken = 0
        parts[-1].append(index)
        taken += needed
    return parts


def short_codes(names: list[str]) -> list[str]:
    """Distinct short codes from names: the capitals of PowerUser -> PU."""
    codes: list[str] = []
    for name in names:
        code = "".join(c for c in name if c.isupper() or c.isdigit()) or name[:2].upper()
        candidate, n = code, 2
        while candidate in codes:
            candidate, n = f"{code}{n}", n + 1
        codes.append(candidate)
    return codes


def show_report(
    report: RunReport, console: Console, as_json: bool = False, show_plan: bool = True
) -> None:
    if as_json:
        body = report.plan.to_json()
        if report.applied is not None:
            body["results"] = (
                operation_json(outcome.operation)
                | {
                    "result": "skipped"
                    if outcome.skipped
                    else "success"
                    if outcome.ok
                    else "failed",
                    "attempts": outcome.attempts,
                    "error": outcome.error or outcome.skipped,
                }
                for outcome in report.applied.outcomes
            )
        body["run"] = report.summary()
        write_json(body, sys.stdout)
        return
    if report.feed is not None:
        print_feed(report.feed, console)
    if report.busy:
        console.print(
            f"[yellow]Busy:[/yellow] {escape(report.busy)}; the next delta run picks this up."
        )
        return
    if report.planned and show_plan:
        print_plan(report.plan, console, _what_was_read(report.feed))
    if report.refused:
        console.print(f"[red bold]Refused:[/red bold] {escape(report.refused)}")
    if report.applied is not None:
        print_result(report.applied, console)
        calls = sum(report.aws_calls.values())
        console.print(
            f"Run {report.run_id}: {len(report.applied.outcomes)} operations, "
            f"{len(report.applied.failures)} failed, {calls} Identity Center calls, "
            f"{report.seconds:.1f}s."
        )
        if report.applied.postponed:
            console.print(
                f"[yellow]Incomplete, continuing: the time budget ran out with "
                f"{report.applied.postponed} operations to go; the next run does them.[/yellow]"
            )


class ApplyProgress:
    """Apply progress: on a terminal, rich's bar with done/total, rate and time left; elsewhere
    (a pipe, CI, Lambda's log) one plain line every `every` seconds."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self._console = console
        self._every = every
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._said = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._reading: Status | None = None

    def __enter__(self) -> "ApplyProgress":
        if self._console.is_terminal:
            self._reading = self._console.status(
                "Reading Google Workspace, Identity Center and the Organization, then planning"
            )
            self._reading.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.read_done()
        if self._bar is not None:
            self._bar.stop()

    def read_done(self) -> None:
        """The reads are over (a plan to show, or the apply begins)."""
        if self._reading is not None:
            self._reading.stop()
            self._reading = None

    def __call__(self, done: int, total: int, failed: int) -> None:
        self.read_done()
        with self._lock:
            if self._console.is_terminal:
                self._show_bar(done, total, failed)
                return
            now = time.monotonic()
            if now - self._said < self._every and done < total:
                return
            self._said = now
            self._console.print(progress_line(done, total, failed, now - self._started))

    def _show_bar(self, done: int, total: int, failed: int) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("Applying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("apply", total=total, failed=0)
        assert self._task is not None
        self._bar.update(self._task, completed=done, failed=failed)


def progress_line(done: int, total: int, failed: int, seconds: float) -> str:
    rate = done / seconds if seconds > 0 else 0.0
    left = f", about {int((total - done) / rate)} s left" if rate and done < total else ""
    return f"Applied {done}/{total} operations, {failed} failed, {rate:.1f}/s{left}"
