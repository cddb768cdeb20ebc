"""The Lambda entry point: payloads select the run; anything unknown is rejected."""

import os
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.handler import lambda_handler, run_options
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.stack import environment
from sync.settings import Settings
from tests.helpers import IdentityCenterView, seed_small_company, writes

SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


@pytest.mark.parametrize(
    "payload",
    [
        {"dry_run": "yes"},
        {"dryrun": True},
        {"no_delete": 1},
        ["dry_run"],
        "resync",
        None,
    ],
)
def test_bad_payloads_are_rejected(payload: object, moto_app: ExtendedMotoApp) -> None:
    with pytest.raises(ConfigError, match="payload"):
        lambda_handler(payload, None)
    assert sum(moto_app.calls.values()) == 0


def test_payloads_select_the_run() -> None:
    assert run_options(SCHEDULED).apply and run_options(SCHEDULED).trigger == "schedule"
    assert run_options({}).apply
    assert not run_options({"dry_run": True}).apply
    assert run_options({"no_delete": True}).no_delete


def settings_environment(settings: Settings) -> dict[str, str]:
    return {
        f"SSO_SYNC_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def test_dry_run_writes_nothing_and_schedule_applies(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    with environment(settings_environment(settings)):
        planned = lambda_handler({"dry_run": True}, None)
        assert writes(moto_app) == {}
        applied = lambda_handler(SCHEDULED, None)

    assert planned["outcome"] == "planned" and planned["planned"]["user.create"] == 4
    assert applied["outcome"] == "succeeded" and applied["exit_code"] == 0
    assert applied["applied"]["user.create"] == 4 and applied["trigger"] == "schedule"
    assert len(idc.users()) == 4
    assert Path(settings.audit).exists()
    assert "SSO_SYNC_RULES" not in os.environ
