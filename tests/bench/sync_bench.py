"""The sync against rate-limited emulators: API calls, throttling, wall time and calls against
a bound computed from the directory alone (tests/bench/bound.py), peak memory. Figures are
printed (table and JSON), never asserted.

    python -m tests.bench.sync_bench --users 1000 10000 50000 [--scale 10] [--json FILE]
        [--shared-limit-users 2000] [--resumable-users 100000 --budget 840 [--max-invocations 4]]

AWS's collective 20 calls/s for Identity Center and Google's 2,400 queries a minute are
enforced by the emulators (throttling beyond), with 30 ms of latency a call; `--scale` speeds
all three up by the same factor so that a run ends in reasonable time while ratios stay true.
Each scenario runs `sso-sync apply` in a child process, the way the Lambda does; the resumable
first sync runs the workflow's steps (sync/execution_step.py), one child process a step.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3

from sync.aws.rate_limit import TokenBucket
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.http_server import LocalServer
from sync.local.stack import ADMIN_EMAIL, AWS_ENVIRONMENT
from tests.bench.bound import EMPTY, Work, required_work
from tests.bench.directory import churn, give_profiles, manager_updates, seed_directory

AWS_CALLS_PER_SECOND = 20
GOOGLE_QUERIES_PER_SECOND = 2400 / 60
LATENCY_SECONDS = 0.030
RULES = 'version: 1\nsync:\n  groups:\n    - query: "email:aws-*"\n'
ATTRIBUTES = (
    "attributes:\n  user:\n"
    "    enterprise.department: organizations.primary.department\n"
    "    enterprise.costCenter: organizations.primary.costCenter\n"
    "    enterprise.manager: relations.manager\n"
)


def run_child(environment: dict[str, str], *step: str) -> tuple[dict, int]:
    """`sso-sync apply` (or, given `step`, one step of a workflow's run) in a child process:
    its run summary and peak memory."""
    arguments = ["step", *step] if step else ["apply", "--auto-approve", "--json"]
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run_child.py")), *arguments],
        capture_output=True,
        text=True,
        env=environment,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"sso-sync exited {result.returncode}: {result.stderr[-2000:]}")
    peak = next(
        int(line.split()[1])
        for line in result.stderr.splitlines()
        if line.startswith("PEAK_RSS_KB")
    )
    summary = json.loads(result.stdout)
    return (summary if step else summary["run"]), peak


@contextmanager
def bench_stack(
    users: int, scale: float, workdir: Path, attributes: bool = False
) -> Iterator[tuple[ExtendedMotoApp, GoogleDirectoryEmulator, dict[str, str], list[str]]]:
    """Rate-limited emulators holding a synthetic directory of `users`, and the environment
    that points `sso-sync` at them."""
    aws, google = ExtendedMotoApp(), GoogleDirectoryEmulator()
    google.add_user(ADMIN_EMAIL, "Workspace", "Admin", is_admin=True)
    aws_rate, google_rate = AWS_CALLS_PER_SECOND * scale, GOOGLE_QUERIES_PER_SECOND * scale
    aws.quota, google.quota = (
        TokenBucket(aws_rate, starts_full=True),
        TokenBucket(google_rate, starts_full=True),
    )
    aws.latency_seconds = google.latency_seconds = LATENCY_SECONDS / scale
    synced = seed_directory(google, users)
    if attributes:
        give_profiles(google)
    with LocalServer(aws) as aws_server, LocalServer(google) as google_server:
        key = google.issue_service_account_key(f"{google_server.url}/token")
        (workdir / "key.json").write_text(json.dumps(key))
        (workdir / "rules.yaml").write_text(RULES + (ATTRIBUTES if attributes else ""))
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SSO_SYNC_")},
            **AWS_ENVIRONMENT,
            "AWS_ENDPOINT_URL": aws_server.url,
            "SSO_SYNC_GOOGLE_CREDENTIALS_FILE": str(workdir / "key.json"),
            "SSO_SYNC_GOOGLE_ADMIN_EMAIL": ADMIN_EMAIL,
            "SSO_SYNC_GOOGLE_API_ENDPOINT": google_server.url,
            "SSO_SYNC_RULES": str(workdir / "rules.yaml"),
            "SSO_SYNC_STATE": str(workdir / "state.json"),
            "SSO_SYNC_AUDIT": str(workdir / "audit.jsonl"),
            "SSO_SYNC_LOCK": str(workdir / "lock"),
            "SSO_SYNC_IDENTITY_STORE_ID": aws.new_identity_store(),
            "SSO_SYNC_RATE_LIMIT": str(aws_rate),
            "SSO_SYNC_CONCURRENCY": "16",
            "SSO_SYNC_RETRY_MAX_WAIT": "2",
        }
        yield aws, google, environment, synced


def bench_size(
    users: int, scale: float, workdir: Path, attributes: bool = False
) -> list[dict[str, Any]]:
    """First sync, no change and 1% churn, each against the bound of its own directory. With
    `attributes`, the rules map department, cost center and manager (first sync and no
    change only)."""
    rows = []
    with bench_stack(users, scale, workdir, attributes) as (aws, google, environment, synced):
        held = EMPTY
        scenarios = ("first sync", "no-change sync", "1% churn")[: 2 if attributes else 3]
        for scenario in scenarios:
            if scenario == "1% churn":
                churn(google, 0.01)
            work, after = required_work(google, synced, held)
            if attributes and held is EMPTY:
                everyone = frozenset().union(*after.groups.values())
                work = replace(work, aws_writes=work.aws_writes + manager_updates(google, everyone))
            summary, peak_kb = measured_run(aws, google, environment)
            label = f"{scenario}, attributes" if attributes else scenario
            rows.append(row(users, label, scale, summary, peak_kb, aws, google, work))
            rows[-1]["ssosync_model_calls"] = ssosync_calls(google, synced)
            held = after
    return rows


def bench_shared_limit(users: int, scale: float, workdir: Path, share: float) -> dict[str, Any]:
    """A first sync configured at the whole limit while other callers (the console, other
    tools, AWS's own SCIM) use `share` of it: the bound is the capacity left to the sync."""
    with bench_stack(users, scale, workdir) as (aws, google, environment, synced):
        work, _ = required_work(google, synced, EMPTY)
        assert aws.quota is not None
        with OtherCallers(aws.quota, share * AWS_CALLS_PER_SECOND * scale):
            summary, peak_kb = measured_run(aws, google, environment)
        left = 1 - share
        result = row(
            users, f"first, others {share:.0%}", scale * left, summary, peak_kb, aws, google, work
        )
        result["scale"] = scale
        return result


def bench_resumable(
    users: int, scale: float, workdir: Path, budget_seconds: float, max_invocations: int | None
) -> dict[str, Any]:
    """A first sync too long for one invocation, run as the workflow runs it: each step stops
    when its time budget ends and the next applies the rest of the carried plan, until a
    confirming read finds nothing left or `max_invocations` have run (then the rest is
    projected at real rates)."""
    with bench_stack(users, scale, workdir) as (aws, google, environment, synced):
        work, done = required_work(google, synced, EMPTY)
        finished_read, _ = required_work(google, synced, done)
        environment = {
            **environment,
            "SSO_SYNC_TIME_BUDGET": str(budget_seconds / scale),
            "SSO_SYNC_LOCK": f"dynamodb://{lock_table(environment)}",  # as the template's
        }
        aws.reset_counters()
        google.requests.clear()
        invocations: list[dict[str, Any]] = []
        carried: list[str] = []
        outcome = "incomplete"
        while outcome == "incomplete" and len(invocations) != max_invocations:
            summary, peak_kb = run_child(environment, "bench-run", *carried)
            invocations.append(invocation_figures(summary, peak_kb))
            print_invocation(len(invocations), invocations[-1])
            carried = [summary["carried"]] if summary["carried"] else []
            if summary["done"]:
                outcome = summary["outcome"]
            elif len(invocations) > 1 and not invocations[-1]["applied"]:
                # A first step whose read takes its whole budget still carries the plan on; a
                # later step that applies nothing makes no progress.
                outcome = "stuck: a step applied nothing (emulators too slow here?)"
        aws_calls = sum(aws.calls.values()) - sum(aws.throttled.values())
        seconds = sum(i["seconds"] for i in invocations)
        bound = work.seconds(GOOGLE_QUERIES_PER_SECOND * scale, AWS_CALLS_PER_SECOND * scale)
        result = {
            "users": users,
            "scenario": "resumable first sync",
            "outcome": outcome,
            "invocations": len(invocations),
            "per_invocation": invocations,
            "budget_seconds_real_rate": budget_seconds,
            "peak_rss_mb_per_invocation": [i["peak_mb"] for i in invocations],
            "seconds": seconds,
            "lower_bound_seconds": bound,
            "time_ratio": seconds / bound,
            "aws_calls": aws_calls,
            "required_aws_calls": work.aws_calls,
            "calls_ratio": aws_calls / work.aws_calls,
            "largest_state_bytes": max(i["state_bytes"] for i in invocations),
        }
        if outcome == "incomplete":
            result["projection"] = project_the_rest(
                invocations, aws_calls, work, finished_read.aws_reads, budget_seconds
            )
        return result


WORKFLOW = Path(__file__).resolve().parents[2] / "deploy" / "sync-workflow.asl.json"


def state_between_steps(summary: dict[str, Any]) -> dict[str, Any]:
    """What the workflow keeps of a step's output for the next step: its ResultSelector."""
    selector = json.loads(WORKFLOW.read_text())["States"]["Step"]["ResultSelector"]
    return {key.removesuffix(".$"): summary[key.removesuffix(".$")] for key in selector}


def lock_table(environment: dict[str, str]) -> str:
    """A run lock table in the emulator: steps are processes of their own, and hold the
    execution's lease between them as the Lambda does."""
    boto3.client(
        "dynamodb",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    ).create_table(
        TableName="sso-sync-lock",
        KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "sso-sync-lock"


def invocation_figures(summary: dict[str, Any], peak_kb: int) -> dict[str, Any]:
    aws = summary["api_calls"]["aws"]
    return {
        "state_bytes": len(json.dumps(state_between_steps(summary))),
        "applied": sum(summary["applied"].values()),
        "left": summary["left"],
        "aws_reads": sum(n for operation, n in aws.items() if ".List" in operation),
        "aws_calls": sum(aws.values()),
        "google_calls": sum(summary["api_calls"]["google"].values()),
        "seconds": summary["seconds"],
        "peak_mb": round(peak_kb / 1024),
    }


def print_invocation(number: int, figures: dict[str, Any]) -> None:
    print(
        f"  step {number}: applied {figures['applied']:,} "
        f"({figures['left']:,} left in the carried plan), AWS calls {figures['aws_calls']:,} "
        f"of which {figures['aws_reads']:,} reads, Google calls {figures['google_calls']:,}, "
        f"{figures['seconds']:.0f} s, peak {figures['peak_mb']} MB",
        flush=True,  # as each step ends, not when the run does
    )


def project_the_rest(
    invocations: list[dict[str, Any]],
    calls_so_far: int,
    work: Work,
    finished_read: int,
    budget_seconds: float,
) -> dict[str, Any]:
    """The steps still to come, at real rates: the carried plan's writes, a budget's worth a
    step (no step reads), then one confirming read of the finished state (computed from the
    directory) that finds nothing left."""
    writes_each = budget_seconds * AWS_CALLS_PER_SECOND
    remaining = invocations[-1]["left"]
    more = math.ceil(remaining / writes_each) + 1
    calls = calls_so_far + remaining + finished_read
    return {
        "reads_each": 0,
        "finished_read": finished_read,
        "writes_each": round(writes_each),
        "invocations": len(invocations) + more,
        "aws_calls": round(calls),
        "calls_ratio": calls / work.aws_calls,
    }


class OtherCallers:
    """Takes `rate` of the emulated instance's calls a second, as other clients would."""

    def __init__(self, quota: TokenBucket, rate: float) -> None:
        self._quota, self._interval = quota, 1 / rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._call, daemon=True)

    def _call(self) -> None:
        while not self._stop.wait(self._interval):
            self._quota.try_acquire()

    def __enter__(self) -> "OtherCallers":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measured_run(
    aws: ExtendedMotoApp, google: GoogleDirectoryEmulator, environment: dict[str, str]
) -> tuple[dict, int]:
    aws.reset_counters()
    google.requests.clear()
    google.throttled = 0
    return run_child(environment)


def row(
    users: int,
    scenario: str,
    scale: float,
    summary: dict,
    peak_kb: int,
    aws: ExtendedMotoApp,
    google: GoogleDirectoryEmulator,
    work: Work,
) -> dict[str, Any]:
    """One scenario's figures; `scale` sets the rates the bound assumes."""
    bound = work.seconds(GOOGLE_QUERIES_PER_SECOND * scale, AWS_CALLS_PER_SECOND * scale)
    aws_answered = sum(aws.calls.values()) - sum(aws.throttled.values())
    google_answered = len(google.requests) - google.throttled
    return {
        "users": users,
        "scenario": scenario,
        "outcome": summary["outcome"],
        "writes": sum(summary["applied"].values()),
        "required_writes": work.aws_writes,
        "google_calls": summary["api_calls"]["google"],
        "aws_calls": summary["api_calls"]["aws"],
        "aws_throttled": sum(aws.throttled.values()),
        "google_throttled": google.throttled,
        "throttled_share": sum(aws.throttled.values()) / max(1, sum(aws.calls.values())),
        "seconds": summary["seconds"],
        "lower_bound_seconds": bound,
        "time_ratio": summary["seconds"] / bound,
        "calls_ratio": (aws_answered + google_answered) / (work.aws_calls + work.google_calls),
        "aws_calls_ratio": aws_answered / work.aws_calls,
        "peak_rss_mb": peak_kb / 1024,
    }


def ssosync_calls(google: GoogleDirectoryEmulator, synced: list[str]) -> int:
    """awslabs/ssosync's call pattern for the same directory (its issue #17: users x groups):
    users and groups listed, each member fetched, and every user checked against every
    group through SCIM. A model from its documented pattern, not a measurement."""
    groups = [google.group_by_email(email) for email in synced]
    members = sum(len(google._flattened(g, set())) for g in groups)
    users = len(google.users)
    google_calls = math.ceil(users / 500) + len(groups) + members
    return google_calls + users + len(groups) + users * len(groups)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'users':>7} {'scenario':<19} {'writes':>7} {'google':>7} {'aws':>8} {'thrott%':>7} "
        f"{'wall s':>8} {'bound s':>8} {'time/bd':>7} {'calls/bd':>8} {'peak MB':>8} "
        f"{'ssosync*':>10}"
    )
    for row in rows:
        print(
            f"{row['users']:>7} {row['scenario']:<19} {row['writes']:>7} "
            f"{sum(row['google_calls'].values()):>7} {sum(row['aws_calls'].values()):>8} "
            f"{100 * row['throttled_share']:>6.2f}% {row['seconds']:>8.1f} "
            f"{row['lower_bound_seconds']:>8.1f} {row['time_ratio']:>7.2f} "
            f"{row['calls_ratio']:>8.2f} {row['peak_rss_mb']:>8.0f} "
            f"{row.get('ssosync_model_calls', ''):>10}"
        )
    print(
        "bound: from the generated directory alone (writes that must happen, listing pages "
        "that must be read), at the rates; thrott%: the sync's AWS calls throttled; peak MB: "
        "the sync process's own high-water mark (VmHWM)"
    )
    print("* ssosync: calls its documented pattern makes for the same directory (modelled)")
    for row in rows:
        calls = ", ".join(f"{k}={v}" for k, v in sorted(row["aws_calls"].items()))
        print(f"  {row['users']} {row['scenario']}: AWS {calls}")
        calls = ", ".join(f"{k}={v}" for k, v in sorted(row["google_calls"].items()))
        print(f"  {row['users']} {row['scenario']}: Google {calls}")


def print_resumable(result: dict[str, Any]) -> None:
    print(
        f"Resumable first sync of {result['users']:,} people, a "
        f"{result['budget_seconds_real_rate']:g} s budget an invocation at real rates: "
        f"{result['outcome']} after "
        f"{result['invocations']} step(s) (each above); peak memory per step "
        f"{result['peak_rss_mb_per_invocation']} MB; {result['seconds']:.0f} s of runs, "
        f"{result['time_ratio']:.2f}x the bound; AWS calls {result['aws_calls']:,} = "
        f"{result['calls_ratio']:.2f}x the required {result['required_aws_calls']:,}; "
        f"largest state passed between steps {result['largest_state_bytes']:,} bytes "
        "(Step Functions allows 262,144)"
    )
    if projection := result.get("projection"):
        reading = (
            f"  projected at real rates (not run): each further step writes about "
            f"{projection['writes_each']:,} and reads nothing, then a confirming read of the "
            f"finished state ({projection['finished_read']:,} AWS pages)"
        )
        print(
            f"{reading}; {projection['invocations']} steps in all, AWS calls "
            f"{projection['aws_calls']:,} = {projection['calls_ratio']:.2f}x the required"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="*", default=[1000, 10000, 50000])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument(
        "--shared-limit-users",
        type=int,
        default=0,
        help="also a first sync of this many people while other callers use 25%% of the limit",
    )
    parser.add_argument(
        "--resumable-users",
        type=int,
        default=0,
        help="also a first sync of this many people as the workflow's steps",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=840.0,
        help="seconds an invocation may run at real rates (the template's: 840)",
    )
    parser.add_argument(
        "--max-invocations",
        type=int,
        help="stop the resumable run after this many steps and project the rest",
    )
    parser.add_argument(
        "--attributes",
        action="store_true",
        help="the rules also map department, cost center and manager (first and no-change)",
    )
    parser.add_argument("--json", type=Path, default=Path("build/bench.json"))
    arguments = parser.parse_args()
    rows: list[dict[str, Any]] = []
    resumable = None
    started = time.monotonic()
    for users in arguments.users:
        with tempfile.TemporaryDirectory() as workdir:
            rows += bench_size(users, arguments.scale, Path(workdir), arguments.attributes)
    if arguments.shared_limit_users:
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(
                bench_shared_limit(
                    arguments.shared_limit_users, arguments.scale, Path(workdir), 0.25
                )
            )
    if arguments.resumable_users:
        with tempfile.TemporaryDirectory() as workdir:
            resumable = bench_resumable(
                arguments.resumable_users,
                arguments.scale,
                Path(workdir),
                arguments.budget,
                arguments.max_invocations,
            )
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scale x{arguments.scale:g} (AWS {AWS_CALLS_PER_SECOND * arguments.scale:g}/s, "
        f"Google {GOOGLE_QUERIES_PER_SECOND * arguments.scale:g}/s, "
        f"{1000 * LATENCY_SECONDS / arguments.scale:g} ms a call), "
        f"{time.strftime('%Y-%m-%d')}, bench took {time.monotonic() - started:.0f}s"
    )
    print_table(rows)
    if resumable:
        print_resumable(resumable)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps({"runs": rows, "resumable": resumable}, indent=2))
    print(f"JSON: {arguments.json}")


if __name__ == "__main__":
    main()
