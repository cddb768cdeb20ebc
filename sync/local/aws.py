"""moto in server mode behind a thin WSGI layer: the fixes that make it answer as AWS does
where the sync depends on it (see shared FACTS.md), and injected faults.

Throttling, latency and refusals apply to Identity Center calls (Identity Store and SSO Admin,
which share AWS's 20 calls/s quota). Every other service goes to moto untouched.
"""

import io
import json
import random
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.models import moto_api_backend
from moto.organizations.models import organizations_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from moto.ssoadmin.models import ssoadmin_backends
from moto.stepfunctions.parser.utils import TMP_THREADS

from sync.aws.rate_limit import TokenBucket
from sync.local.aws_errors import AwsError, JsonBody
from sync.local.iam_fixes import AWS_POLICY_PREFIX, get_policy
from sync.local.identity_store_fixes import IdentityStoreFixes
from sync.local.lambda_functions import LambdaFunctions
from sync.local.organizations_fixes import (
    BudgetsFixes,
    OrganizationsFixes,
    ServiceQuotasFixes,
)
from sync.local.sso_admin_fixes import SsoAdminFixes
from sync.local.stack_sets import StackSetsEmulator

LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/[a-z0-9-]+/([a-z0-9-]+)/")


@dataclass
class Refusal:
    """Answer `operation` calls whose JSON body contains `body_contains` with `error` (the
    next `times` such calls, or all of them)."""

    operation: str
    error: str
    body_contains: str = ""
    message: str = "Refused by the emulator"
    times: int | None = None
    reason: str | None = None
    """The error's Reason field (Identity Store's ConflictException has one)."""


@dataclass
class Hold:
    """Calls of `operation` beyond the first `after` wait until the test releases them: a test
    acts at a known point of a run (a signal, a kill) instead of racing it. `reached` is set
    when the first held call arrives."""

    operation: str
    after: int
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class _RoutingOnce(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host: moto 5 finds it anew for
    every request, listing its own package folder (moto/backends.py: list_of_moto_modules),
    most of a millisecond a call, under the lock every call shares."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_by_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backend_by_host:
            self._backend_by_host[host] = super().get_backend_for_host(host)
        return self._backend_by_host[host]


class ExtendedMotoApp:
    """moto's WSGI application behind the fixes and fault injection."""

    def __init__(self, seed: int = 7) -> None:
        self._moto = _RoutingOnce()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._moto_lock = threading.Lock()  # moto's backends are not thread-safe
        self.throttle_fraction = 0.0
        self.latency_seconds = 0.0
        self.quota: TokenBucket | None = None
        """Identity Center's collective calls per second: beyond it, ThrottlingException."""
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.refusals: list[Refusal] = []
        self.holds: list[Hold] = []
        self.before_first: dict[str, Callable[[], None]] = {}
        """Operation -> what happens (once) just before its next call is answered: a person
        changing Identity Center while a run reads it."""
        self.lambda_functions = LambdaFunctions()
        """Lambda functions run in-process (moto would start a Docker container)."""
        self.caller_accounts: dict[str, str] = {}
        """Access key id -> the account its calls come from (default: the management account,
        which created the Organization). Another account is the Identity Center delegated
        administrator: it acts on the Organization's instance, without the management
        account's rights there, and STS GetCallerIdentity names it."""
        self.identity_store = IdentityStoreFixes()
        self.stack_sets = StackSetsEmulator()
        self.sso_admin = SsoAdminFixes()
        self.organizations = OrganizationsFixes()
        self.service_quotas = ServiceQuotasFixes()
        # Identity Center services: counted, and subject to injected faults.
        self._fixes = {
            "AWSIdentityStore": self.identity_store,
            "SWBExternalService": self.sso_admin,
        }
        self._other_fixes = {
            "AWSOrganizationsV20161128": self.organizations,
            "AWSBudgetServiceGateway": BudgetsFixes(),
            "ServiceQuotasV20190624": self.service_quotas,
        }

    def hold(self, operation: str, after: int) -> Hold:
        """Hold the calls of `operation` beyond the first `after` until `release()`."""
        hold = Hold(operation, after)
        with self._lock:
            self.holds.append(hold)
        return hold

    def wait_for_executions(self, timeout: float = 300.0) -> None:
        """Return once every Step Functions execution started so far has ended (moto's
        interpreter runs each on a thread it lists in TMP_THREADS)."""
        for thread in list(TMP_THREADS):
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"a Step Functions execution still runs after {timeout} s")

    def reset_counters(self) -> None:
        with self._lock:
            self.calls.clear()
            self.throttled.clear()

    def reset(self) -> None:
        """Forget every AWS object and injected fault: each test starts from nothing."""
        moto_api_backend.reset()
        with self._lock:
            self.throttle_fraction = 0.0
            self.latency_seconds = 0.0
            self.quota = None
            self.refusals.clear()
            for hold in self.holds:
                hold.release()
            self.holds.clear()
            self.before_first.clear()
            self.calls.clear()
            self.throttled.clear()
            self.lambda_functions = LambdaFunctions()
            self.caller_accounts.clear()
            self.sso_admin = SsoAdminFixes()
            self._fixes["SWBExternalService"] = self.sso_admin
            self.organizations = OrganizationsFixes()
            self._other_fixes["AWSOrganizationsV20161128"] = self.organizations
            self.service_quotas = ServiceQuotasFixes()
            self._other_fixes["ServiceQuotasV20190624"] = self.service_quotas
            self.stack_sets = StackSetsEmulator()

    def identity_center(self, region: str) -> tuple[str, str]:
        """The (InstanceArn, IdentityStoreId) that sso-admin ListInstances reports."""
        instance = ssoadmin_backends[DEFAULT_ACCOUNT_ID][region].instances[0]
        return instance.instance_arn, instance.identity_store_id

    def new_identity_store(self) -> str:
        """A fresh, empty identity store id (tests use one each, to stay independent)."""
        return "d-" + mock_random.get_random_hex(10)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        invoked = LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
        if invoked:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            return self.lambda_functions.invoke(invoked[1], environ, body, start_response)
        caller = self._caller_account(environ)
        query = _query(environ)
        if caller is not None and query.get("Action") == "GetCallerIdentity":
            return _caller_identity(caller, start_response)
        if query.get("Action") in StackSetsEmulator.HANDLED:
            with self._moto_lock:
                return _xml(*self.stack_sets.handle(query["Action"], query), start_response)
        if query.get("Action") == "GetPolicy" and query.get("PolicyArn", "").startswith(
            AWS_POLICY_PREFIX
        ):
            return _xml(*get_policy(query["PolicyArn"]), start_response)
        service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service in self._other_fixes:
            return self._answer(self._other_fixes[service], operation, environ, start_response)
        fixes = self._fixes.get(service)
        if fixes is None:
            return self._moto(environ, start_response)
        if (happening := self.before_first.pop(operation, None)) is not None:
            happening()
        with self._lock:
            self.calls[operation] += 1
            held = [h for h in self.holds if h.operation == operation]
            held = [h for h in held if self.calls[operation] > h.after]
            throttle = self._random.random() < self.throttle_fraction
            throttle = throttle or (self.quota is not None and not self.quota.try_acquire())
            if throttle:
                self.throttled[operation] += 1
        for hold in held:
            hold.reached.set()
            hold.released.wait()
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if throttle:
            return _error(AwsError("ThrottlingException", "Rate exceeded"), start_response)
        body = _peek_body(environ)
        text = json.dumps(body)
        for refusal in self.refusals:
            if refusal.operation == operation and refusal.body_contains in text:
                with self._lock:
                    if refusal.times == 0:
                        continue
                    if refusal.times is not None:
                        refusal.times -= 1
                error = AwsError(refusal.error, refusal.message, refusal.reason)
                return _error(error, start_response)
        if service == "SWBExternalService" and caller not in (None, _management_account_id()):
            try:
                self.sso_admin.refuse_delegated_administrator(
                    operation, body, _region(environ), _management_account_id()
                )
            except AwsError as error:
                return _error(error, start_response)
        return self._answer(fixes, operation, environ, start_response, body)

    def _answer(
        self,
        fixes: Any,
        operation: str,
        environ: dict,
        start_response: Any,
        body: JsonBody | None = None,
    ) -> Any:
        """The fix's answer to the request, or moto's where the fix has none."""
        body = _peek_body(environ) if body is None else body
        with self._moto_lock:
            try:
                answer = fixes.handle(operation, body, _region(environ))
            except AwsError as error:
                return _error(error, start_response)
            if answer is None:
                return list(self._moto(environ, start_response))
        return _json(answer, start_response)

    def _caller_account(self, environ: dict) -> str | None:
        """The account of a caller mapped in `caller_accounts`, else None (the default)."""
        found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        return self.caller_accounts.get(found.group(1)) if found else None


def _management_account_id() -> str:
    organization = organizations_backends[DEFAULT_ACCOUNT_ID]["aws"].org
    return organization.master_account_id if organization else DEFAULT_ACCOUNT_ID


def _query(environ: dict) -> dict[str, str]:
    """The parameters of an STS, IAM or CloudFormation (query protocol) request, left in
    place for moto;
    empty for any other request."""
    found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not found or found.group(2) not in ("sts", "iam", "cloudformation"):
        return {}
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return dict(urllib.parse.parse_qsl(raw.decode(errors="replace")))


def _xml(status: int, body: str, start_response: Any) -> list[bytes]:
    payload = body.encode()
    reason = {200: "200 OK", 400: "400 Bad Request"}.get(status, f"{status} Not Found")
    start_response(reason, [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
    return [payload]


def _caller_identity(account_id: str, start_response: Any) -> list[bytes]:
    return _xml(
        200,
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<GetCallerIdentityResult>"
        f"<Arn>arn:aws:sts::{account_id}:assumed-role/sso-sync/function</Arn>"
        f"<UserId>AROAEXAMPLE:function</UserId><Account>{account_id}</Account>"
        "</GetCallerIdentityResult>"
        "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId>"
        "</ResponseMetadata></GetCallerIdentityResponse>",
        start_response,
    )


def _peek_body(environ: dict) -> JsonBody:
    """The JSON body, left in place for moto to read again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
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
    payload = json.dumps(error.body()).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
    )
    return [payload]
