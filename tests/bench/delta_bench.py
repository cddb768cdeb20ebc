"""Delta runs against the emulators: what an idle run costs, and how long onboarding and
offboarding take from the change in Google to Identity Center. Figures are printed (table and
JSON), never asserted.

    python -m tests.bench.delta_bench --users 1000 10000 [--lag 2] [--cycle 1] [--json FILE]

The emulators enforce AWS's 20 calls/s and Google's 2,400 queries a minute at their real rates,
with 30 ms of latency a call. Google's feed shows each event `--lag` seconds after the change
(Google: usually a couple of minutes) and a delta run starts every `--cycle` seconds (the
template: every minute); both are shortened alike, so the results are given in cycles too.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from sync.aws.rate_limit import TokenBucket
from sync.delta.run import run_delta
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.http_server import LocalServer
from sync.local.stack import ADMIN_EMAIL, AWS_ENVIRONMENT, environment
from sync.rules.loader import parse_rules
from sync.run import RunOptions, RunReport, run_sync
from sync.settings import Settings
from tests.bench.directory import DOMAIN, seed_directory
from tests.bench.sync_bench import (
    AWS_CALLS_PER_SECOND,
    GOOGLE_QUERIES_PER_SECOND,
    LATENCY_SECONDS,
    RULES,
)

APPLY = RunOptions(apply=True, trigger="bench")


def bench_size(users: int, lag: float, cycle: float, workdir: Path) -> list[dict[str, Any]]:
    aws, google = ExtendedMotoApp(), GoogleDirectoryEmulator()
    google.add_user(ADMIN_EMAIL, "Workspace", "Admin", is_admin=True)
    google.reporting = False  # the seeded directory is history, synced by the full sync
    seed_directory(google, users)
    google.reporting = True
    rules = parse_rules(RULES)
    with (
        LocalServer(aws) as aws_server,
        LocalServer(google) as google_server,
        environment({**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": aws_server.url}),
    ):
        key = google.issue_service_account_key(f"{google_server.url}/token")
        (workdir / "key.json").write_text(json.dumps(key))
        store_id = aws.new_identity_store()
        settings = Settings(
            google_credentials_file=workdir / "key.json",
            google_admin_email=ADMIN_EMAIL,
            google_api_endpoint=google_server.url,
            state=str(workdir / "state.json"),
            audit=str(workdir / "audit.jsonl"),
            lock=str(workdir / "lock"),
            identity_store_id=store_id,
            rate_limit=1000,
            concurrency=16,
        )
        run_sync(settings, APPLY, rules)  # set-up at full speed: not measured
        run_delta(settings, APPLY, rules)  # starts the feed
        aws.quota = TokenBucket(AWS_CALLS_PER_SECOND, starts_full=True)
        google.quota = TokenBucket(GOOGLE_QUERIES_PER_SECOND, starts_full=True)
        aws.latency_seconds = google.latency_seconds = LATENCY_SECONDS
        google.report_delay_seconds = lag
        measured = settings.model_copy(update={"rate_limit": AWS_CALLS_PER_SECOND})
        identity = _IdentityCenter(boto3.client("identitystore"), store_id)

        def run() -> RunReport:
            return run_delta(measured, APPLY, rules)

        idle = run()
        rows = [_row(users, "idle delta run", idle, 1, 0.0, lag, cycle)]
        hire = f"newhire@{DOMAIN}"

        def onboard() -> None:
            google.add_user(hire, "New", "Hire")
            google.add_member(f"aws-team-00000@{DOMAIN}", hire)

        rows.append(
            _propagation(
                users, "onboarding", onboard, lambda: identity.is_member(hire), run, lag, cycle
            )
        )
        leaver = f"user{users // 2:06}@{DOMAIN}"
        rows.append(
            _propagation(
                users,
                "offboarding",
                lambda: google.suspend_user(leaver),
                lambda: not identity.exists(leaver),
                run,
                lag,
                cycle,
            )
        )
    return rows


def _propagation(
    users: int,
    scenario: str,
    change: Callable[[], None],
    arrived: Callable[[], bool],
    run: Callable[[], RunReport],
    lag: float,
    cycle: float,
) -> dict[str, Any]:
    """Make the change, then run a delta run every `cycle` seconds until it has arrived."""
    changed = time.monotonic()
    change()
    runs = 0
    while True:
        started = time.monotonic()
        report = run()
        runs += 1
        if arrived():
            return _row(users, scenario, report, runs, time.monotonic() - changed, lag, cycle)
        if runs > 100:
            raise RuntimeError(f"{scenario} did not arrive in 100 delta runs")
        time.sleep(max(0.0, started + cycle - time.monotonic()))


def _row(
    users: int,
    scenario: str,
    report: RunReport,
    runs: int,
    seconds: float,
    lag: float,
    cycle: float,
) -> dict[str, Any]:
    return {
        "users": users,
        "scenario": scenario,
        "outcome": report.summary()["outcome"],
        "delta_runs": runs,
        "runs_after_visible": runs - int(lag // cycle) if scenario != "idle delta run" else None,
        "seconds_from_change": seconds,
        "last_run_seconds": report.seconds,
        "writes": sum(report.applied.counts().values()) if report.applied else 0,
        "google_calls": dict(report.google_calls),
        "aws_calls": dict(report.aws_calls),
    }


class _IdentityCenter:
    def __init__(self, client: Any, store_id: str) -> None:
        self._client, self._store_id = client, store_id

    def _user_id(self, user_name: str) -> str | None:
        try:
            return self._client.get_user_id(
                IdentityStoreId=self._store_id,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": user_name}
                },
            )["UserId"]
        except self._client.exceptions.ResourceNotFoundException:
            return None

    def exists(self, user_name: str) -> bool:
        return self._user_id(user_name) is not None

    def is_member(self, user_name: str) -> bool:
        user_id = self._user_id(user_name)
        if user_id is None:
            return False
        found = self._client.list_group_memberships_for_member(
            IdentityStoreId=self._store_id, MemberId={"UserId": user_id}
        )["GroupMemberships"]
        return bool(found)


def print_table(rows: list[dict[str, Any]], lag: float, cycle: float) -> None:
    print(f"feed lag {lag:g}s, a delta run every {cycle:g}s")
    print(
        f"{'users':>7} {'scenario':<15} {'runs':>5} {'after visible':>13} {'s from change':>13} "
        f"{'run s':>6} {'writes':>6} {'google':>6} {'aws':>5}"
    )
    for row in rows:
        print(
            f"{row['users']:>7} {row['scenario']:<15} {row['delta_runs']:>5} "
            f"{row['runs_after_visible'] if row['runs_after_visible'] is not None else '-':>13} "
            f"{row['seconds_from_change']:>13.2f} "
            f"{row['last_run_seconds']:>6.2f} {row['writes']:>6} "
            f"{sum(row['google_calls'].values()):>6} {sum(row['aws_calls'].values()):>5}"
        )
    for row in rows:
        for side in ("google", "aws"):
            calls = ", ".join(f"{k}={v}" for k, v in sorted(row[f"{side}_calls"].items()))
            print(f"  {row['users']} {row['scenario']}: {side} {calls or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--lag", type=float, default=2.0, help="seconds until an event shows")
    parser.add_argument("--cycle", type=float, default=1.0, help="seconds between delta runs")
    parser.add_argument("--json", type=Path, default=Path("build/delta-bench.json"))
    arguments = parser.parse_args()
    rows = []
    for users in arguments.users:
        with tempfile.TemporaryDirectory() as workdir:
            rows += bench_size(users, arguments.lag, arguments.cycle, Path(workdir))
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"AWS {AWS_CALLS_PER_SECOND}/s, Google {GOOGLE_QUERIES_PER_SECOND:g}/s, "
        f"{1000 * LATENCY_SECONDS:g} ms a call, {time.strftime('%Y-%m-%d')}"
    )
    print_table(rows, arguments.lag, arguments.cycle)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps(rows, indent=2))
    print(f"JSON: {arguments.json}")


if __name__ == "__main__":
    main()
