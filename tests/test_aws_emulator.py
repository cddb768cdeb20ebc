"""The moto extensions behave as AWS does where moto 5.2 does not (shared FACTS.md)."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from sync.local.aws import ExtendedMotoApp
from tests.helpers import IdentityCenterView, ManualClock


def test_update_user_and_group(idc: IdentityCenterView) -> None:
    user_id = idc.create_user("a@example.com")
    group_id = idc.create_group("Old")

    idc.client.update_user(
        IdentityStoreId=idc.store_id,
        UserId=user_id,
        Operations=[
            {"AttributePath": "userName", "AttributeValue": "b@example.com"},
            {"AttributePath": "name.givenName", "AttributeValue": "Bea"},
        ],
    )
    idc.client.update_group(
        IdentityStoreId=idc.store_id,
        GroupId=group_id,
        Operations=[{"AttributePath": "displayName", "AttributeValue": "New"}],
    )

    assert idc.user(user_id)["UserName"] == "b@example.com"
    assert idc.user(user_id)["Name"]["GivenName"] == "Bea"
    assert idc.groups() == {"New": group_id}


def test_renaming_onto_a_taken_name_conflicts(idc: IdentityCenterView) -> None:
    idc.create_user("a@example.com")
    user_id = idc.create_user("b@example.com")

    with pytest.raises(ClientError, match="ConflictException"):
        idc.client.update_user(
            IdentityStoreId=idc.store_id,
            UserId=user_id,
            Operations=[{"AttributePath": "userName", "AttributeValue": "a@example.com"}],
        )


def test_duplicate_and_unknown_memberships(idc: IdentityCenterView) -> None:
    idc.create_user("a@example.com")
    idc.create_group("G")
    idc.add_member("G", "a@example.com")

    with pytest.raises(ClientError, match="ConflictException"):
        idc.add_member("G", "a@example.com")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        idc.client.delete_group_membership(
            IdentityStoreId=idc.store_id, MembershipId="00000000-0000-0000-0000-000000000000"
        )


def test_deleting_a_user_removes_their_memberships(idc: IdentityCenterView) -> None:
    user_id = idc.create_user("a@example.com")
    idc.create_user("b@example.com")
    idc.create_group("G")
    idc.add_member("G", "a@example.com")
    idc.add_member("G", "b@example.com")

    idc.client.delete_user(IdentityStoreId=idc.store_id, UserId=user_id)

    assert idc.members("G") == {"b@example.com"}
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        idc.client.delete_user(IdentityStoreId=idc.store_id, UserId=user_id)


def test_indexed_users_and_memberships_answer_as_moto_would(idc: IdentityCenterView) -> None:
    user_ids = [idc.create_user(f"u{index:03}@example.com") for index in range(150)]
    idc.create_group("G")
    for index in range(0, 150, 2):
        idc.add_member("G", f"u{index:03}@example.com")
    idc.client.update_user(
        IdentityStoreId=idc.store_id,
        UserId=user_ids[0],
        Operations=[{"AttributePath": "userName", "AttributeValue": "renamed@example.com"}],
    )
    idc.client.delete_user(IdentityStoreId=idc.store_id, UserId=user_ids[2])

    with pytest.raises(ClientError, match="ConflictException"):
        idc.create_user("u001@example.com")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        idc.client.get_user_id(
            IdentityStoreId=idc.store_id,
            AlternateIdentifier={
                "UniqueAttribute": {
                    "AttributePath": "userName",
                    "AttributeValue": "u000@example.com",
                }
            },
        )
    assert idc.user(user_ids[1])["Name"] == {"GivenName": "Hand", "FamilyName": "Made"}
    first = idc.client.list_group_memberships(
        IdentityStoreId=idc.store_id, GroupId=idc.groups()["G"], MaxResults=50
    )
    second = idc.client.list_group_memberships(
        IdentityStoreId=idc.store_id,
        GroupId=idc.groups()["G"],
        MaxResults=50,
        NextToken=first["NextToken"],
    )
    assert len(first["GroupMemberships"]) == 50 and len(second["GroupMemberships"]) == 24
    assert "NextToken" not in second  # 75 members, less the deleted user's membership
    memberships = idc.client.list_group_memberships_for_member(
        IdentityStoreId=idc.store_id, MemberId={"UserId": user_ids[4]}
    )["GroupMemberships"]
    assert [m["GroupId"] for m in memberships] == [idc.groups()["G"]]


def test_invalid_identity_store_id_is_rejected(idc: IdentityCenterView) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        idc.client.list_users(IdentityStoreId="not-a-store")


def test_organizations_refuse_what_aws_refuses(moto_app: ExtendedMotoApp) -> None:
    clock = ManualClock()
    moto_app.organizations.clock = clock
    client = boto3.client("organizations")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    document = json.dumps({"Version": "2012-10-17", "Statement": []})
    policies = [
        client.create_policy(
            Name=f"p{i}", Description="", Type="SERVICE_CONTROL_POLICY", Content=document
        )["Policy"]["PolicySummary"]["Id"]
        for i in range(5)
    ]

    with pytest.raises(ClientError, match="PolicyTypeNotEnabledException"):
        client.attach_policy(PolicyId=policies[0], TargetId=root)
    client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    with pytest.raises(ClientError, match="PolicyTypeNotEnabledException"):
        client.attach_policy(PolicyId=policies[0], TargetId=root)  # still PENDING_ENABLE
    with pytest.raises(ClientError, match="PolicyChangesInProgressException"):
        client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    clock.advance(moto_app.organizations.seconds_policy_type_pending)
    statuses = client.list_roots()["Roots"][0]["PolicyTypes"]
    assert statuses == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
    for policy in policies[:4]:
        client.attach_policy(PolicyId=policy, TargetId=root)  # FullAWSAccess makes five
    with pytest.raises(ClientError, match="ConstraintViolationException"):
        client.attach_policy(PolicyId=policies[4], TargetId=root)
    with pytest.raises(ClientError, match="MalformedPolicyDocumentException"):
        client.create_policy(
            Name="bad", Description="", Type="SERVICE_CONTROL_POLICY", Content="{nope"
        )
    client.create_organizational_unit(ParentId=root, Name="Workloads")
    with pytest.raises(ClientError, match="DuplicateOrganizationalUnitException"):
        client.create_organizational_unit(ParentId=root, Name="Workloads")


def test_account_creation_is_asynchronous(moto_app: ExtendedMotoApp) -> None:
    clock = ManualClock()
    moto_app.organizations.clock = clock
    client = boto3.client("organizations")
    client.create_organization(FeatureSet="ALL")

    status = client.create_account(Email="a@example.com", AccountName="A")["CreateAccountStatus"]
    assert status["State"] == "IN_PROGRESS" and "AccountId" not in status
    clock.advance(moto_app.organizations.seconds_in_progress)
    done = client.describe_create_account_status(CreateAccountRequestId=status["Id"])
    assert done["CreateAccountStatus"]["State"] == "SUCCEEDED"

    again = client.create_account(Email="a@example.com", AccountName="B")["CreateAccountStatus"]
    clock.advance(moto_app.organizations.seconds_in_progress)
    failed = client.describe_create_account_status(CreateAccountRequestId=again["Id"])
    assert failed["CreateAccountStatus"]["FailureReason"] == "EMAIL_ALREADY_EXISTS"
