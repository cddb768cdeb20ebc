"""`sso-sync demo`: the whole sync against the local emulators: bootstrap, a full sync, a delta
run from Google's change feed, and full syncs as the safety net."""

import json
import shutil
from pathlib import Path

import boto3
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from sync.delta.run import run_delta
from sync.errors import ExitCode
from sync.local.company import ACCOUNT_QUOTA, RULES, start_company
from sync.local.seed import DOMAIN
from sync.local.stack import KEY_FILE, LocalStack, environment
from sync.render import print_bootstrap, show_access, show_matrix, show_report
from sync.reporting.html_page import report_html, report_json
from sync.rules.loader import load_rules
from sync.run import RunOptions, access_report, explain_access, run_sync
from sync.settings import Settings

WORKDIR = Path(".sso-sync/demo")
REPORT = WORKDIR / "access-report.html"


def run_demo(console: Console) -> ExitCode:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    stack = LocalStack(domain=DOMAIN).start()
    try:
        with environment(stack.environment()):
            return _acts(stack, console)
    finally:
        stack.stop()
        (WORKDIR / KEY_FILE).unlink(missing_ok=True)  # its emulator is gone with the demo


def _acts(stack: LocalStack, console: Console) -> ExitCode:
    console.print(Rule("0. Bootstrap the Organization from deploy/org.yaml"))
    console.print(
        f"(The emulated Organization's account quota is raised to {ACCOUNT_QUOTA} first: a "
        "new Organization may hold 10, and `sso-sync bootstrap plan` says how to ask for more.)"
    )
    settings, bootstrap = start_company(stack, WORKDIR)
    rules = load_rules(RULES)
    identity_store = boto3.client("identitystore")
    store_id = settings.identity_store_id
    print_bootstrap(bootstrap, console)
    accounts = boto3.client("organizations").list_accounts()["Accounts"]

    def sync(title: str, delta: bool = False) -> ExitCode:
        console.print(Rule(title))
        run = run_delta if delta else run_sync
        report = run(settings, RunOptions(apply=True, trigger="demo"), rules)
        show_report(report, console)
        return report.exit_code

    console.print(
        f"Google emulator at {stack.google_url}, AWS (moto) at {stack.aws_url}, "
        f"identity store {store_id}, an Organization of {len(accounts)} accounts "
        "(Workloads, Shared, one sandbox per engineer).\nAlready in Identity Center, made by "
        "hand: breakglass@example.com, the Control Tower group AWSControlTowerAdmins, and "
        "maya.chen@example.com (adopted, not duplicated)."
    )
    codes = [sync("1. First sync: the whole directory, permission sets and assignments")]
    console.print(Rule("Who can reach what, and why"))
    for person in (f"lena.novak@{DOMAIN}", f"priya.nair@{DOMAIN}"):
        show_access(explain_access(settings, person, None), console, person, person=person)
    first_report = access_report(settings)
    console.print("\nThe workload accounts at a glance (sso-sync access --matrix):")
    show_matrix(first_report, console, None, "ou:/Workloads/**")

    run_delta(settings, RunOptions(apply=True, trigger="demo"), rules)  # starts the feed here

    console.print(Rule("Meanwhile in Google Workspace"))
    google = stack.google
    google.suspend_user(f"ravi.iyer@{DOMAIN}")
    google.rename_user(f"lena.novak@{DOMAIN}", f"lena.berg@{DOMAIN}")
    google.remove_member(f"backend@{DOMAIN}", f"tom.becker@{DOMAIN}")
    google.add_user(f"nora.quinn@{DOMAIN}", "Nora", "Quinn")
    google.add_member(f"data-science@{DOMAIN}", f"nora.quinn@{DOMAIN}")
    google.reporting = False
    google.add_member(f"sensitive-data@{DOMAIN}", f"hana.kim@{DOMAIN}")
    google.reporting = True
    console.print(
        "ravi.iyer suspended; lena.novak renamed to lena.berg; tom.becker left backend@; "
        "new hire nora.quinn joined data-science@; and hana.kim joined sensitive-data@, a "
        "change the change feed never reports."
    )
    codes.append(
        sync("2. Delta run: only what Google's change feed reports, within a minute", delta=True)
    )
    codes.append(sync("3. Full sync, the safety net: catches what the feed missed"))
    codes.append(sync("4. Full sync again: nothing changed, so nothing is written"))

    _show_audit(WORKDIR / "audit.jsonl", console)
    users = {u["UserName"] for u in identity_store.list_users(IdentityStoreId=store_id)["Users"]}
    groups = {
        g["DisplayName"] for g in identity_store.list_groups(IdentityStoreId=store_id)["Groups"]
    }
    console.print(Rule("Never touched"))
    console.print(f"breakglass@example.com still present: {'breakglass@example.com' in users}")
    console.print(f"AWSControlTowerAdmins still present: {'AWSControlTowerAdmins' in groups}")
    _write_report(settings, first_report, console)
    return max(codes)


def _write_report(settings: Settings, first: dict, console: Console) -> None:
    """The access report a browser opens, with what changed since the first sync."""
    console.print(Rule("The access report"))
    report = access_report(settings, previous=first)
    for path, chunks in ((REPORT, report_html), (REPORT.with_suffix(".json"), report_json)):
        with path.open("w", encoding="utf-8") as file:
            file.writelines(chunks(report))
    changed = len(report["changes"]["people"])
    console.print(
        f"Who can reach which account, with what and why, the Organization, the risks and what "
        f"changed for {changed} people since the first sync: open {REPORT.resolve()} in a "
        "browser (sso-sync report --html FILE makes one; the Lambda writes "
        "reports/latest.html after each full sync)."
    )


def _show_audit(path: Path, console: Console) -> None:
    """The audit lines of the last run that wrote something, as a table."""
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    writing_runs = [e["run_id"] for e in entries if e["operation"] != "run.summary"]
    last = [e for e in entries if writing_runs and e["run_id"] == writing_runs[-1]]
    console.print(Rule(f"Audit log: {path} ({len(entries)} lines), run {writing_runs[-1]}"))
    table = Table(show_edge=False)
    for column in ("time", "operation", "target", "result", "tries"):
        # only a long target folds, at any width: the other columns keep a line each
        table.add_column(column, no_wrap=column != "target", overflow="fold")
    for entry in last:
        if entry["operation"] == "run.summary":
            continue
        table.add_row(
            entry["time"][11:23],
            entry["operation"],
            entry["target"]["target"],
            entry["result"],
            str(entry["attempts"]),
        )
    console.print(table)
    summary = last[-1]
    applied = ", ".join(f"{count} {name}" for name, count in summary["applied"].items())
    calls = {side: sum(counts.values()) for side, counts in summary["api_calls"].items()}
    console.print(
        f"Its last line, the run's summary: {summary['outcome']}; applied {applied or 'nothing'}; "
        f"{calls['aws']} AWS and {calls['google']} Google calls in {summary['seconds']} s "
        "(each audit line is one JSON object).",
        highlight=False,
    )
