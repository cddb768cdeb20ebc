"""The Lambda-side stores: state, delta cursor and audit in S3, Google credentials in Secrets
Manager, Identity Center discovered through sso-admin; all through boto3 against moto."""

import json
import uuid
from pathlib import Path

import boto3
import pytest

from sync.aws.identity_store import discover_instance
from sync.delta.run import run_delta
from sync.errors import ConfigError
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.loader import load_rules
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, seed_small_company


def test_state_and_audit_in_s3_with_credentials_from_secrets_manager(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    bucket = f"sso-sync-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"google-key-{bucket}",
        SecretString=settings.google_credentials_file.read_text(),  # type: ignore[union-attr]
    )["ARN"]
    cloud = settings.model_copy(
        update={
            "google_credentials_file": None,
            "google_credentials_secret": secret,
            "state": f"s3://{bucket}/sync/state.json",
            "audit": f"s3://{bucket}/audit",
        }
    )

    first = run_sync(cloud, RunOptions(apply=True, trigger="schedule"), rules)
    second = run_sync(cloud, RunOptions(apply=True, trigger="schedule"), rules)

    assert first.exit_code == 0 and second.plan.operations == ()
    state = json.loads(s3.get_object(Bucket=bucket, Key="sync/state.json")["Body"].read())
    assert sorted(state["users"].values()) == sorted(idc.users().values())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="audit/")["Contents"]]
    assert len(keys) == 2 and all(key.endswith(".jsonl") for key in keys)
    audit_key = next(key for key in keys if first.run_id in key)
    lines = s3.get_object(Bucket=bucket, Key=audit_key)["Body"].read().decode().splitlines()
    assert len(lines) == len(first.plan.operations) + 1

    run_delta(cloud, RunOptions(apply=True, trigger="delta"), rules)  # starts the feed
    google.suspend_user("dan@example.com")
    offboarded = run_delta(cloud, RunOptions(apply=True, trigger="delta"), rules)

    assert offboarded.summary()["applied"] == {"user.delete": 1}
    cursor = json.loads(s3.get_object(Bucket=bucket, Key="sync/state.delta.json")["Body"].read())
    assert cursor["checkpoint"] is not None and cursor["handled"]


def test_identity_center_is_discovered(moto_app: ExtendedMotoApp) -> None:
    client = boto3.client("sso-admin")
    expected = moto_app.identity_center("us-east-1")

    assert discover_instance(client) == expected
    assert discover_instance(client, instance_arn=expected[0]) == expected
    with pytest.raises(ConfigError, match="no Identity Center instance"):
        discover_instance(client, instance_arn="arn:aws:sso:::instance/ssoins-0000000000000000")


def test_rules_from_s3_and_a_max_deletes_override(
    settings: Settings, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="rules-bucket")
    s3.put_object(
        Bucket="rules-bucket", Key="sso-sync/rules.yaml", Body=Path(settings.rules).read_bytes()
    )
    from_s3 = settings.model_copy(update={"rules": "s3://rules-bucket/sso-sync/rules.yaml"})
    assert run_sync(from_s3, RunOptions(apply=True)).exit_code == 0
    google.user_by_email("dan@example.com").suspended = True

    strict = from_s3.model_copy(update={"max_deletes": "0"})
    refused = run_sync(strict, RunOptions(apply=True))

    assert refused.exit_code == 3 and "limit 0" in (refused.refused or "")
    assert "dan@example.com" in idc.users()
    with pytest.raises(ConfigError, match="SSO_SYNC_MAX_DELETES"):
        run_sync(from_s3.model_copy(update={"max_deletes": "lots"}), RunOptions(apply=True))


def test_rules_in_s3_read_their_policy_files_next_to_the_rules_object(
    settings: Settings,
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="shipped-rules")
    shipped = Path(__file__).resolve().parent.parent / "mappings"
    s3.put_object(
        Bucket="shipped-rules", Key="sso/rules.yaml", Body=(shipped / "rules.yaml").read_bytes()
    )
    policy = (shipped / "policies" / "data-scientist.json").read_bytes()
    s3.put_object(Bucket="shipped-rules", Key="sso/policies/data-scientist.json", Body=policy)

    rules = load_rules("s3://shipped-rules/sso/rules.yaml")

    inline = rules.permission_sets["DataScientist"].inline_policy
    assert json.loads(inline or "") == json.loads(policy)

    s3.delete_object(Bucket="shipped-rules", Key="sso/policies/data-scientist.json")
    with pytest.raises(ConfigError, match=r"rules.yaml.*policies/data-scientist.json.*NoSuchKey"):
        load_rules("s3://shipped-rules/sso/rules.yaml")
