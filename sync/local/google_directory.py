"""A Google Admin SDK Directory API emulator over real HTTP, for the demo and the tests.

It serves what the sync reads (users.list/get, groups.list/get, members.list) with Google's
page-size limits and paging, `includeDerivedMembership`, the group query subset we use, and the
OAuth token endpoint of a service account with domain-wide delegation: the JWT-bearer
assertion's RS256 signature, subject and scopes are checked. Faults and latency can be injected.

The Reports API (activities.list) serves the admin events that the mutation methods record,
each visible only `report_delay_seconds` after it happened, as Google's feed lags.
"""

import base64
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sync.aws.rate_limit import TokenBucket

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
API_PREFIX = "/admin/directory/"
LIST_LIMITS = {"users": 500, "groups": 200, "members": 200, "activities": 1000}
REPORTS_SCOPE = "admin.reports.audit.readonly"
# Scopes that allow each resource (a read-write scope also allows reading).
RESOURCE_SCOPES = {
    "users": {"admin.directory.user.readonly", "admin.directory.user"},
    "groups": {"admin.directory.group.readonly", "admin.directory.group"},
    "members": {
        "admin.directory.group.member.readonly",
        "admin.directory.group.member",
        "admin.directory.group.readonly",
        "admin.directory.group",
    },
    "activities": {REPORTS_SCOPE},
}


@dataclass
class DirectoryUser:
    id: str
    primary_email: str
    given_name: str
    family_name: str
    suspended: bool = False
    archived: bool = False
    is_admin: bool = False
    aliases: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    """organizations, externalIds, relations: as the Directory API's user resource has them."""
    custom_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, custom: frozenset[str] | None = frozenset()) -> dict[str, Any]:
        """The user resource; with the custom schemas `custom` names (None: all of them).
        Directory API users.get/list: customSchemas only with projection=custom and a
        customFieldMask naming the schemas, or projection=full."""
        schemas = {
            name: fields
            for name, fields in self.custom_schemas.items()
            if custom is None or name in custom
        }
        return (
            ({"customSchemas": schemas} if schemas else {})
            | self.profile
            | {
                "kind": "admin#directory#user",
                "id": self.id,
                "primaryEmail": self.primary_email,
                "name": {
                    "givenName": self.given_name,
                    "familyName": self.family_name,
                    "fullName": f"{self.given_name} {self.family_name}".strip(),
                },
                "suspended": self.suspended,
                "archived": self.archived,
                "isAdmin": self.is_admin,
                "emails": [
                    {"address": self.primary_email, "primary": True},
                    *({"address": alias} for alias in self.aliases),
                ],
                "aliases": list(self.aliases),
                "orgUnitPath": "/",
            }
        )


@dataclass
class Member:
    type: str  # USER, GROUP, CUSTOMER or EXTERNAL
    id: str
    email: str | None
    role: str = "MEMBER"
    added_at: float = 0.0

    def resource(self) -> dict[str, Any]:
        row = {
            "kind": "admin#directory#member",
            "id": self.id,
            "role": self.role,
            "type": self.type,
            "status": "ACTIVE",
        }
        if self.email is not None:
            row["email"] = self.email
        return row


@dataclass
class DirectoryGroup:
    id: str
    email: str
    name: str
    members: list[Member] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    searchable_at: float = 0.0
    """When Google's group search (groups.list query=) shows it as it is now."""

    def resource(self) -> dict[str, Any]:
        return {
            "kind": "admin#directory#group",
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "directMembersCount": str(len(self.members)),
            **({"aliases": list(self.aliases)} if self.aliases else {}),
        }


@dataclass(frozen=True)
class Activity:
    """One Reports API activity with a single event."""

    time: float
    unique_qualifier: str
    application: str  # admin or groups_enterprise
    event_type: str
    event_name: str
    parameters: tuple[tuple[str, str], ...]

    def resource(self, customer_id: str, actor: str) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time))
        return {
            "kind": "admin#reports#activity",
            "id": {
                "time": f"{stamp}.{int(self.time * 1000) % 1000:03d}Z",
                "uniqueQualifier": self.unique_qualifier,
                "applicationName": self.application,
                "customerId": customer_id,
            },
            "actor": {"email": actor},
            "events": [
                {
                    "type": self.event_type,
                    "name": self.event_name,
                    "parameters": [{"name": n, "value": v} for n, v in self.parameters],
                }
            ],
        }


@dataclass
class Fault:
    """Answer `status` with `reason` to requests whose path contains `path_contains`.

    The first `after` matching requests pass; then `times` of them fail (None: all of them).
    With `body`, the answer is that text instead (a corrupt answer: truncated JSON, an HTML
    page with status 200), declared `declared_length` bytes long if given (a body cut short).
    """

    path_contains: str
    status: int
    reason: str
    after: int = 0
    times: int | None = 1
    seen: int = 0
    body: str | None = None
    content_type: str = "application/json"
    declared_length: int | None = None

    def strikes(self, path: str) -> bool:
        if self.path_contains not in path:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        return self.times is None or self.seen - self.after <= self.times


class GoogleDirectoryEmulator:
    """The directory data, the service accounts allowed to impersonate, and the WSGI app."""

    def __init__(self, domain: str = "example.com", customer_id: str = "C0emu1ated") -> None:
        self.domain = domain
        self.customer_id = customer_id
        self.users: dict[str, DirectoryUser] = {}
        self.groups: dict[str, DirectoryGroup] = {}
        self.faults: list[Fault] = []
        self._listings: dict[str, list[Member]] = {}
        """Group id -> the derived members its latest listing pages through."""
        self.latency_seconds = 0.0
        self.quota: TokenBucket | None = None
        """Directory API queries allowed (Google: 2,400 a minute); beyond, 403
        userRateLimitExceeded."""
        self.requests: list[str] = []
        self.arguments: list[tuple[str, dict[str, str]]] = []
        """(path, query arguments) of each request, in order."""
        self.throttled = 0
        self._email_index: dict[str, str] = {}
        """Email -> id of a user or group, checked on each use (tests may edit emails)."""
        self.activities: list[Activity] = []
        self.reporting = True
        """Whether mutations record activities (False: a change the feed never reports)."""
        self.report_delay_seconds = 0.0
        """How long after a change its activity becomes visible."""
        self.groups_of_groups = False
        """Whether groups.list(userKey=) lists the groups a group is in. Google documents
        userKey for users only; here a group's key gets an empty list, no error (True: its
        parents)."""
        self.derived_delay_seconds = 0.0
        """How long a member added to a nested group takes to show in a parent's derived
        membership (includeDerivedMembership): Google documents up to 10 minutes."""
        self.waited = 0.0
        """Seconds a test has let pass (`wait`) on top of the real clock: Google's lags run
        out when a test says so, not when a sleep may have been long enough."""
        self.search_lag_seconds = 0.0
        """How long Google's group search (groups.list query=) takes to show a new or renamed
        group: Google documents up to 36 hours (Directory API, "Search for groups")."""
        self.groups_ui_group_id = "id"
        """How Google Groups events name the group in `group_id`, documented only as
        "Identifier of the target group" (Reports API, Enterprise Groups Audit Activity
        Events): its unique "id" (the default here, the form the sync must not miss),
        "email", or "resource" (groups/<id>)."""
        self._ids = itertools.count(100000000000000000001)
        self._lock = threading.Lock()
        self._client_keys: dict[str, tuple[rsa.RSAPrivateKey, frozenset[str]]] = {}
        self._tokens: dict[str, tuple[str, frozenset[str]]] = {}
        self._federation: dict[str, set[str]] = {}
        self._federated_tokens: dict[str, str] = {}
        self._routes = Map(
            [
                Rule("/token", endpoint="token", methods=["POST"]),
                Rule("/v1/token", endpoint="sts", methods=["POST"]),
                Rule(
                    "/v1/projects/-/serviceAccounts/<account>:signJwt",
                    endpoint="sign_jwt",
                    methods=["POST"],
                ),
                Rule("/admin/directory/v1/users", endpoint="users_list"),
                Rule("/admin/directory/v1/users/<user_key>", endpoint="users_get"),
                Rule("/admin/directory/v1/groups", endpoint="groups_list"),
                Rule("/admin/directory/v1/groups/<group_key>", endpoint="groups_get"),
                Rule("/admin/directory/v1/groups/<group_key>/members", endpoint="members_list"),
                Rule(
                    "/admin/reports/v1/activity/users/<user_key>/applications/<application>",
                    endpoint="activities_list",
                ),
            ]
        )

    # --- directory data ------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(next(self._ids))

    def now(self) -> float:
        """The emulator's clock: the real one, plus what tests let pass."""
        return time.time() + self.waited

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass for Google's lags (the feed's, derived memberships', search's)."""
        self.waited += seconds

    def add_user(
        self,
        email: str,
        given_name: str,
        family_name: str,
        *,
        suspended: bool = False,
        archived: bool = False,
        is_admin: bool = False,
    ) -> DirectoryUser:
        user = DirectoryUser(
            self._new_id(), email, given_name, family_name, suspended, archived, is_admin
        )
        self.users[user.id] = user
        self._record("USER_SETTINGS", "CREATE_USER", USER_EMAIL=email)
        return user

    def rename_user(self, email: str, new_email: str) -> None:
        """Change a primary email as Google does: the old address stays as an alias."""
        user = self.user_by_email(email)
        if user is None:
            raise KeyError(email)
        user.aliases.append(user.primary_email)
        user.primary_email = new_email
        for group in self.groups.values():
            for member in group.members:
                if member.id == user.id:
                    member.email = new_email
        self._record("USER_SETTINGS", "RENAME_USER", USER_EMAIL=email, NEW_VALUE=new_email)

    def set_profile(self, email: str, **fields: Any) -> None:
        """Set (or, with None, clear) fields of a user's resource as the Admin console would:
        organizations, externalIds, relations."""
        user = self._user_or_raise(email)
        for name, value in fields.items():
            if value is None:
                user.profile.pop(name, None)
            else:
                user.profile[name] = value

    def set_custom_field(self, email: str, schema: str, name: str, value: Any) -> None:
        """A custom schema field of a user (None clears it)."""
        fields = self._user_or_raise(email).custom_schemas.setdefault(schema, {})
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value

    def suspend_user(self, email: str, suspended: bool = True) -> None:
        user = self._user_or_raise(email)
        user.suspended = suspended
        name = "SUSPEND_USER" if suspended else "UNSUSPEND_USER"
        self._record("USER_SETTINGS", name, USER_EMAIL=email)

    def delete_user(self, email: str) -> None:
        """Delete a user; Google drops their group memberships with them."""
        user = self._user_or_raise(email)
        del self.users[user.id]
        for group in self.groups.values():
            group.members = [m for m in group.members if m.id != user.id]
        self._record("USER_SETTINGS", "DELETE_USER", USER_EMAIL=email)

    def add_group(self, email: str, name: str | None = None) -> DirectoryGroup:
        group = DirectoryGroup(self._new_id(), email, name or email.split("@")[0])
        group.searchable_at = time.time() + self.search_lag_seconds
        self.groups[group.id] = group
        self._record("GROUP_SETTINGS", "CREATE_GROUP", GROUP_EMAIL=email)
        return group

    def rename_group(self, email: str, new_email: str) -> None:
        group = self.group_by_email(email)
        group.aliases.append(group.email)  # Google keeps the old address as an alias
        group.email = new_email
        group.searchable_at = time.time() + self.search_lag_seconds
        self._record("GROUP_SETTINGS", "CHANGE_GROUP_EMAIL", GROUP_EMAIL=email, NEW_VALUE=new_email)

    def delete_group(self, email: str) -> None:
        group = self.group_by_email(email)
        del self.groups[group.id]
        for other in self.groups.values():
            other.members = [m for m in other.members if m.id != group.id]
        self._record("GROUP_SETTINGS", "DELETE_GROUP", GROUP_EMAIL=email)

    def add_member(
        self,
        group_email: str,
        member_email: str,
        role: str = "MEMBER",
        *,
        in_groups_ui: bool = False,
        groups_event: str = "add_member",
    ) -> None:
        """Add a directory user or group by email; any other address becomes an outside member.
        The activity is the Admin console's, or with `in_groups_ui` that of Google Groups
        (`groups_event`: add_member, or accept_invitation, approve_join_request, join)."""
        group = self.group_by_email(group_email)
        if (user := self.user_by_email(member_email)) is not None:
            member = Member("USER", user.id, user.primary_email, role, time.time())
        elif (nested := self.group_by_email(member_email, missing_ok=True)) is not None:
            member = Member("GROUP", nested.id, nested.email, role, time.time())
        else:
            # An address outside the directory: Google lists it as a USER with an id of an
            # account this customer does not have.
            member = Member("USER", self._new_id(), member_email, role)
        group.members.append(member)
        self._record_membership("ADD_GROUP_MEMBER", groups_event, group_email, member, in_groups_ui)

    def add_customer_member(self, group_email: str) -> None:
        self.group_by_email(group_email).members.append(Member("CUSTOMER", self.customer_id, None))

    def add_external_member(self, group_email: str, address: str) -> None:
        self.group_by_email(group_email).members.append(Member("EXTERNAL", self._new_id(), address))

    def remove_member(
        self,
        group_email: str,
        member_email: str,
        *,
        in_groups_ui: bool = False,
        groups_event: str = "remove_member",
    ) -> None:
        """`groups_event` with `in_groups_ui`: remove_member, or ban_member_with_moderation."""
        group = self.group_by_email(group_email)
        for member in [m for m in group.members if m.email == member_email]:
            group.members.remove(member)
            self._record_membership(
                "REMOVE_GROUP_MEMBER", groups_event, group_email, member, in_groups_ui
            )

    def _record_membership(
        self, admin_name: str, groups_name: str, group_email: str, member: Member, groups_ui: bool
    ) -> None:
        if groups_ui:
            group = self.group_by_email(group_email)
            group_id = {"id": group.id, "email": group.email, "resource": f"groups/{group.id}"}
            self._record(
                "moderator_action",
                groups_name,
                application="groups_enterprise",
                group_id=group_id[self.groups_ui_group_id],
                member_id=member.email or member.id,
                member_type=member.type.lower(),
                member_role=member.role.lower(),
            )
        else:
            self._record(
                "GROUP_SETTINGS",
                admin_name,
                USER_EMAIL=member.email or member.id,
                GROUP_EMAIL=group_email,
            )

    def _record(
        self, event_type: str, name: str, application: str = "admin", **parameters: str
    ) -> None:
        if not self.reporting:
            return
        self.activities.append(
            Activity(
                time.time(),
                self._new_id(),
                application,
                event_type,
                name,
                tuple(parameters.items()),
            )
        )

    def _user_or_raise(self, email: str) -> DirectoryUser:
        user = self.user_by_email(email)
        if user is None:
            raise KeyError(email)
        return user

    def user_by_email(self, email: str) -> DirectoryUser | None:
        return _by_email(self._email_index, self.users, lambda u: u.primary_email, email)

    def group_by_email(self, email: str, missing_ok: bool = False) -> DirectoryGroup:
        found = _by_email(self._email_index, self.groups, lambda g: g.email, email)
        if found is None and not missing_ok:
            raise KeyError(email)
        return found  # type: ignore[return-value]

    # --- service accounts and tokens -----------------------------------------------------

    def create_service_account(
        self, granted_scopes: list[str] | tuple[str, ...] | None = None
    ) -> str:
        """A service account allowed the given scopes by domain-wide delegation; its key stays
        here (the keyless path signs with it through signJwt)."""
        client_email = f"sso-sync-{len(self._client_keys) + 1}@emulated.iam.gserviceaccount.com"
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        scopes = granted_scopes if granted_scopes is not None else _all_read_scopes()
        self._client_keys[client_email] = (private_key, frozenset(scopes))
        return client_email

    def allow_federation(self, audience: str, service_account: str) -> None:
        """Principals of this workload identity provider may sign JWTs as the account."""
        self._federation.setdefault(audience, set()).add(service_account)

    def issue_service_account_key(
        self, token_uri: str, granted_scopes: list[str] | tuple[str, ...] | None = None
    ) -> dict[str, str]:
        """A new service-account key (JSON key file contents) allowed the given scopes."""
        client_email = self.create_service_account(granted_scopes)
        private_key = self._client_keys[client_email][0]
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "emulated",
            "private_key_id": secrets.token_hex(20),
            "private_key": pem,
            "client_email": client_email,
            "client_id": self._new_id(),
            "token_uri": token_uri,
        }

    def _token(self, request: Request) -> Response:
        if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _oauth_error("unsupported_grant_type", "Only JWT bearer grants are supported")
        try:
            header, claims = self._verified_assertion(request.form.get("assertion", ""))
        except ValueError as error:
            return _oauth_error("invalid_grant", str(error))
        del header
        _key, granted = self._client_keys[claims["iss"]]
        requested = frozenset(claims.get("scope", "").split())
        if not requested or not requested <= granted:
            return _oauth_error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
                status=401,
            )
        subject = self.user_by_email(claims.get("sub", ""))
        if subject is None:
            return _oauth_error("invalid_grant", "Invalid email or User ID")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (subject.primary_email, requested)
        body = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        return Response(json.dumps(body), content_type="application/json")

    def _verified_assertion(self, assertion: str) -> tuple[dict, dict]:
        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(claims_b64))
        except (ValueError, json.JSONDecodeError) as error:
            raise ValueError("malformed assertion") from error
        if header.get("alg") != "RS256":
            raise ValueError("assertion must be signed with RS256")
        known = self._client_keys.get(claims.get("iss", ""))
        if known is None:
            raise ValueError("unknown service account")
        try:
            known[0].public_key().verify(
                _b64decode(signature_b64),
                f"{head_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature as error:
            raise ValueError("Invalid JWT Signature.") from error
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise ValueError("Invalid JWT: audience")
        if claims.get("exp", 0) < time.time():
            raise ValueError("Invalid JWT: Token must be a short-lived token")
        return header, claims

    def _exchange_aws_identity(self, request: Request) -> Response:
        """Google STS: a signed AWS GetCallerIdentity request for a federated token."""
        audience = request.form.get("audience", "")
        try:
            subject = json.loads(urllib.parse.unquote(request.form.get("subject_token", "")))
            headers = {h["key"].lower(): h["value"] for h in subject["headers"]}
        except (ValueError, KeyError, TypeError):
            return _oauth_error("invalid_request", "subject_token is not a signed AWS request")
        signed = headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential=")
        if (
            request.form.get("subject_token_type") != "urn:ietf:params:aws:token-type:aws4_request"
            or not signed
            or "GetCallerIdentity" not in subject.get("url", "")
            or headers.get("x-goog-cloud-target-resource") != audience
        ):
            return _oauth_error("invalid_grant", "The AWS request signature is not acceptable")
        if audience not in self._federation:
            return _oauth_error("invalid_target", "The target service indicated is not allowed")
        token = "federated-" + secrets.token_urlsafe(24)
        self._federated_tokens[token] = audience
        body = {
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return _json(body)

    def _sign_jwt(self, request: Request, account: str) -> Response:
        """IAM Credentials signJwt, for a federated principal allowed to act as the account."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        audience = self._federated_tokens.get(token)
        if audience is None:
            return _api_error(401, "authError", "Invalid Credentials")
        if account not in self._federation.get(audience, set()):
            return _api_error(403, "forbidden", "Permission 'iam.serviceAccounts.signJwt' denied")
        claims = json.loads(request.get_json()["payload"])
        header = {"alg": "RS256", "typ": "JWT"}
        signing_input = ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
            for part in (header, claims)
        )
        signature = self._client_keys[account][0].sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        signed = signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
        return _json({"keyId": "emulated", "signedJwt": signed})

    def _authorize(self, request: Request, resource: str) -> Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = self._tokens.get(token)
        if grant is None:
            return _api_error(401, "authError", "Invalid Credentials", domain="global")
        subject, scopes = grant
        allowed = {SCOPE_PREFIX + scope for scope in RESOURCE_SCOPES[resource]}
        if not scopes & allowed:
            return _api_error(403, "insufficientPermissions", "Insufficient Permission")
        admin = self.user_by_email(subject)
        if admin is None or not admin.is_admin:
            return _api_error(403, "forbidden", "Not Authorized to access this resource/api")
        return None

    # --- the API -------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request.path)
            self.arguments.append((request.path, dict(request.args)))
            fault = next((f for f in self.faults if f.strikes(request.path)), None)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if fault is not None and fault.body is not None:
            corrupt = Response(fault.body, status=fault.status, content_type=fault.content_type)
            if fault.declared_length is not None:
                corrupt.headers["Content-Length"] = str(fault.declared_length)
                corrupt.automatically_set_content_length = False
            return corrupt
        if fault is not None:
            return _api_error(fault.status, fault.reason, f"Injected fault: {fault.reason}")
        over_quota = (
            self.quota is not None
            and request.path.startswith(API_PREFIX)
            and not self.quota.try_acquire()
        )
        if over_quota:
            with self._lock:
                self.throttled += 1
            return _api_error(403, "userRateLimitExceeded", "Quota exceeded for queries")
        try:
            endpoint, arguments = self._routes.bind_to_environ(request.environ).match()
        except NotFound:
            return _api_error(404, "notFound", "Not Found")
        except HTTPException as error:
            return _api_error(error.code or 400, "badRequest", error.description or "")
        if endpoint == "token":
            return self._token(request)
        if endpoint == "sts":
            return self._exchange_aws_identity(request)
        if endpoint == "sign_jwt":
            return self._sign_jwt(request, **arguments)
        resource = endpoint.split("_")[0]
        denied = self._authorize(request, resource)
        if denied is not None:
            return denied
        with self._lock:
            return getattr(self, f"_{endpoint}")(request, **arguments)

    def _users_list(self, request: Request) -> Response:
        if not self._customer_or_domain_matches(request):
            return _api_error(400, "badRequest", "Bad Request")
        users = sorted(self.users.values(), key=lambda u: u.primary_email)
        try:
            custom = _custom_schemas_asked(request)
        except ValueError as error:
            return _api_error(400, "invalid", f"Invalid Input: {error}")
        return self._page(request, "users", users, lambda user: user.resource(custom))

    def _users_get(self, request: Request, user_key: str) -> Response:
        user = self.users.get(user_key) or self.user_by_email(user_key)
        if user is None:
            return _api_error(404, "notFound", "Resource Not Found: userKey")
        try:
            return _json(user.resource(_custom_schemas_asked(request)))
        except ValueError as error:
            return _api_error(400, "invalid", f"Invalid Input: {error}")

    def _groups_list(self, request: Request) -> Response:
        if "userKey" in request.args:
            return self._groups_of_member(request, request.args["userKey"])
        if not self._customer_or_domain_matches(request):
            return _api_error(400, "badRequest", "Bad Request")
        try:
            matches = _group_query(request.args.get("query", ""))
        except ValueError as error:
            return _api_error(400, "invalid", f"Invalid Input: {error}")
        searched = "query" in request.args
        now = self.now()
        groups = sorted(
            (
                g
                for g in self.groups.values()
                if matches(g) and not (searched and g.searchable_at > now)
            ),
            key=lambda g: g.email.lower(),
        )
        return self._page(request, "groups", groups)

    def _groups_of_member(self, request: Request, key: str) -> Response:
        """groups.list(userKey=...): the groups a user, or a group, is a direct member of."""
        user = self.users.get(key) or self.user_by_email(key)
        if user is None and self._group(key) is not None and not self.groups_of_groups:
            return self._page(request, "groups", [])
        member = user.id if user is not None else getattr(self._group(key), "id", None)
        if member is None:
            return _api_error(404, "notFound", "Resource Not Found: userKey")
        groups = sorted(
            (g for g in self.groups.values() if any(m.id == member for m in g.members)),
            key=lambda g: g.email.lower(),
        )
        return self._page(request, "groups", groups)

    def _activities_list(self, request: Request, user_key: str, application: str) -> Response:
        if user_key != "all" or application not in ("admin", "groups_enterprise"):
            return _api_error(400, "invalid", "Invalid Input: only userKey=all is emulated")
        try:
            start = _rfc3339(request.args.get("startTime", "1970-01-01T00:00:00Z"))
        except ValueError:
            return _api_error(400, "invalid", "Invalid value for: startTime")
        visible_until = self.now() - self.report_delay_seconds
        found = sorted(
            (
                a
                for a in self.activities
                if a.application == application and start <= a.time <= visible_until
            ),
            key=lambda a: -a.time,
        )
        actor = next((u.primary_email for u in self.users.values() if u.is_admin), "")
        return self._page(
            request, "activities", found, lambda a: a.resource(self.customer_id, actor)
        )

    def _groups_get(self, request: Request, group_key: str) -> Response:
        group = self._group(group_key)
        if group is None:
            return _api_error(404, "notFound", "Resource Not Found: groupKey")
        return _json(group.resource())

    def _members_list(self, request: Request, group_key: str) -> Response:
        group = self._group(group_key)
        if group is None:
            return _api_error(404, "notFound", "Resource Not Found: groupKey")
        derived = request.args.get("includeDerivedMembership", "false") == "true"
        if not derived:
            return self._page(request, "members", list(group.members))
        # The next pages of a listing page through the rows its first page saw: flattening a
        # group of 100,000 for each of its 500 pages made the emulator, not the sync, the
        # bottleneck of the large benchmarks.
        if request.args.get("pageToken") is None or group.id not in self._listings:
            self._listings[group.id] = self._flattened(group, set())
        return self._page(request, "members", self._listings[group.id])

    def _flattened(
        self, group: DirectoryGroup, visited: set[str], nested_level: bool = False
    ) -> list[Member]:
        visited.add(group.id)
        shown_before = self.now() - self.derived_delay_seconds
        rows: dict[str, Member] = {}
        for member in group.members:
            if nested_level and member.added_at > shown_before:
                continue  # not in the parent's derived membership yet
            rows.setdefault(member.id, member)
            nested = self.groups.get(member.id) if member.type == "GROUP" else None
            if nested is not None and nested.id not in visited:
                for row in self._flattened(nested, visited, nested_level=True):
                    rows.setdefault(row.id, row)
        return list(rows.values())

    def _group(self, key: str) -> DirectoryGroup | None:
        return self.groups.get(key) or self.group_by_email(key, missing_ok=True)

    def _customer_or_domain_matches(self, request: Request) -> bool:
        customer = request.args.get("customer")
        if customer is not None:
            return customer in ("my_customer", self.customer_id)
        return request.args.get("domain") == self.domain

    def _page(
        self,
        request: Request,
        kind: str,
        items: list[Any],
        render: Any = lambda item: item.resource(),
    ) -> Response:
        """One page of `items`; only that page is rendered."""
        limit = LIST_LIMITS[kind]
        try:
            size = int(request.args.get("maxResults", str(min(limit, 100))))
            offset = int(_b64decode(request.args.get("pageToken", "")) or 0)
        except ValueError:
            return _api_error(400, "invalid", "Invalid Input")
        if not 1 <= size <= limit:
            return _api_error(400, "invalid", f"Invalid value '{size}'. Values must be 1-{limit}")
        api = "reports" if kind == "activities" else "directory"
        body: dict[str, Any] = {"kind": f"admin#{api}#{kind}", "etag": '"emulated"'}
        page = [render(item) for item in items[offset : offset + size]]
        if page:  # Google omits the array on an empty page.
            body["items" if kind == "activities" else kind] = page
        if offset + size < len(items):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return _json(body)


def _by_email(index: dict[str, str], items: dict[str, Any], email_of: Any, email: str) -> Any:
    """The item with this email: through the index when it is still right, else by a scan."""
    item = items.get(index.get(email, ""))
    if item is None or email_of(item) != email:
        item = next((i for i in items.values() if email_of(i) == email), None)
        if item is not None:
            index[email] = item.id
    return item


def _group_query(query: str) -> Any:
    """The query subset the sync uses: space-separated `email:` / `name:` terms, `*` suffix."""
    terms = []
    for term in query.split():
        attribute, _, value = term.partition(":")
        if attribute not in ("email", "name") or not value:
            raise ValueError(query)
        terms.append((attribute, value.strip("'\"").lower()))

    def matches(group: DirectoryGroup) -> bool:
        for attribute, value in terms:
            actual = getattr(group, attribute).lower()
            if value.endswith("*"):
                if not actual.startswith(value[:-1]):
                    return False
            elif actual != value:
                return False
        return True

    return matches


def _all_read_scopes() -> list[str]:
    return [
        SCOPE_PREFIX + scope
        for scope in (
            "admin.directory.user.readonly",
            "admin.directory.group.readonly",
            "admin.directory.group.member.readonly",
            REPORTS_SCOPE,
        )
    ]


def _rfc3339(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time such as 2026-11-29T01:02:03.456Z."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(text)
    return parsed.timestamp()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(body: dict) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def _custom_schemas_asked(request: Request) -> frozenset[str] | None:
    """Which custom schemas a users.get/list asks for (None: all). Directory API: projection
    basic (default) returns none; custom needs customFieldMask; full returns all."""
    projection = request.args.get("projection", "basic")
    mask = request.args.get("customFieldMask")
    if projection == "basic":
        return frozenset()
    if projection == "full":
        return None
    if projection == "custom" and mask:
        return frozenset(mask.split(","))
    raise ValueError(f"projection {projection!r} needs customFieldMask")


def _api_error(status: int, reason: str, message: str, domain: str = "global") -> Response:
    if reason in ("userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"):
        domain = "usageLimits"
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"domain": domain, "reason": reason, "message": message}],
        }
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    body = {"error": error, "error_description": description}
    return Response(json.dumps(body), status=status, content_type="application/json")
