"""The deployment zip: built from pyproject.toml within the size target, and the handler runs
from its contents alone (with the runtime's boto3) against the emulators."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sync.local.google_directory import GoogleDirectoryEmulator
from sync.settings import Settings
from tests.helpers import seed_small_company

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
    assert not any(n.startswith(("tests/", "boto3/", "botocore/", "rich/")) for n in names)
    assert any(n.startswith("pydantic_core/") and n.endswith("aarch64-linux-gnu.so") for n in names)


def test_the_handler_runs_from_the_package_alone(
    tmp_path: Path, settings: Settings, google: GoogleDirectoryEmulator
) -> None:
    seed_small_company(google)
    package = build(tmp_path, HOST_PLATFORM).parent / "package"
    runtime = tmp_path / "runtime"  # what Lambda's Python runtime brings: boto3
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(runtime), "boto3"],
        check=True,
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SSO_SYNC_")},
        **{
            f"SSO_SYNC_{k.upper()}": str(v)
            for k, v in settings.model_dump().items()
            if v is not None
        },
        "PYTHONPATH": "",
    }
    script = (
        "import json, sys, types\n"
        f"sys.path[:0] = [{str(package)!r}, {str(runtime)!r}]\n"
        "from sync.handler import lambda_handler\n"
        "context = types.SimpleNamespace(function_name='f', memory_limit_in_mb=512,"
        " invoked_function_arn='arn:aws:lambda:us-east-1:123456789012:function:f',"
        " aws_request_id='r', get_remaining_time_in_millis=lambda: 900000)\n"
        "print('RESULT ' + json.dumps(lambda_handler({'dry_run': True}, context)))\n"
    )

    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert summary["outcome"] == "planned" and summary["planned"]["user.create"] == 4
