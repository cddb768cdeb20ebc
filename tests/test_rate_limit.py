"""The shared token bucket. Only lower bounds on time are asserted: a slow machine can make
a run slower, never faster than the limit allows."""

import threading
import time

import boto3

from sync.aws.identity_store import boto_config
from sync.aws.rate_limit import CallMeter, TokenBucket
from tests.helpers import IdentityCenterView


def test_calls_from_many_threads_share_one_rate() -> None:
    bucket = TokenBucket(rate_per_second=50, burst=5)
    started = time.monotonic()

    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 40 calls at 50/s with a burst of 5 cannot take less than 35 / 50 seconds.
    assert time.monotonic() - started >= 35 / 50


def test_meter_counts_every_attempt_by_operation(idc: IdentityCenterView) -> None:
    meter = CallMeter(TokenBucket(100))
    client = boto3.client("identitystore", config=boto_config(1))
    meter.attach(client)

    client.list_users(IdentityStoreId=idc.store_id)
    client.list_users(IdentityStoreId=idc.store_id)
    client.list_groups(IdentityStoreId=idc.store_id)

    assert meter.calls == {"identitystore.ListUsers": 2, "identitystore.ListGroups": 1}
