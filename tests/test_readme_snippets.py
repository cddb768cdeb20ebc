"""The README's commands run as written: each shell block marked `<!-- readme-snippet: NAME
-->` is run by bash (stopping at the first failing command) against what it says it needs."""

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sync.local.serve import ENV_FILE, READY
from sync.local.stack import ADMIN_EMAIL, environment
from tests.cloudformation import Stack, load_template

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parents[1]
SSO_SYNC = Path(sys.executable).parent / "sso-sync"
MARKED = re.compile(r"<!-- readme-snippet: ([\w-]+) -->\n```sh\n(.*?)```", re.DOTALL)


def snippets(document: Path) -> dict[str, str]:
    return dict(MARKED.findall(document.read_text(encoding="utf-8")))


def run_snippet(
    snippet: str, variables: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The block in bash from the repository's root; `variables` in its environment."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT))}
    return subprocess.run(
        ["bash", "-e", "-c", snippet],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=base | {"COLUMNS": "100"} | (variables or {}),
        timeout=600,
    )


def sourced(path: Path) -> dict[str, str]:
    """The variables a file of `export NAME=value` lines sets."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0] if value else ""
    return found


@pytest.fixture(scope="module")
def local_emulators() -> Iterator[subprocess.Popen[str]]:
    """`sso-sync local` (what `make local` runs), from its ready line until Ctrl-C."""
    child = subprocess.Popen(
        [str(SSO_SYNC), "local"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert child.stdout is not None
    said = []
    for line in child.stdout:  # each read waits for its next line: no clock involved
        said.append(line)
        if line.startswith(READY):
            break
    assert said and said[-1].startswith(READY), "".join(said)
    yield child
    child.send_signal(signal.SIGINT)
    rest, _ = child.communicate(timeout=120)
    assert child.returncode == 0, rest
    assert not (ROOT / ENV_FILE).exists()  # nothing left that names the stopped emulators


def test_the_readme_marks_its_runnable_blocks() -> None:
    assert set(snippets(ROOT / "README.md")) >= {"local"}
    assert set(snippets(ROOT / "deploy" / "README.md")) >= {"deployed-cli"}


def test_the_readme_tries_every_command_against_sso_sync_local(
    local_emulators: subprocess.Popen[str],
) -> None:
    done = run_snippet(snippets(ROOT / "README.md")["local"])

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Plan:" in done.stdout and "lena.novak@example.com" in done.stdout
    assert (ROOT / ".sso-sync" / "local" / "access-report.html").exists()


def test_the_runbooks_cli_on_the_deployment_runs_with_the_stacks_outputs(
    local_emulators: subprocess.Popen[str],
) -> None:
    """deploy/README.md step 6, with each <Output> of a stack made in the emulators from
    template.yaml, and Google's credentials only in the stack's secret."""
    emulators = sourced(ROOT / ENV_FILE)
    aws = {k: v for k, v in emulators.items() if not k.startswith("SSO_SYNC_")}
    key = Path(emulators["SSO_SYNC_GOOGLE_CREDENTIALS_FILE"]).read_text()
    with environment(aws):
        bucket, table = "sso-sync-databucket-0123456789ab", "sso-sync-LockTable-0123"
        boto3.client("s3").create_bucket(Bucket=bucket)
        boto3.client("dynamodb").create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets = boto3.client("secretsmanager")
        secret = secrets.create_secret(Name="GoogleCredentialsSecret-0123")["ARN"]
        secrets.put_secret_value(SecretId=secret, SecretString=key)  # the runbook's step 4
    template = load_template()
    parameters = {
        "AdminEmail": "platform@example.com",
        "GoogleAdminEmail": ADMIN_EMAIL,
        "IdentityStoreId": emulators["SSO_SYNC_IDENTITY_STORE_ID"],
        "InstanceArn": "arn:aws:sso:::instance/ssoins-0123",
    }
    stack = Stack(
        template,
        parameters,
        {"DataBucket": bucket, "LockTable": table, "GoogleCredentialsSecret": secret},
    )
    snippet = snippets(ROOT / "deploy" / "README.md")["deployed-cli"]
    for name in set(re.findall(r"<(\w+)>", snippet)):
        output = template["Outputs"].get(name)
        value = stack.evaluate(output["Value"]) if output else parameters[name]
        snippet = snippet.replace(f"<{name}>", str(value))
    google_api = {"SSO_SYNC_GOOGLE_API_ENDPOINT": emulators["SSO_SYNC_GOOGLE_API_ENDPOINT"]}
    path = {"PATH": f"{SSO_SYNC.parent}:{os.environ['PATH']}"}

    done = run_snippet(snippet, aws | google_api | path)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Plan:" in done.stdout
    assert "lena.novak@example.com" in done.stdout  # Google read through the secret
