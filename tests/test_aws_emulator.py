"""The moto extensions behave as AWS does where moto 5.2 does not (shared FACTS.md)."""

import pytest
from botocore.exceptions import ClientError

from tests.helpers import IdentityCenterView


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


def test_invalid_identity_store_id_is_rejected(idc: IdentityCenterView) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        idc.client.list_users(IdentityStoreId="not-a-store")
