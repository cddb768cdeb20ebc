"""Emulators for the tests: one moto server for the session (a fresh identity store per test),
and a fresh Google Directory emulator per test, both over real HTTP on 127.0.0.1."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import settings as hypothesis_profile

from sync.bootstrap.run import run_bootstrap
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.http_server import LocalServer
from sync.local.seed import seed_demo_directory
from sync.local.stack import ADMIN_EMAIL, AWS_ENVIRONMENT, environment
from sync.rules.loader import parse_rules
from sync.rules.model import Rules
from sync.settings import Settings
from tests.helpers import IdentityCenterView, PlannedAccount, build_organization, write_key

# `make test` and CI: the same examples every run (a function of each test), no deadline, no
# example database carried between runs. `make fuzz` explores with random seeds and far more
# examples; pin what it finds with @example beside the test.
hypothesis_profile.register_profile(
    "repeatable", derandomize=True, database=None, deadline=None, max_examples=150
)
hypothesis_profile.register_profile("fuzz", deadline=None, max_examples=3000)
hypothesis_profile.load_profile("repeatable")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `heavy` first: `make test` hands whole files to its workers in this order
    (--dist loadfile --no-loadscope-reorder), so a long file never starts last and leaves the
    other workers idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


RULES = """
version: 1
sync:
  groups:
    - email: engineering@example.com
      name: Engineering
    - email: data@example.com
protect:
  users: ["breakglass@example.com"]
"""


@pytest.fixture(scope="session")
def aws() -> Iterator[tuple[ExtendedMotoApp, str]]:
    app = ExtendedMotoApp()
    with (
        LocalServer(app) as server,
        environment({**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": server.url}),
    ):
        yield app, server.url


@pytest.fixture
def moto_app(aws: tuple[ExtendedMotoApp, str]) -> Iterator[ExtendedMotoApp]:
    app, _ = aws
    app.reset()
    yield app
    app.reset()


@pytest.fixture
def store_id(moto_app: ExtendedMotoApp) -> str:
    return moto_app.new_identity_store()


@pytest.fixture
def idc(store_id: str) -> IdentityCenterView:
    return IdentityCenterView(boto3.client("identitystore"), store_id)


@pytest.fixture
def google_server() -> Iterator[tuple[GoogleDirectoryEmulator, str]]:
    emulator = GoogleDirectoryEmulator()
    emulator.add_user(ADMIN_EMAIL, "Workspace", "Admin", is_admin=True)
    with LocalServer(emulator) as server:
        yield emulator, server.url


@pytest.fixture
def google(google_server: tuple[GoogleDirectoryEmulator, str]) -> GoogleDirectoryEmulator:
    return google_server[0]


@pytest.fixture
def rules() -> Rules:
    return parse_rules(RULES)


@pytest.fixture
def settings(
    tmp_path: Path, google_server: tuple[GoogleDirectoryEmulator, str], store_id: str
) -> Settings:
    emulator, url = google_server
    (tmp_path / "rules.yaml").write_text(RULES)
    return Settings(
        google_credentials_file=write_key(emulator, url, tmp_path / "key.json"),
        google_admin_email=ADMIN_EMAIL,
        google_api_endpoint=url,
        rules=str(tmp_path / "rules.yaml"),
        state=str(tmp_path / "state.json"),
        audit=str(tmp_path / "audit.jsonl"),
        lock=str(tmp_path / "lock"),
        identity_store_id=store_id,
        rate_limit=500,
        retry_max_wait=0.5,
    )


@pytest.fixture
def company(
    settings: Settings, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> tuple[Settings, dict[str, str]]:
    """The demo company: its directory, and its Organization bootstrapped from deploy/."""
    seed_demo_directory(google)
    moto_app.service_quotas.account_quota = 50  # raised: the shipped definition has 16
    assert run_bootstrap(settings, apply=True).exit_code == 0
    client = boto3.client("organizations")
    accounts = {a["Name"]: a["Id"] for a in client.list_accounts()["Accounts"]}
    accounts["Management"] = accounts.pop("master")
    return settings.model_copy(update={"rules": "mappings/rules.yaml"}), accounts


@pytest.fixture
def org(moto_app: ExtendedMotoApp) -> dict[str, str]:
    """A small Organization: Workloads (Production, Staging, Development), a sandbox for
    alice; account ids by name."""
    return build_organization(
        moto_app,
        [
            PlannedAccount("Production", "prod@example.com", "/Workloads/Production"),
            PlannedAccount("Staging", "staging@example.com", "/Workloads/Staging"),
            PlannedAccount("Development", "dev@example.com", "/Workloads/Development"),
            PlannedAccount(
                "sandbox-alice", "sb-alice@example.com", "/Sandbox", {"owner": "alice@example.com"}
            ),
        ],
    )


@pytest.fixture
def definition(tmp_path: Path) -> Path:
    """A copy of the shipped deploy/ folder, to edit freely."""
    shutil.copytree("deploy", tmp_path / "deploy")
    return tmp_path / "deploy" / "org.yaml"


@pytest.fixture
def bootstrap_settings(settings: Settings, definition: Path, moto_app: ExtendedMotoApp) -> Settings:
    moto_app.service_quotas.account_quota = 50  # raised: the shipped definition has 16
    return settings.model_copy(update={"org_definition": definition})
