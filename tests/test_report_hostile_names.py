"""The access report survives any name in the directory: people, groups, accounts and tags
whose names carry markup and script fragments still show, each person in the matrix, in
headless Chromium; no script of theirs runs."""

from datetime import UTC, datetime
from pathlib import Path

from sync.model import Account, GoogleGroup, GoogleSnapshot, GoogleUser, OrganizationSnapshot
from sync.reporting.access_matrix import build_report
from sync.reporting.html_page import report_html
from sync.rules.loader import parse_rules
from tests.browser import chromium

FRAGMENTS = [
    "<!--<script>",
    "</script><script>window.pwned=1</script>",
    "<img src=x onerror=window.pwned=1>",
    "]]></ & &amp; \u2028 \u2029",
    "<script>window.pwned=1</script>",
    '"><svg onload=window.pwned=1>',
]
RULES = """
version: 1
sync:
  groups:
    - {email: eng@example.com}
permission_sets:
  PowerUser: {managed_policies: [PowerUserAccess]}
assignments:
  - groups: [eng@example.com]
    permission_sets: [PowerUser]
    accounts: ["ou:/Workloads/**"]
"""


def hostile_report() -> tuple[dict, list[str]]:
    people = [
        GoogleUser(f"g-{index}", f"p{index}@example.com", fragment, fragment, fragment)
        for index, fragment in enumerate(FRAGMENTS)
    ]
    group = GoogleGroup(
        "g-eng", "eng@example.com", FRAGMENTS[0], "eng@example.com", frozenset(p.id for p in people)
    )
    accounts = tuple(
        Account(f"{index:012}", fragment, "ACTIVE", "/Workloads/Production", {"team": fragment})
        for index, fragment in enumerate(FRAGMENTS, start=100)
    )
    report = build_report(
        parse_rules(RULES),
        GoogleSnapshot({p.id: p for p in people}, (group,)),
        OrganizationSnapshot("999999999999", accounts),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    return report, [p.primary_email for p in people]


def test_a_report_of_hostile_names_renders_everyone(tmp_path: Path) -> None:
    report, emails = hostile_report()
    page = tmp_path / "report.html"
    page.write_text("".join(report_html(report)), encoding="utf-8")

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(page.as_uri())
        tab.wait_for_selector("#matrix tbody tr[data-person]")
        shown = tab.eval_on_selector_all(
            "#matrix tbody tr[data-person]", "rows => rows.map(r => r.dataset.person)"
        )
        headers = tab.eval_on_selector_all(
            "#matrix thead th[data-account]", "cells => cells.map(c => c.textContent)"
        )
        pwned = tab.evaluate("window.pwned")
        tab.click("button[data-tab=organization]")
        organization = tab.text_content("body") or ""

    assert errors == []
    assert sorted(shown) == sorted(emails)
    assert sorted(headers) == sorted(FRAGMENTS)
    assert all(fragment in organization for fragment in FRAGMENTS[1:3])
    assert pwned is None


def test_the_embedded_data_carries_no_markup_characters() -> None:
    report, _ = hostile_report()
    page = "".join(report_html(report))
    data = page.split('<script id="report-data" type="application/json">')[1].split("</script>")[0]

    assert not any(character in data for character in "<>&\u2028\u2029")
