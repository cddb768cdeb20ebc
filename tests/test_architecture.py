"""The import contracts in pyproject.toml (run by `make test` through lint-imports) catch the
imports they forbid: each case adds one forbidden import to a copy of the package and expects
lint-imports to fail naming that import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "sync", tmp_path / "sync", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract", "reported"),
    [
        (
            "planning/grants.py",
            "import boto3",
            "Planning and reporting are pure",
            "sync.planning.grants -> boto3",
        ),
        (
            "planning/plan.py",
            "import sync.apply.executor",
            "Planning and reporting are pure",
            "sync.planning.plan -> sync.apply.executor",
        ),
        (
            "planning/identity_planner.py",
            "import googleapiclient.discovery",
            "Planning and reporting are pure",
            "sync.planning.identity_planner -> googleapiclient",
        ),
        (
            "reporting/html_page.py",
            "import sync.records.documents",
            "Planning and reporting are pure",
            "sync.reporting.html_page -> sync.records.documents",
        ),
        (
            "aws/sso_admin.py",
            "import sync.planning.plan",
            "Adapters import no planning",
            "sync.aws.sso_admin -> sync.planning.plan",
        ),
        (
            "google/directory.py",
            "import sync.cli",
            "Adapters import no planning",
            "sync.google.directory -> sync.cli",
        ),
        (
            "google/api.py",
            "import sync.aws.retry",
            "know nothing of each other",
            "sync.google.api -> sync.aws.retry",
        ),
        (
            "run.py",
            "import sync.local.stack",
            "Only the demo command reaches the local emulators",
            "sync.run -> sync.local.stack",
        ),
        (
            "cli.py",
            "import sync.local.seed",
            "Only the demo command reaches the local emulators",
            "sync.cli -> sync.local.seed",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tree: Path, module: str, forbidden_import: str, contract: str, reported: str
) -> None:
    path = tree / "sync" / module
    path.write_text(path.read_text() + f"\n{forbidden_import}  # noqa: E402\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert reported in broken
