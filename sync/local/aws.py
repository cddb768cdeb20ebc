"""moto in server mode, with a thin WSGI layer that fills the gaps that matter to the sync.

moto 5.2 lacks UpdateUser and UpdateGroup, accepts a duplicate membership and the deletion of
an unknown one, leaves memberships behind when a user or group is deleted, and accepts any
identity store id. This layer answers those the way AWS does (see shared FACTS.md) and can
inject ThrottlingException and latency into Identity Center calls.
"""

import io
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.identitystore.models import Name, identitystore_backends
from moto.moto_api._internal import mock_random
from moto.server import DomainDispatcherApplication, create_backend_app
from moto.ssoadmin.models import ssoadmin_backends

IDENTITY_CENTER_TARGETS = ("AWSIdentityStore.", "SWBExternalService.")
REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
NAME_PATHS = {"name.givenName": "GivenName", "name.familyName": "FamilyName"}
USER_ATTRIBUTE_PATHS = {"userName", "displayName", "emails", *NAME_PATHS}
GROUP_ATTRIBUTE_PATHS = {"displayName", "description"}

JsonBody = dict[str, Any]


class AwsError(Exception):
    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


@dataclass(frozen=True)
class Refusal:
    """Answer `operation` calls whose JSON body contains `body_contains` with `error`."""

    operation: str
    error: str
    body_contains: str = ""


class ExtendedMotoApp:
    """moto's WSGI application behind the fixes and fault injection of this module."""

    def __init__(self, seed: int = 7) -> None:
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.throttle_fraction = 0.0
        self.latency_seconds = 0.0
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.refusals: list[Refusal] = []
        self._fixes = {
            "AWSIdentityStore.UpdateUser": self._update_user,
            "AWSIdentityStore.UpdateGroup": self._update_group,
            "AWSIdentityStore.CreateGroupMembership": self._create_membership,
            "AWSIdentityStore.DeleteGroupMembership": self._delete_membership,
            "AWSIdentityStore.DeleteUser": self._delete_user,
            "AWSIdentityStore.DeleteGroup": self._delete_group,
        }

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled.clear()

    def identity_center(self, region: str) -> tuple[str, str]:
        """The (InstanceArn, IdentityStoreId) that sso-admin ListInstances reports."""
        instance = ssoadmin_backends[DEFAULT_ACCOUNT_ID][region].instances[0]
        return instance.instance_arn, instance.identity_store_id

    def new_identity_store(self) -> str:
        """A fresh, empty identity store id (tests use one each, to stay independent)."""
        return "d-" + mock_random.get_random_hex(10)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(IDENTITY_CENTER_TARGETS):
            return self._moto(environ, start_response)
        operation = target.split(".", 1)[1]
        with self._lock:
            self.calls[operation] += 1
            throttle = self._random.random() < self.throttle_fraction
            if throttle:
                self.throttled[operation] += 1
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if throttle:
            return _error(AwsError("ThrottlingException", "Rate exceeded"), start_response)
        if not target.startswith("AWSIdentityStore."):
            return self._moto(environ, start_response)
        fix = self._fixes.get(target)
        body = _read_body(environ)
        region = _region(environ)
        text = json.dumps(body)
        for refusal in self.refusals:
            if refusal.operation == operation and refusal.body_contains in text:
                return _error(AwsError(refusal.error, "Refused by the emulator"), start_response)
        try:
            with self._lock:
                store = self._store(body, region)
                answer = fix(store, body) if fix else None
        except AwsError as error:
            return _error(error, start_response)
        if answer is None:
            return self._moto(environ, start_response)
        return _json(answer, start_response)

    # --- the fixes ----------------------------------------------------------------------
    # Each returns a JSON answer, or None to let moto answer the (re-readable) request.

    @staticmethod
    def _store(body: JsonBody, region: str) -> Any:
        backend = identitystore_backends[DEFAULT_ACCOUNT_ID][region]
        store_id = body.get("IdentityStoreId", "")
        if not re.fullmatch(r"d-[0-9a-z]{10}", store_id):  # moto's own ids are not hex
            raise AwsError("ValidationException", f"Invalid IdentityStoreId {store_id!r}")
        return backend._IdentityStoreBackend__get_identity_store(store_id)

    def _update_user(self, store: Any, body: JsonBody) -> JsonBody:
        user = store.users.get(body.get("UserId"))
        if user is None:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        operations = body.get("Operations") or []
        if not 1 <= len(operations) <= 100:
            raise AwsError("ValidationException", "Operations must have 1 to 100 items")
        changed = user._asdict()
        name = user.Name._asdict() if user.Name else dict.fromkeys(Name._fields)
        for operation in operations:
            path, value = operation.get("AttributePath"), operation.get("AttributeValue")
            if path not in USER_ATTRIBUTE_PATHS:
                raise AwsError("ValidationException", f"Unsupported AttributePath {path!r}")
            if path == "userName":
                if any(u.UserName == value for u in store.users.values() if u is not user):
                    raise AwsError("ConflictException", "Duplicate UserName")
                changed["UserName"] = value
            elif path == "displayName":
                changed["DisplayName"] = value
            elif path in NAME_PATHS:
                name[NAME_PATHS[path]] = value
            else:
                changed["Emails"] = [{k[0].upper() + k[1:]: v for k, v in e.items()} for e in value]
        changed["Name"] = Name(**name)
        store.users[user.UserId] = type(user)(**changed)
        return {}

    def _update_group(self, store: Any, body: JsonBody) -> JsonBody:
        group = store.groups.get(body.get("GroupId"))
        if group is None:
            raise AwsError("ResourceNotFoundException", "GROUP not found.")
        changes: dict[str, Any] = {}
        for operation in body.get("Operations") or []:
            path, value = operation.get("AttributePath"), operation.get("AttributeValue")
            if path not in GROUP_ATTRIBUTE_PATHS:
                raise AwsError("ValidationException", f"Unsupported AttributePath {path!r}")
            if path == "displayName":
                if any(g.DisplayName == value for g in store.groups.values() if g is not group):
                    raise AwsError("ConflictException", "Duplicate GroupDisplayName")
                changes["DisplayName"] = value
            else:
                changes["Description"] = value
        store.groups[group.GroupId] = group._replace(**changes)
        return {}

    def _create_membership(self, store: Any, body: JsonBody) -> None:
        user_id = (body.get("MemberId") or {}).get("UserId")
        for membership in store.group_memberships.values():
            if membership["GroupId"] == body.get("GroupId") and (
                membership["MemberId"]["UserId"] == user_id
            ):
                raise AwsError("ConflictException", "Member is already in the group")
        return None

    def _delete_membership(self, store: Any, body: JsonBody) -> None:
        if body.get("MembershipId") not in store.group_memberships:
            raise AwsError("ResourceNotFoundException", "GROUP_MEMBERSHIP not found.")
        return None

    def _delete_user(self, store: Any, body: JsonBody) -> None:
        user_id = body.get("UserId")
        if user_id not in store.users:
            raise AwsError("ResourceNotFoundException", "USER not found.")
        _drop_memberships(store, lambda m: m["MemberId"]["UserId"] == user_id)
        return None

    def _delete_group(self, store: Any, body: JsonBody) -> None:
        group_id = body.get("GroupId")
        if group_id not in store.groups:
            raise AwsError("ResourceNotFoundException", "GROUP not found.")
        _drop_memberships(store, lambda m: m["GroupId"] == group_id)
        return None


def _drop_memberships(store: Any, matches: Any) -> None:
    for membership_id in [k for k, m in store.group_memberships.items() if matches(m)]:
        del store.group_memberships[membership_id]


def _read_body(environ: dict) -> JsonBody:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)  # moto reads it again
    return json.loads(raw or b"{}")


def _region(environ: dict) -> str:
    found = REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found.group(1) if found else "us-east-1"


def _json(body: JsonBody, start_response: Any) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _error(error: AwsError, start_response: Any) -> list[bytes]:
    payload = json.dumps({"__type": error.kind, "Message": error.message}).encode()
    start_response(
        f"{error.status} Error",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
