"""The demo's access report in a real browser: the README's demo command is run, and the page
it writes is opened in headless Chromium; the matrix, its filters and a cell's why are checked
through the DOM, and screenshots are kept in build/test-artifacts/."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.browser import chromium

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "test-artifacts"
WHY_LENA_PRODUCTION = (
    "member of group Engineering (engineering@example.com) through backend@example.com; "
    "assignments rule 3; account chosen by ou:/Workloads/Production"
)


@pytest.fixture(scope="module")
def demo_report() -> tuple[Path, dict[str, Any]]:
    """`sso-sync demo`, as the README runs it; the report it says it wrote."""
    demo = subprocess.run(
        [str(Path(sys.executable).parent / "sso-sync"), "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(ROOT / ".sso-sync")},
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Refused" not in demo.stdout  # the quota is raised up front, said in one line
    assert '{"time"' not in demo.stdout  # the audit summary as a sentence, not raw JSON
    assert "Its last line, the run's summary: succeeded; applied" in demo.stdout
    assert not (ROOT / ".sso-sync" / "demo" / "google-key.json").exists()  # gone with the demo
    page = ROOT / ".sso-sync" / "demo" / "access-report.html"
    assert f"open {page} in a browser" in demo.stdout.replace("\n", "")
    return page, json.loads(page.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def page(demo_report: tuple[Path, dict[str, Any]]) -> Iterator[Page]:
    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1600, "height": 1400})
        problems: list[str] = []
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.on(
            "console",
            lambda message: problems.append(message.text) if _is_error(message) else None,
        )
        tab.on("request", lambda r: None if r.url.startswith("file:") else problems.append(r.url))
        tab.goto(demo_report[0].as_uri())
        tab.wait_for_selector("#matrix tbody tr[data-person]")
        yield tab
        assert problems == []  # no script error, no request off the file


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


def rows(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#matrix tbody tr[data-person]", "rows => rows.map(r => r.dataset.person)"
    )


def cell(page: Page, person: str, account_id: str) -> Any:
    return page.locator(f'#matrix tr[data-person="{person}"] td[data-account="{account_id}"]')


def test_the_matrix_shows_everyone_and_every_account(
    page: Page, demo_report: tuple[Path, dict[str, Any]]
) -> None:
    _, data = demo_report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "access-report.png")

    assert rows(page) == [person["email"] for person in data["people"]]
    headers = page.eval_on_selector_all(
        "#matrix thead th[data-account]", "cells => cells.map(c => c.textContent)"
    )
    assert headers == [a["name"] + (" ★" if a["management"] else "") for a in data["accounts"]]
    production = next(a["id"] for a in data["accounts"] if a["name"] == "Production")
    assert cell(page, "lena.berg@example.com", production).text_content() == "ReadOnly"
    assert cell(page, "paul.jensen@example.com", production).count() == 0  # not synced
    units = page.eval_on_selector_all(
        "#matrix thead th.unit", "cells => cells.map(c => c.textContent)"
    )
    assert units == ["Root", "Workloads", "Shared", "Sandbox"]  # as deploy/org.yaml orders them
    management = next(a["id"] for a in data["accounts"] if a["management"])
    maya = cell(page, "maya.chen@example.com", management)
    assert maya.text_content() == "AdministratorAccess, Billing"
    cut = page.eval_on_selector_all(
        "#matrix th, #matrix td", "cells => cells.filter(c => c.scrollWidth > c.clientWidth).length"
    )
    assert cut == 0  # every permission set and header shown whole, none cut to "…"


def test_who_can_reach_production_and_why(
    page: Page, demo_report: tuple[Path, dict[str, Any]]
) -> None:
    _, data = demo_report
    production = next(i for i, a in enumerate(data["accounts"]) if a["name"] == "Production")
    reaching = [p["email"] for p in data["people"] if production in p["access"][::2]]

    page.select_option("#filter-account", str(production))

    assert rows(page) == reaching
    assert "ravi.iyer@example.com" not in reaching and "tom.becker@example.com" not in reaching
    assert len(reaching) == 14  # AWS-Admins and Engineering, less the two who left
    assert page.locator("#matrix thead th[data-account]").count() == 1
    production_id = data["accounts"][production]["id"]
    cell(page, "lena.berg@example.com", production_id).click()
    why = page.locator("#why")
    assert why.is_visible()
    assert "ReadOnly" in why.text_content()
    assert WHY_LENA_PRODUCTION in why.text_content()
    page.screenshot(path=ARTIFACTS / "access-report-production.png")
    page.click("#filter-clear")


def test_what_lena_can_reach(page: Page, demo_report: tuple[Path, dict[str, Any]]) -> None:
    _, data = demo_report
    page.fill("#filter-person", "lena")

    assert rows(page) == ["lena.berg@example.com"]
    page.check("#filter-with-access")
    shown = page.eval_on_selector_all(
        '#matrix tr[data-person="lena.berg@example.com"] td[data-account]',
        "cells => cells.filter(c => c.textContent).map(c => c.textContent)",
    )
    assert sorted(shown) == ["PowerUser", "PowerUser", "ReadOnly", "SandboxAdmin"]
    page.screenshot(path=ARTIFACTS / "access-report-lena.png")
    page.click("#filter-clear")
    assert len(rows(page)) == len(data["people"])


def test_who_in_a_cost_center_reaches_what_and_their_department_in_the_why(
    page: Page, demo_report: tuple[Path, dict[str, Any]]
) -> None:
    _, data = demo_report
    in_data = [p["email"] for p in data["people"] if p["attributes"].get("Cost center") == "CC-300"]
    production = next(a["id"] for a in data["accounts"] if a["name"] == "Production")
    cell(page, "lena.berg@example.com", production).click()
    assert "lena.berg@example.com" in page.locator("#why").text_content()

    page.select_option("#filter-attribute", "Cost center: CC-300")

    assert rows(page) == in_data
    assert page.locator("#why").is_hidden()  # lena's cell is filtered out: her why goes too
    assert "priya.nair@example.com" in in_data and "lena.berg@example.com" not in in_data
    priya = next(p for p in data["people"] if p["email"] == "priya.nair@example.com")
    account = data["accounts"][priya["access"][0]]["id"]
    cell(page, "priya.nair@example.com", account).click()
    assert "Department: Data · Cost center: CC-300" in page.locator("#why").text_content()
    page.screenshot(path=ARTIFACTS / "access-report-cost-center.png")
    page.click("#why button")
    page.click("#filter-clear")


def test_organization_risks_and_changes_tabs(
    page: Page, demo_report: tuple[Path, dict[str, Any]]
) -> None:
    _, data = demo_report
    page.click('#tabs button[data-tab="risks"]')
    management = page.locator("#risk-management").text_content()
    assert "maya.chen@example.com" in management and "Billing" in management
    administrators = page.locator("#risk-administrators").text_content()
    assert "SandboxAdmin in sandbox-lena.novak" in administrators
    assert f"AdministratorAccess in every account ({len(data['accounts'])})" in administrators
    organization = page.locator("#tab-organization")
    assert "null" not in organization.text_content()
    production = organization.locator("li.account", has_text="Production (")
    assert "env=prod" in production.text_content()
    assert (
        "region-allowlist"
        in page.locator('#tab-organization li[data-ou="/Workloads"]').first.text_content()
    )

    page.click('#tabs button[data-tab="changes"]')
    changes = page.locator("#changes tbody tr")
    people = changes.evaluate_all("rows => rows.map(r => r.dataset.person)")
    assert "nora.quinn@example.com" in people and "ravi.iyer@example.com" in people
    nora = page.locator('#changes tr[data-person="nora.quinn@example.com"]').text_content()
    assert "Development: DataScientist" in nora
    assert "member of group Data-Science" in nora  # each access with its why
    lena = page.locator('#changes tr[data-person="lena.berg@example.com"]')
    assert lena.count() == 1  # a rename is one person, shown old → new
    assert "lena.novak@example.com → lena.berg@example.com" in lena.text_content()
    ravi = page.locator('#changes tr[data-person="ravi.iyer@example.com"]').text_content()
    assert "suspended in Google Workspace; it came from: " in ravi
    page.screenshot(path=ARTIFACTS / "access-report-changes.png")
    page.click('#tabs button[data-tab="matrix"]')
