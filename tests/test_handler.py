"""The Lambda entry point: payloads select the run; anything unknown is rejected."""

import io
import json
import logging
import os
from pathlib import Path

import pytest

from sync import handler
from sync.errors import ConfigError
from sync.handler import lambda_handler, run_options
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.stack import environment
from sync.settings import Settings
from tests.helpers import (
    Context,
    IdentityCenterView,
    TimeRunsOutAfterWrites,
    add_people,
    seed_small_company,
    settings_environment,
    writes,
)

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
        lambda_handler(payload, Context())
    assert sum(moto_app.calls.values()) == 0


def test_payloads_select_the_run() -> None:
    scheduled, delta = run_options(SCHEDULED)
    assert scheduled.apply and scheduled.trigger == "schedule" and not delta
    assert run_options({})[0].apply
    assert run_options({"dry_run": False})[0].apply
    assert not run_options({"dry_run": True})[0].apply
    assert run_options({"no_delete": True})[0].no_delete
    delta_options, delta = run_options({"mode": "delta"})
    assert delta and delta_options.apply and delta_options.trigger == "delta"
    with pytest.raises(ConfigError, match="mode"):
        run_options({"mode": "partial"})
    with pytest.raises(ConfigError, match="unknown key"):
        run_options({"resume": True})  # runs continue as workflow steps, never by themselves


@pytest.mark.parametrize(
    "payload",
    [{"dry_run": False}, {"mode": "delta"}, {"mode": "delta", "dry_run": True}],
)
def test_in_plan_mode_a_payload_that_would_write_is_refused(payload: dict) -> None:
    with pytest.raises(ConfigError, match="refused payload: this deployment is in Mode plan"):
        run_options(payload, applies=False)


def test_in_plan_mode_the_default_payload_and_schedule_only_plan() -> None:
    assert not run_options({}, applies=False)[0].apply
    assert not run_options(SCHEDULED, applies=False)[0].apply
    assert not run_options({"no_delete": True}, applies=False)[0].apply


def test_allow_mass_delete_needs_the_deployment_to_allow_it() -> None:
    with pytest.raises(ConfigError, match="InvokersMayAllowMassDelete=false"):
        run_options({"allow_mass_delete": True})
    assert run_options({"allow_mass_delete": True}, mass_delete_allowed=True)[0].allow_mass_delete


def test_the_delta_schedule_runs_a_delta_sync(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    with environment(settings_environment(settings)):
        lambda_handler(SCHEDULED, Context())
        started = lambda_handler({"mode": "delta"}, Context())
        google.suspend_user("dan@example.com")
        moto_app.reset_counters()
        offboarded = lambda_handler({"mode": "delta"}, Context())

    assert started["mode"] == "delta" and started["outcome"] == "succeeded"
    assert offboarded["applied"] == {"user.delete": 1} and offboarded["exit_code"] == 0
    assert offboarded["feed"]["users"] == ["dan@example.com"]
    assert "dan@example.com" not in idc.users()
    assert moto_app.lambda_functions.asynchronous == []  # a run never invokes a function


def test_dry_run_writes_nothing_and_schedule_applies(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    logged = io.StringIO()
    capture = logging.StreamHandler(logged)
    capture.setFormatter(handler.logger.registered_formatter)
    handler.logger.addHandler(capture)
    with environment(settings_environment(settings)):
        planned = lambda_handler({"dry_run": True}, Context())
        assert writes(moto_app) == {}
        capsys.readouterr()
        logged.truncate(0)
        applied = lambda_handler(SCHEDULED, Context())
    handler.logger.removeHandler(capture)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    logs = [json.loads(line) for line in logged.getvalue().strip("\x00").splitlines() if line]

    assert planned["outcome"] == "planned" and planned["planned"]["user.create"] == 4
    assert applied["outcome"] == "succeeded" and applied["exit_code"] == 0
    assert applied["applied"]["user.create"] == 4 and applied["trigger"] == "schedule"
    assert len(idc.users()) == 4
    assert Path(settings.audit).exists()
    assert "SSO_SYNC_RULES" not in os.environ
    assert logs and all(record.get("run_id") == applied["run_id"] for record in logs)
    assert any(record["message"] == "sync run ended" for record in logs)
    (emf,) = [record for record in metrics if "_aws" in record]
    assert emf["UserCreate"] == [4.0] or emf["UserCreate"] == 4.0
    assert emf["RunFailed"] in (0.0, [0.0])
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SsoSync"


def test_a_run_out_of_time_stops_cleanly_and_the_next_run_continues(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    short = Context(seconds_left=TimeRunsOutAfterWrites(moto_app, 5))

    with environment(settings_environment(settings)):
        first = lambda_handler({}, short)
        resumed = lambda_handler({}, Context())

    assert first["outcome"] == "incomplete" and first["postponed"] > 0
    assert first["exit_code"] == 0
    assert resumed["outcome"] == "succeeded"
    assert len(idc.users()) == 34
    assert moto_app.lambda_functions.asynchronous == []  # it never invokes itself
    lines = [json.loads(line) for line in Path(settings.audit).read_text().splitlines()]
    attempted = [line for line in lines if line["operation"] != "run.summary"]
    assert len(attempted) == sum(first["applied"].values()) + sum(resumed["applied"].values())
