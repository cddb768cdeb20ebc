"""The deployed function as Lambda runs it: the package built by `sam build`'s own packaging,
unzipped, started in its folder (Lambda's working directory is the task root) with exactly the
environment template.yaml gives it (parameter defaults filled in, resources created in the
emulators), on the runtime's Python where this machine has it. The one addition is the Google
API endpoint: the emulator's instead of Google's."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.seed import seed_demo_directory
from sync.local.stack import ADMIN_EMAIL
from sync.settings import Settings
from tests.cloudformation import Stack, load_template
from tests.helpers import IdentityCenterView

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON = "3.13"  # template.yaml's runtime
HOST_PLATFORM = (
    "manylinux2014_x86_64" if os.uname().machine == "x86_64" else "manylinux2014_aarch64"
)
SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

INVOKE = """
import json, sys, types
from sync.handler import lambda_handler
context = types.SimpleNamespace(function_name='sso-sync-sso-sync', memory_limit_in_mb=512,
    invoked_function_arn='arn:aws:lambda:us-east-1:123456789012:function:sso-sync-sso-sync',
    aws_request_id='r', get_remaining_time_in_millis=lambda: 900000)
for event in json.loads(sys.argv[1]):
    try:
        print('RESULT ' + json.dumps(lambda_handler(event, context)), flush=True)
    except Exception as error:
        print('ERROR ' + json.dumps(f'{type(error).__name__}: {error}'), flush=True)
"""


def runtime_python() -> tuple[str, str]:
    """(interpreter, version): Lambda's Python if this machine has one that runs, else this
    one."""
    candidates = [
        *sorted(Path("/root/.pyenv/versions").glob(f"{LAMBDA_PYTHON}.*/bin/python3")),
        shutil.which(f"python{LAMBDA_PYTHON}"),
    ]
    for candidate in filter(None, candidates):
        if subprocess.run([str(candidate), "-c", "pass"], capture_output=True).returncode == 0:
            return str(candidate), LAMBDA_PYTHON
    return sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class Task:
    root: Path
    """The unzipped package: Lambda's task root and working directory."""
    runtime: Path
    """What Lambda's Python runtime brings besides the package: boto3."""
    python: str


@pytest.fixture(scope="module")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Task:
    """The zip as `deploy/package.py` builds it for this machine's CPU, unzipped."""
    python, version = runtime_python()
    build = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "package.py"),
            "--output",
            str(build / "sso-sync.zip"),
            "--platform",
            HOST_PLATFORM,
            "--python-version",
            version,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path_factory.mktemp("task")
    zipfile.ZipFile(build / "sso-sync.zip").extractall(root)
    runtime = tmp_path_factory.mktemp("runtime")  # what Lambda's Python runtime brings: boto3
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--target", str(runtime), "boto3"],
        check=True,
        capture_output=True,
    )
    return Task(root, runtime, python)


class Deployment:
    """The template's resources in the emulators, and the function's environment."""

    def __init__(self, moto_app: ExtendedMotoApp, google_api: str, **parameters: str) -> None:
        boto3.client("organizations").create_organization(FeatureSet="ALL")
        instance_arn, store_id = moto_app.identity_center("us-east-1")
        self.bucket = "sso-sync-databucket-0123456789ab"
        boto3.client("s3").create_bucket(Bucket=self.bucket)
        boto3.client("dynamodb").create_table(
            TableName="sso-sync-LockTable-0123",
            AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # As CloudFormation creates it: no SecretString, so no value until the operator sets it.
        self.secret = boto3.client("secretsmanager").create_secret(
            Name="GoogleCredentialsSecret-0123"
        )["ARN"]
        self.store_id = store_id
        stack = Stack(
            load_template(),
            {
                "AdminEmail": "platform@example.com",
                "GoogleAdminEmail": ADMIN_EMAIL,
                "IdentityStoreId": store_id,
                "InstanceArn": instance_arn,
                **parameters,
            },
            {
                "DataBucket": self.bucket,
                "LockTable": "sso-sync-LockTable-0123",
                "GoogleCredentialsSecret": self.secret,
            },
        )
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SSO_SYNC_", "PYTHON"))},
            **stack.function_environment(),
            "SSO_SYNC_GOOGLE_API_ENDPOINT": google_api,
        }

    def set_google_key(self, key: str) -> None:
        boto3.client("secretsmanager").put_secret_value(SecretId=self.secret, SecretString=key)

    def invoke(self, task: Task, *events: dict) -> list[dict | str]:
        """Each event in turn in one process (one cold start): the summary, or the error."""
        result = subprocess.run(
            [task.python, "-c", INVOKE, json.dumps(list(events))],
            capture_output=True,
            text=True,
            cwd=task.root,
            env={
                **self.environment,
                "PYTHONPATH": f"{task.root}:{task.runtime}",
                "PYTHONNOUSERSITE": "1",
                "LAMBDA_TASK_ROOT": str(task.root),
            },
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        answers: list[dict | str] = []
        for line in result.stdout.splitlines():
            kind, _, body = line.partition(" ")
            if kind in ("RESULT", "ERROR"):
                answers.append(json.loads(body))
        assert len(answers) == len(events), result.stdout[-3000:] + result.stderr[-3000:]
        return answers

    def object(self, key: str) -> dict:
        body = boto3.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return json.loads(body)


@pytest.fixture
def deployment(
    moto_app: ExtendedMotoApp, google_server: tuple[GoogleDirectoryEmulator, str]
) -> Deployment:
    google, url = google_server
    seed_demo_directory(google)
    return Deployment(moto_app, url)


def test_the_packaged_function_plans_first_with_the_templates_own_environment(
    task_root: Task, deployment: Deployment, settings: Settings
) -> None:
    assert deployment.environment["SSO_SYNC_RULES"] == "mappings/rules.yaml"
    assert deployment.environment["SSO_SYNC_SCHEDULED_RUNS"] == "plan"
    idc = IdentityCenterView(boto3.client("identitystore"), deployment.store_id)

    (not_configured,) = deployment.invoke(task_root, SCHEDULED)

    assert isinstance(not_configured, str)
    assert not_configured.startswith("ConfigError: the Google credentials secret has no value")
    assert "aws secretsmanager put-secret-value" in not_configured

    deployment.set_google_key(Path(str(settings.google_credentials_file)).read_text())
    scheduled, dry_run, delta, manual = deployment.invoke(
        task_root, SCHEDULED, {"dry_run": True}, {"mode": "delta"}, {}
    )

    assert isinstance(scheduled, dict) and scheduled["outcome"] == "planned"
    assert scheduled["planned"]["user.create"] > 20 and scheduled["exit_code"] == 0
    assert idc.users() == {}, "a scheduled run in Mode plan applies nothing"
    location = scheduled["plan_location"]
    assert location.startswith(f"s3://{deployment.bucket}/plans/")
    written = deployment.object(location.split("/", 3)[3])
    assert len(written["operations"]) == sum(scheduled["planned"].values())
    assert all(op["reason"] for op in written["operations"])
    assert {op["resource"] for op in written["operations"]} >= {"user", "permission_set"}
    assert any(
        op["target"] == "DataScientist" and op["action"] == "create" for op in written["operations"]
    ), "the packaged rules and their policy file were read"
    assert isinstance(dry_run, dict) and dry_run["outcome"] == "planned"
    latest = deployment.object("plans/latest.json")
    assert dry_run["run_id"] != scheduled["run_id"]
    assert isinstance(delta, str) and delta.startswith("ConfigError: refused payload")
    assert isinstance(manual, dict) and manual["outcome"] == "planned"
    assert latest["run"]["run_id"] == manual["run_id"]
    assert idc.users() == {}, "no payload applies in Mode plan"


def test_in_mode_apply_scheduled_runs_apply(
    task_root: Task,
    moto_app: ExtendedMotoApp,
    google_server: tuple[GoogleDirectoryEmulator, str],
    settings: Settings,
) -> None:
    google, url = google_server
    seed_demo_directory(google)
    deployment = Deployment(moto_app, url, Mode="apply")
    deployment.set_google_key(Path(str(settings.google_credentials_file)).read_text())

    (scheduled,) = deployment.invoke(task_root, SCHEDULED)

    assert isinstance(scheduled, dict), scheduled
    assert scheduled["outcome"] == "succeeded" and scheduled["applied"]["user.create"] > 20
    assert "plan_location" not in scheduled
    report_location = scheduled["report_location"]
    assert report_location.startswith(f"s3://{deployment.bucket}/reports/")
    assert report_location.endswith(f"/{scheduled['run_id']}.html")
    s3 = boto3.client("s3")
    page = s3.get_object(Bucket=deployment.bucket, Key="reports/latest.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert b'<script id="report-data" type="application/json">' in page["Body"].read()
    report = deployment.object("reports/latest.json")
    assert report["view"] == "planned" and report["changes"] is None
    assert any(p["access"] for p in report["people"]), "the packaged assets rendered a matrix"

    (again,) = deployment.invoke(task_root, SCHEDULED)

    assert isinstance(again, dict) and again["report_location"] != report_location
    assert deployment.object("reports/latest.json")["changes"]["people"] == []
