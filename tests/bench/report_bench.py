"""The access report at size: building its data and page from snapshots already read (the
reads are the sync's, measured by sync_bench), and opening the page in headless Chromium until
the matrix shows. Figures are printed (and written as JSON), never asserted.

    python -m tests.bench.report_bench --people 5000 --accounts 100 [--json FILE]

The company: teams of about 100 people (each person in two), nested into one engineering
group; 60% of the accounts are personal sandboxes, the rest workload and shared accounts.
"""

import argparse
import json
import platform
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.model import Account, GoogleGroup, GoogleSnapshot, GoogleUser, OrganizationSnapshot
from sync.reporting.access_matrix import build_report
from sync.reporting.html_page import report_html
from sync.rules.loader import parse_rules
from tests.browser import chromium

MANAGEMENT = "100000000000"


def company(people: int, accounts: int) -> tuple[Any, GoogleSnapshot, OrganizationSnapshot]:
    rng = random.Random(7)
    users = {
        f"u{i}": GoogleUser(f"u{i}", f"person{i}@example.com", "Person", str(i), f"Person {i}")
        for i in range(people)
    }
    teams = max(2, people // 100)
    members: list[set[str]] = [set() for _ in range(teams)]
    for user_id in users:
        for team in rng.sample(range(teams), 2):
            members[team].add(user_id)
    groups = [
        GoogleGroup(f"g{t}", f"team-{t}@example.com", f"Team {t}", f"Team-{t}", frozenset(m))
        for t, m in enumerate(members)
    ]
    engineering = frozenset().union(*members[: teams // 2])
    nested = frozenset(f"g{t}" for t in range(teams // 2))
    groups.append(
        GoogleGroup("eng", "engineering@example.com", "Eng", "Engineering", engineering, nested)
    )
    admins = frozenset(rng.sample(sorted(users), 10))
    groups.append(GoogleGroup("adm", "aws-admins@example.com", "Admins", "AWS-Admins", admins))
    sandboxes = int(accounts * 0.6)
    workloads = accounts - sandboxes - 1
    org_accounts = [Account(MANAGEMENT, "management", "ACTIVE", "/")]
    for i in range(workloads):
        ou = ("/Workloads/Production", "/Workloads/Staging", "/Workloads/Development")[i % 3]
        org_accounts.append(Account(f"2{i:011d}", f"workload-{i}", "ACTIVE", ou))
    for i in range(sandboxes):
        owner = users[f"u{rng.randrange(people)}"].primary_email
        org_accounts.append(
            Account(f"3{i:011d}", f"sandbox-{i}", "ACTIVE", "/Sandbox", {"owner": owner})
        )
    team_rules = "".join(
        f"  - groups: [team-{t}@example.com]\n    permission_sets: [PowerUser]\n"
        f"    accounts: ['name:workload-{t % workloads}', 'name:workload-{(t * 7) % workloads}']\n"
        for t in range(teams)
    )
    rules = parse_rules(
        "version: 1\nsync:\n  groups:\n    - query: 'email:*'\n"
        "permission_sets:\n"
        "  AdministratorAccess: {managed_policies: [AdministratorAccess]}\n"
        "  PowerUser: {managed_policies: [PowerUserAccess]}\n"
        "  ReadOnly: {managed_policies: [ReadOnlyAccess]}\n"
        "  SandboxAdmin: {managed_policies: [AdministratorAccess]}\n"
        "assignments:\n"
        "  - groups: [aws-admins@example.com]\n    permission_sets: [AdministratorAccess]\n"
        "    accounts: [all]\n    include_management_account: true\n"
        "  - groups: [engineering@example.com]\n    permission_sets: [ReadOnly]\n"
        "    accounts: ['ou:/Workloads/**']\n"
        "  - user_from_tag: owner\n    permission_sets: [SandboxAdmin]\n"
        "    accounts: ['ou:/Sandbox']\n" + team_rules
    )
    google = GoogleSnapshot(users, tuple(groups))
    return rules, google, OrganizationSnapshot(MANAGEMENT, tuple(org_accounts))


def measure(people: int, accounts: int, browser: bool = True) -> dict[str, Any]:
    rules, google, org = company(people, accounts)
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / "report.html"
    started = time.perf_counter()
    report = build_report(rules, google, org, datetime.now(UTC))
    built = time.perf_counter()
    write_page(report, path)
    rendered = time.perf_counter()
    del report
    tracemalloc.start()  # a second pass: tracing slows the first one's clock down
    write_page(build_report(rules, google, org, datetime.now(UTC)), path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = json.loads(path.read_text().split('type="application/json">')[1].split("</script>")[0])
    cells = sum(len(person["access"]) // 2 for person in report["people"])
    figures: dict[str, Any] = {
        "people": people,
        "accounts": accounts,
        "cells_with_access": cells,
        "build_seconds": round(built - started, 2),
        "html_seconds": round(rendered - built, 2),
        "report_seconds": round(rendered - started, 2),
        "html_mb": round(path.stat().st_size / 1e6, 2),
        "peak_traced_mb": round(peak / 1e6, 1),
    }
    if browser:
        figures |= open_in_browser(path, report["people"][-1]["email"])
    folder.cleanup()
    return figures


def write_page(report: dict[str, Any], path: Path) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.writelines(report_html(report))


def open_in_browser(path: Path, last_person: str) -> dict[str, Any]:
    """Seconds from navigation until the matrix's first rows are drawn, and until a filter
    for the last person has narrowed it to that row."""
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1600, "height": 1000})
        started = time.perf_counter()
        tab.goto(path.as_uri())
        tab.wait_for_selector("#matrix tbody tr[data-person]")
        opened = time.perf_counter() - started
        drawn = tab.locator("#matrix tbody tr[data-person]").count()
        started = time.perf_counter()
        tab.fill("#filter-person", last_person)
        tab.wait_for_selector(f'#matrix tbody tr[data-person="{last_person}"]')
        filtered = time.perf_counter() - started
    return {
        "browser_open_seconds": round(opened, 2),
        "rows_drawn": drawn,
        "browser_filter_seconds": round(filtered, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("build/report-bench.json"))
    arguments = parser.parse_args()
    rows = [measure(n, arguments.accounts, not arguments.no_browser) for n in arguments.people]
    print(f"Access report on {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{'people':>7} {'accounts':>8} {'cells':>8} {'build s':>8} {'html s':>7} "
        f"{'MB':>6} {'peak MB':>8} {'open s':>7} {'filter s':>8}"
    )
    for row in rows:
        print(
            f"{row['people']:>7} {row['accounts']:>8} {row['cells_with_access']:>8} "
            f"{row['build_seconds']:>8} {row['html_seconds']:>7} {row['html_mb']:>6} "
            f"{row['peak_traced_mb']:>8} {row.get('browser_open_seconds', '-'):>7} "
            f"{row.get('browser_filter_seconds', '-'):>8}"
        )
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
