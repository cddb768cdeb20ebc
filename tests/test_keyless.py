"""Keyless Google access: Workload Identity Federation from AWS credentials to a service
account with domain-wide delegation, end to end against the emulator (STS exchange, signJwt,
JWT-bearer grant), then the sync itself."""

import json
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, seed_small_company

AUDIENCE = (
    "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws/"
    "providers/sso-sync-lambda"
)


def federation_config(url: str, service_account: str) -> dict:
    """What `gcloud iam workload-identity-pools create-cred-config --aws` writes, pointed at
    the emulator."""
    return {
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": f"{url}/v1/token",
        "service_account_impersonation_url": (
            f"{url}/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken"
        ),
        "credential_source": {
            "environment_id": "aws1",
            "regional_cred_verification_url": (
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
            ),
        },
    }


@pytest.fixture
def keyless(
    tmp_path: Path, settings: Settings, google_server: tuple[GoogleDirectoryEmulator, str]
) -> tuple[Settings, str]:
    google, url = google_server
    service_account = google.create_service_account()
    config = tmp_path / "federation.json"
    config.write_text(json.dumps(federation_config(url, service_account)))
    keyless_settings = settings.model_copy(
        update={"google_credentials_file": config, "google_token_uri": f"{url}/token"}
    )
    return keyless_settings, service_account


def test_the_sync_runs_without_any_google_key(
    keyless: tuple[Settings, str],
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
) -> None:
    settings, service_account = keyless
    google.allow_federation(AUDIENCE, service_account)
    seed_small_company(google)

    report = run_sync(settings, RunOptions(apply=True), rules)

    assert report.exit_code == 0
    assert "alice@example.com" in idc.users()
    assert "private_key" not in Path(settings.google_credentials_file).read_text()


def test_a_principal_not_allowed_to_act_as_the_account_is_refused_clearly(
    keyless: tuple[Settings, str], rules: Rules, google: GoogleDirectoryEmulator
) -> None:
    settings, _ = keyless
    seed_small_company(google)
    other_account = google.create_service_account()
    google.allow_federation(AUDIENCE, other_account)  # the pool may act as another account only

    with pytest.raises(ConfigError, match="Google refused access"):
        run_sync(settings, RunOptions(apply=True), rules)


def test_a_configuration_without_the_service_account_is_a_config_error(
    keyless: tuple[Settings, str], rules: Rules
) -> None:
    settings, _ = keyless
    config = json.loads(Path(settings.google_credentials_file).read_text())
    del config["service_account_impersonation_url"]
    Path(settings.google_credentials_file).write_text(json.dumps(config))

    with pytest.raises(ConfigError, match="service_account_impersonation_url"):
        run_sync(settings, RunOptions(apply=True), rules)
