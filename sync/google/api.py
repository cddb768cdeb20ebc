"""What every Google API the sync reads has in common: credentials acting as the admin, one
client per thread, each call counted and retried on quota and server errors, and errors turned
into the sync's own (ConfigError for refused access, ReadError for the rest)."""

import http.client
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import google_auth_httplib2
import httplib2
from aws_lambda_powertools.utilities.parameters import get_secret
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
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
from sync.google.keyless import GOOGLE_TOKEN_AUDIENCE, keyless_credentials
from sync.settings import Settings

log = logging.getLogger(__name__)

RETRIED_403_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"}
HTTP_TIMEOUT_SECONDS = 60
SECRET_CACHE_SECONDS = 300


class CorruptAnswer(Exception):
    """An answer that is not the JSON object the API promises: in practice passing (a proxy's
    HTML page, a connection cut mid-body), so retried like a 5xx."""


GOOGLE_ERRORS = (
    CorruptAnswer,
    HttpError,
    RefreshError,
    OAuthError,
    TransportError,
    httplib2.HttpLib2Error,
    OSError,
)


def google_credentials(
    key_info: dict[str, Any],
    admin_email: str,
    scopes: Sequence[str],
    token_uri: str = GOOGLE_TOKEN_AUDIENCE,
) -> Credentials:
    """Credentials acting as the admin with the given scopes only: from a service-account key,
    or keyless from a Workload Identity Federation (`external_account`) configuration."""
    if key_info.get("type") == "external_account":
        return keyless_credentials(key_info, admin_email, list(scopes), token_uri)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            key_info, scopes=list(scopes)
        )
    except (ValueError, KeyError) as error:
        raise ConfigError(f"Google credentials are not a service-account key: {error}") from error
    return credentials.with_subject(admin_email)


def configured_credentials(settings: Settings, scopes: Sequence[str]) -> Credentials:
    """The configured credentials (key file, secret or keyless), asking for `scopes`."""
    missing = []
    if not settings.google_admin_email:
        missing.append(
            "SSO_SYNC_GOOGLE_ADMIN_EMAIL (--google-admin-email): the Google admin the service "
            "account acts as"
        )
    if settings.google_credentials_file is None and settings.google_credentials_secret is None:
        missing.append(
            "SSO_SYNC_GOOGLE_CREDENTIALS_FILE (--google-credentials-file) or "
            "SSO_SYNC_GOOGLE_CREDENTIALS_SECRET: the service-account key or keyless "
            "configuration"
        )
    if missing:
        raise ConfigError(
            "Google Workspace is not configured; set "
            + "; and ".join(missing)
            + " (README: Pointing it at real Google and AWS; `sso-sync local` starts emulators "
            "to try it against)"
        )
    return google_credentials(
        _google_key(settings), settings.google_admin_email, scopes, settings.google_token_uri
    )


class GoogleApi:
    """One Google API as this run's threads call it."""

    def __init__(
        self,
        credentials: Credentials,
        api: tuple[str, str],
        *,
        api_endpoint: str | None = None,
        retry_attempts: int = 6,
        retry_max_wait: float = 60.0,
    ) -> None:
        self._credentials = credentials
        self._api = api
        self._options = {"api_endpoint": api_endpoint} if api_endpoint else None
        self._per_thread = threading.local()
        self._calls_lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.execute = retry(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(retry_attempts),
            wait=wait_random_exponential(multiplier=0.5, max=retry_max_wait),
            before_sleep=_log_retry,
            reraise=True,
        )(self._execute_once)
        """execute(name, request): one call, counted under `name`, retried when transient."""

    @property
    def service(self) -> Any:
        """This thread's client: googleapiclient's (httplib2) objects are not thread-safe."""
        if not hasattr(self._per_thread, "service"):
            http = google_auth_httplib2.AuthorizedHttp(
                self._credentials, http=httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS)
            )
            self._per_thread.service = build(
                *self._api,
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options=self._options,
            )
        return self._per_thread.service

    def pages(self, name: str, request_for: Callable[[str | None], Any]) -> Iterator[dict]:
        """Every page of a listing; `request_for(page_token)` builds each request."""
        token: str | None = None
        while True:
            page = self.execute(name, request_for(token))
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _execute_once(self, name: str, request: Any) -> dict:
        with self._calls_lock:
            self.calls[name] += 1
        try:
            answer = request.execute()
        except (ValueError, http.client.HTTPException) as error:  # bad JSON, a body cut short
            raise CorruptAnswer(f"{name}: Google's answer was not whole JSON ({error})") from error
        if not isinstance(answer, dict):
            raise CorruptAnswer(f"{name}: Google answered {type(answer).__name__}, not an object")
        return answer


@contextmanager
def google_errors(what: str, scopes_hint: str) -> Iterator[None]:
    """Turn what escapes the retries into ConfigError (access refused: fix the setup) or
    ReadError (anything else: the run stops before it writes)."""
    try:
        yield
    except GOOGLE_ERRORS as error:
        if _is_refused_access(error):
            raise ConfigError(
                f"Google refused access: {describe(error)}. Check the service account's "
                f"domain-wide delegation ({scopes_hint}) and SSO_SYNC_GOOGLE_ADMIN_EMAIL."
            ) from error
        raise ReadError(f"{what} failed: {describe(error)}") from error


def is_not_found(error: BaseException) -> bool:
    return isinstance(error, HttpError) and error.resp.status == 404


def describe(error: BaseException) -> str:
    if isinstance(error, HttpError):
        reason = _reason(error) or error.resp.reason
        return f"HTTP {error.resp.status} {reason}: {error._get_reason()}"
    if isinstance(error, (RefreshError, OAuthError)):
        return f"Google refused the credentials: {_text(error)}"
    return f"{type(error).__name__}: {_text(error)}"


def _text(error: BaseException) -> str:
    """The error's words, not the tuple of its arguments that str() shows for several (google-
    auth's TransportError: "('Connection aborted.', RemoteDisconnected(...))")."""
    text = str(error)
    if len(error.args) > 1 and text == str(error.args):
        return "; ".join(str(argument) for argument in error.args)
    return text


def _is_transient(error: BaseException) -> bool:
    transient = (TransportError, ConnectionError, TimeoutError, httplib2.HttpLib2Error)
    if isinstance(error, (*transient, CorruptAnswer)):
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


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "Google %s attempt %d failed (%s); retrying",
        state.args[0] if state.args else "call",
        state.attempt_number,
        describe(error) if error else "?",
    )


def _secret_text(secret_id: str) -> str:
    """The secret's value, cached for a few minutes (a Lambda runs every minute); a secret
    created without a value (as the template creates it) is a configuration error."""
    set_it = (
        f"set it with: aws secretsmanager put-secret-value --secret-id {secret_id} "
        "--secret-string file://google-credentials.json (deploy/README.md, step 4)"
    )
    try:
        value = get_secret(secret_id, max_age=SECRET_CACHE_SECONDS)
    except GetParameterError as error:
        cause = error.__context__
        if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == (
            "ResourceNotFoundException"
        ):
            if "AWSCURRENT" in str(cause):
                raise ConfigError(
                    f"the Google credentials secret has no value yet: {set_it}"
                ) from None
            raise ConfigError(f"the Google credentials secret {secret_id} does not exist") from None
        raise ReadError(f"reading the Google credentials secret {secret_id}: {error}") from error
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the Google credentials secret is empty: {set_it}")
    return value


def _google_key(settings: Settings) -> dict[str, Any]:
    if settings.google_credentials_file is not None:
        source = str(settings.google_credentials_file)
        try:
            text = settings.google_credentials_file.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{source}: cannot read Google credentials: {error}") from error
    else:  # one of the two is set: configured_credentials checked
        source = f"secret {settings.google_credentials_secret}"
        text = _secret_text(str(settings.google_credentials_secret))
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}: Google credentials are not JSON ({error.msg})") from error
