"""Human-readable output: the plan as a diff, the result as a table."""

from typing import Any

from rich.console import Console
from rich.table import Table

from sync.bootstrap.planner import Step
from sync.bootstrap.run import BootstrapReport
from sync.executor import ApplyResult
from sync.plan import Action, PermissionSetOperation, Plan, PrincipalOperation

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
)
VERBS = {("assignment", Action.CREATE): "assign", ("assignment", Action.DELETE): "unassign"}


def print_plan(plan: Plan, console: Console) -> None:
    for resource, title in SECTIONS:
        operations = [op for op in plan.operations if op.resource == resource]
        if not operations:
            continue
        console.print(f"[bold]{title}[/bold]")
        for operation in operations:
            symbol, colour = SYMBOLS[operation.action]
            verb = VERBS.get((operation.resource, operation.action), operation.action.value)
            changes = ""
            if isinstance(operation, PrincipalOperation):
                changes = ", ".join(path for path, _ in operation.changes)
            elif isinstance(operation, PermissionSetOperation):
                changes = ", ".join(operation.changes)
            detail = f" ({changes})" if changes else ""
            console.print(
                f"  [{colour}]{symbol} {verb:<6} {operation.label}[/{colour}]"
                f"{detail}  [dim]# {operation.reason}[/dim]",
                highlight=False,
                soft_wrap=True,
            )
    for warning in plan.warnings:
        console.print(f"[yellow]! {warning}[/yellow]", highlight=False, soft_wrap=True)
    console.print(summary_line(plan))


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    if not plan.operations:
        return "Plan: no changes. Identity Center matches Google Workspace."
    parts = []
    for action in Action:
        total = sum(n for (_, a), n in counts.items() if a == action.value)
        if total:
            parts.append(f"{total} to {action.value}")
    return f"Plan: {', '.join(parts)} ({plan.writes()} API writes)."


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
            f"{failure.operation.label}: {failure.error}[/red]",
            highlight=False,
        )


BOOTSTRAP_SYMBOLS = {
    Step.DETACH_SCP: ("-", "red"),
    Step.UPDATE_SCP: ("~", "yellow"),
    Step.UPDATE_BUDGET: ("~", "yellow"),
    Step.MOVE_ACCOUNT: ("~", "yellow"),
    Step.TAG_ACCOUNT: ("~", "yellow"),
}


def print_bootstrap(report: BootstrapReport, console: Console) -> None:
    for operation in report.plan.operations:
        symbol, colour = BOOTSTRAP_SYMBOLS.get(operation.step, ("+", "green"))
        console.print(
            f"  [{colour}]{symbol} {operation.step.value} {operation.target}[/{colour}]"
            f"  [dim]# {operation.reason}[/dim]",
            highlight=False,
            soft_wrap=True,
        )
    for notice in report.plan.notices:
        console.print(f"[yellow]! {notice}[/yellow]", highlight=False, soft_wrap=True)
    steps = len(report.plan.operations)
    console.print(f"Bootstrap plan: {steps} steps." if steps else "Bootstrap plan: no changes.")
    if report.result is None:
        return
    failures = report.result.failures
    for failure in failures:
        console.print(
            f"[red]✗ {failure.operation.step.value} {failure.operation.target}: "
            f"{failure.error}[/red]",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"Applied {steps - len(failures)} of {steps} steps.")


def print_feed(feed: dict[str, Any], console: Console) -> None:
    """What a delta run found in Google's change feed."""
    named = [*feed["users"], *feed["groups"]]
    console.print(
        f"Change feed since {feed['since']}: {feed['events']} events, "
        f"{feed['new_events']} new"
        + (f"; re-reading {', '.join(named)}" if named else "; nothing to sync")
    )
