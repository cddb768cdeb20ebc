"""Reads Google Workspace users and the synced groups' members through the Directory API.

The read is all or nothing: any error that survives the retries raises ReadError, so the run
stops before a single write. Members are read with includeDerivedMembership, so nested groups
arrive flattened.
"""

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import google_auth_httplib2
import httplib2
from botocore.exceptions import BotoCoreError, ClientError
from google.auth.credentials import Credentials
from google.auth.exceptions import OAuthError, RefreshError, TransportError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from sync.errors import ConfigError, ReadError
from sync.google_keyless import GOOGLE_TOKEN_AUDIENCE, keyless_credentials
from sync.model import GoogleGroup, GoogleSnapshot, GoogleUser
from sync.rules import GroupSelector
from sync.settings import GOOGLE_SCOPES, Settings

log = logging.getLogger(__name__)

RETRIED_403_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"}
USERS_PAGE = 500
GROUPS_PAGE = 200
MEMBERS_PAGE = 200
HTTP_TIMEOUT_SECONDS = 60


def google_credentials(
    key_info: dict[str, Any], admin_email: str, token_uri: str = GOOGLE_TOKEN_AUDIENCE
) -> Credentials:
    """Credentials acting as the admin with the read-only scopes only: from a service-account
    key, or keyless from a Workload Identity Federation (`external_account`) configuration."""
    if key_info.get("type") == "external_account":
        return keyless_credentials(key_info, admin_email, list(GOOGLE_SCOPES), token_uri)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            key_info, scopes=list(GOOGLE_SCOPES)
        )
    except (ValueError, KeyError) as error:
        raise ConfigError(f"Google credentials are not a service-account key: {error}") from error
    return credentials.with_subject(admin_email)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, (TransportError, ConnectionError, TimeoutError, httplib2.HttpLib2Error)):
        return True
    if not isinstance(error, HttpError):
        return False
    status = error.resp.status
    if status == 429 or status >= 500:
        return True
    return status == 403 and _reason(error) in RETRIED_403_REASONS


def _is_refused_access(error: BaseException) -> bool:
    """Credentials, scopes or admin rights are wrong: retrying will not help, fixing will."""
    if isinstance(error, (RefreshError, OAuthError)):
        return True
    return isinstance(error, HttpError) and (
        error.resp.status == 401
        or (error.resp.status == 403 and _reason(error) not in RETRIED_403_REASONS)
    )


def _reason(error: HttpError) -> str:
    try:
        return json.loads(error.content)["error"]["errors"][0]["reason"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _describe(error: BaseException) -> str:
    if isinstance(error, HttpError):
        reason = _reason(error) or error.resp.reason
        return f"HTTP {error.resp.status} {reason}: {error._get_reason()}"
    if isinstance(error, (RefreshError, OAuthError)):
        return f"Google refused the credentials: {error}"
    return f"{type(error).__name__}: {error}"


class GoogleDirectoryReader:
    """The Directory API reads the sync needs, each call retried on quota and server errors."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        customer_id: str = "my_customer",
        api_endpoint: str | None = None,
        retry_attempts: int = 6,
        retry_max_wait: float = 60.0,
        concurrency: int = 4,
    ) -> None:
        self._credentials = credentials
        self._options = {"api_endpoint": api_endpoint} if api_endpoint else None
        self._per_thread = threading.local()
        self._customer_id = customer_id
        self._concurrency = concurrency
        self._calls_lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self._execute = retry(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(retry_attempts),
            wait=wait_random_exponential(multiplier=0.5, max=retry_max_wait),
            before_sleep=self._log_retry,
            reraise=True,
        )(self._execute_once)

    def read(self, selectors: Sequence[GroupSelector]) -> GoogleSnapshot:
        """Every user, and every synced group with its flattened members."""
        try:
            return self._read(selectors)
        except (
            HttpError,
            RefreshError,
            OAuthError,
            TransportError,
            httplib2.HttpLib2Error,
            OSError,
        ) as error:
            if _is_refused_access(error):
                raise ConfigError(
                    f"Google refused access: {_describe(error)}. Check the service account's "
                    "domain-wide delegation scopes and SSO_SYNC_GOOGLE_ADMIN_EMAIL."
                ) from error
            raise ReadError(f"reading Google Workspace failed: {_describe(error)}") from error

    @property
    def _service(self) -> Any:
        """This thread's API client: googleapiclient's (httplib2) objects are not thread-safe."""
        if not hasattr(self._per_thread, "service"):
            http = google_auth_httplib2.AuthorizedHttp(
                self._credentials, http=httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS)
            )
            self._per_thread.service = build(
                "admin",
                "directory_v1",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options=self._options,
            )
        return self._per_thread.service

    def _read(self, selectors: Sequence[GroupSelector]) -> GoogleSnapshot:
        users = {user.id: user for user in self._users()}
        selected: dict[str, tuple[dict, str]] = {}
        for raw, display_name in self._synced_groups(selectors):
            selected.setdefault(raw["id"], (raw, display_name))
        # One member listing per group: many small reads, side by side.
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="google") as pool:
            listings = list(
                pool.map(lambda item: self._member_ids(item[0], users), selected.values())
            )
        groups = tuple(
            GoogleGroup(
                id=raw["id"],
                email=raw["email"],
                name=raw.get("name", ""),
                display_name=display_name,
                member_ids=frozenset(member_ids),
            )
            for (raw, display_name), (member_ids, _) in zip(
                selected.values(), listings, strict=True
            )
        )
        warnings = tuple(warning for _, found in listings for warning in found)
        return GoogleSnapshot(users=users, groups=groups, warnings=warnings)

    def _users(self) -> Iterator[GoogleUser]:
        pages = self._pages(
            "users.list",
            lambda token: self._service.users().list(
                customer=self._customer_id, maxResults=USERS_PAGE, pageToken=token
            ),
        )
        for page in pages:
            for raw in page.get("users", []):
                name = raw.get("name", {})
                email = raw["primaryEmail"]
                addresses = {e.get("address", "").lower() for e in raw.get("emails", [])}
                addresses |= {a.lower() for a in raw.get("aliases", [])}
                addresses |= {a.lower() for a in raw.get("nonEditableAliases", [])}
                yield GoogleUser(
                    id=raw["id"],
                    primary_email=email,
                    given_name=name.get("givenName", ""),
                    family_name=name.get("familyName", ""),
                    full_name=name.get("fullName", ""),
                    suspended=bool(raw.get("suspended", False)),
                    archived=bool(raw.get("archived", False)),
                    aliases=frozenset(addresses - {email.lower(), ""}),
                )

    def _synced_groups(self, selectors: Sequence[GroupSelector]) -> Iterator[tuple[dict, str]]:
        for selector in selectors:
            if selector.email is not None:
                raw = self._group(selector.email)
                yield raw, selector.name or raw["email"]
                continue
            found = 0
            pages = self._pages(
                "groups.list",
                lambda token, query=selector.query: self._service.groups().list(
                    customer=self._customer_id,
                    query=query,
                    maxResults=GROUPS_PAGE,
                    pageToken=token,
                ),
            )
            for page in pages:
                for raw in page.get("groups", []):
                    found += 1
                    yield raw, raw["email"]
            if not found:
                log.warning("group query %r matched no Google group", selector.query)

    def _group(self, email: str) -> dict:
        try:
            return self._execute("groups.get", self._service.groups().get(groupKey=email))
        except HttpError as error:
            if error.resp.status == 404:
                raise ConfigError(
                    f"the rules file syncs {email}, but Google has no such group"
                ) from error
            raise

    def _member_ids(self, group: dict, users: dict[str, GoogleUser]) -> tuple[set, list[str]]:
        """Directory users who are members, and a warning for each member who is not one."""
        member_ids: set[str] = set()
        warnings: list[str] = []
        pages = self._pages(
            "members.list",
            lambda token: self._service.members().list(
                groupKey=group["id"],
                includeDerivedMembership=True,
                maxResults=MEMBERS_PAGE,
                pageToken=token,
            ),
        )
        for page in pages:
            for member in page.get("members", []):
                kind = member.get("type")
                if kind == "GROUP":
                    continue  # includeDerivedMembership already lists its members
                if kind == "CUSTOMER":
                    member_ids.update(users)
                elif kind == "USER" and member.get("id") in users:
                    member_ids.add(member["id"])
                else:
                    address = member.get("email", member.get("id", "?"))
                    warnings.append(
                        f"{group['email']}: member {address} is not a user of this directory; "
                        "skipped"
                    )
        return member_ids, warnings

    def _pages(self, name: str, request_for: Callable[[str | None], Any]) -> Iterator[dict]:
        token: str | None = None
        while True:
            page = self._execute(name, request_for(token))
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _execute_once(self, name: str, request: Any) -> dict:
        with self._calls_lock:
            self.calls[name] += 1
        return request.execute()

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "Google %s attempt %d failed (%s); retrying",
            state.args[0] if state.args else "call",
            state.attempt_number,
            _describe(error) if error else "?",
        )


def connect_google(settings: Settings) -> GoogleDirectoryReader:
    """A reader for the configured Workspace, with credentials from a file or a secret."""
    if not settings.google_admin_email:
        raise ConfigError("SSO_SYNC_GOOGLE_ADMIN_EMAIL (--google-admin-email) is required")
    credentials = google_credentials(
        _google_key(settings), settings.google_admin_email, settings.google_token_uri
    )
    return GoogleDirectoryReader(
        credentials,
        customer_id=settings.google_customer_id,
        api_endpoint=settings.google_api_endpoint,
    )


def _google_key(settings: Settings) -> dict[str, Any]:
    if settings.google_credentials_file is not None:
        source = str(settings.google_credentials_file)
        try:
            text = settings.google_credentials_file.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{source}: cannot read Google credentials: {error}") from error
    elif settings.google_credentials_secret is not None:
        source = f"secret {settings.google_credentials_secret}"
        try:
            text = boto3.client("secretsmanager").get_secret_value(
                SecretId=settings.google_credentials_secret
            )["SecretString"]
        except (ClientError, BotoCoreError) as error:
            raise ReadError(f"reading the Google credentials {source}: {error}") from error
    else:
        raise ConfigError(
            "set SSO_SYNC_GOOGLE_CREDENTIALS_FILE or SSO_SYNC_GOOGLE_CREDENTIALS_SECRET"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}: Google credentials are not JSON ({error.msg})") from error
