"""The shared token bucket. Only lower bounds on time are asserted: a slow machine can make
a run slower, never faster than the limit allows."""

import threading

import boto3
import pytest

from sync.aws.identity_store import boto_config
from sync.aws.rate_limit import CallMeter, TokenBucket
from sync.errors import ExitCode
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, add_people, seed_small_company


def test_calls_from_many_threads_share_one_rate() -> None:
    clock = StepClock()  # time passes only by the bucket's own waits, in any thread
    bucket = TokenBucket(rate_per_second=50, burst=5, clock=clock)

    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 40 calls at 50/s with a burst of 5 cannot be let through in less than 35 / 50 seconds.
    assert clock.now() >= 35 / 50 - 1e-9


def test_meter_counts_every_attempt_by_operation(idc: IdentityCenterView) -> None:
    meter = CallMeter(TokenBucket(100))
    client = boto3.client("identitystore", config=boto_config(1))
    meter.attach(client)

    client.list_users(IdentityStoreId=idc.store_id)
    client.list_users(IdentityStoreId=idc.store_id)
    client.list_groups(IdentityStoreId=idc.store_id)

    assert meter.calls == {"identitystore.ListUsers": 2, "identitystore.ListGroups": 1}


class StepClock:
    """Time that passes only when something sleeps: the bucket's waits are exact. Sleeps from
    several threads add up (under a lock: none is lost)."""

    def __init__(self) -> None:
        self.time = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds


def test_a_throttled_call_cuts_the_rate_and_calls_that_pass_raise_it_slowly() -> None:
    clock = StepClock()
    bucket = TokenBucket(rate_per_second=20, clock=clock)

    bucket.throttled()
    cut = bucket.rate
    bucket.throttled()  # the same moment of congestion: counted once
    clock.sleep(1.0)
    bucket.acquire()

    assert cut == 20 * 0.7
    assert bucket.rate == pytest.approx(14 + 1.0 * 0.025 * 20)  # 2.5% of 20 regained a second


def test_a_run_starts_at_its_rate_not_with_a_burst() -> None:
    clock = StepClock()
    bucket = TokenBucket(rate_per_second=100, clock=clock)
    started = clock.now()

    for _ in range(20):
        bucket.acquire()

    assert clock.now() - started == pytest.approx(20 / 100)


def test_a_cut_starts_from_what_was_sent_when_that_is_below_the_rate() -> None:
    clock = StepClock()
    bucket = TokenBucket(rate_per_second=1000, clock=clock)
    for _ in range(20):  # 40 calls a second, whatever the configured 1,000
        bucket.acquire()
        clock.sleep(0.025)

    bucket.throttled()

    assert bucket.rate <= 30  # 70% of at most 40 sent a second; cut from 1,000 it would be 700


def test_sharing_the_instance_limit_the_sync_backs_off(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
) -> None:
    seed_small_company(google)
    add_people(google, 100, "data@example.com")
    # What the instance leaves this run, others calling too:
    moto_app.quota = TokenBucket(20, starts_full=True)
    greedy = settings.model_copy(update={"rate_limit": 80, "retry_max_wait": 20.0})

    report = run_sync(greedy, RunOptions(apply=True), rules)

    throttled = sum(moto_app.throttled.values())
    calls = sum(moto_app.calls.values())
    assert report.exit_code is ExitCode.OK
    # Sending at 80 calls/s into 20 would see about three calls in four throttled; starting
    # with a full bucket of 80 and cutting from there, a quarter were.
    print(f"throttled {throttled} of {calls} calls ({throttled / calls:.1%})")
    assert throttled / calls < 0.2, (throttled, calls)
