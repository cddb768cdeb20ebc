"""The deployment zip: built from pyproject.toml within the size target, holding what runs and
the packaged rules (test_deployment.py runs the handler from it)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOST_PLATFORM = (
    "manylinux2014_x86_64" if os.uname().machine == "x86_64" else "manylinux2014_aarch64"
)


def build(tmp_path: Path, platform: str) -> Path:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "package.py"),
            "--output",
            str(tmp_path / "sso-sync.zip"),
            "--platform",
            platform,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    return tmp_path / "sso-sync.zip"


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("lambda"), "manylinux2014_aarch64")


def test_the_lambda_zip_is_within_target_and_holds_only_what_runs(lambda_zip: Path) -> None:
    assert lambda_zip.stat().st_size <= 15 * 1024 * 1024
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert "sync/handler.py" in names
    documents = {n for n in names if n.startswith("googleapiclient/discovery_cache/documents/")}
    assert {Path(n).name for n in documents} == {"admin.directory_v1.json", "admin.reports_v1.json"}
    assert not any(
        n.startswith(("tests/", "boto3/", "botocore/", "rich/", "sync/local/")) for n in names
    )
    assert any(
        n.startswith("pydantic_core/") and n.endswith("cpython-313-aarch64-linux-gnu.so")
        for n in names
    ), "wheels for the template's runtime: python3.13 on arm64"
    assert {"mappings/rules.yaml", "mappings/policies/data-scientist.json"} <= set(names)
