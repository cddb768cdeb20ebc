"""Both emulators on loopback, and the settings and environment that point the sync at them."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.http_server import LocalServer
from sync.settings import Settings

REGION = "us-east-1"
ADMIN_EMAIL = "admin@example.com"
KEY_FILE = "google-key.json"
"""The emulator's service-account key, in a run's folder: valid only while its emulator runs."""
AWS_ENVIRONMENT = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "NO_PROXY": "127.0.0.1,localhost",
}


class LocalStack:
    """A Google Directory emulator and an extended moto server, each on its own port."""

    def __init__(self, domain: str = "example.com") -> None:
        self.google = GoogleDirectoryEmulator(domain=domain)
        self.google.add_user(ADMIN_EMAIL, "Workspace", "Admin", is_admin=True)
        self.aws = ExtendedMotoApp()
        self._google_server = LocalServer(self.google)
        self._aws_server = LocalServer(self.aws)

    @property
    def google_url(self) -> str:
        return self._google_server.url

    @property
    def aws_url(self) -> str:
        return self._aws_server.url

    def start(self) -> Self:
        self._google_server.start()
        self._aws_server.start()
        return self

    def stop(self) -> None:
        self._google_server.stop()
        self._aws_server.stop()

    def environment(self) -> dict[str, str]:
        """What boto3 needs to reach the AWS emulator: its standard variables only."""
        return {**AWS_ENVIRONMENT, "AWS_ENDPOINT_URL": self.aws_url}

    def write_google_key(self, path: Path, scopes: list[str] | None = None) -> Path:
        key = self.google.issue_service_account_key(f"{self.google_url}/token", scopes)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(key), encoding="utf-8")
        return path

    def settings_environment(self, workdir: Path, identity_store_id: str) -> dict[str, str]:
        """SSO_SYNC_* variables for a run in `workdir` against this stack."""
        return {
            "SSO_SYNC_GOOGLE_CREDENTIALS_FILE": str(self.write_google_key(workdir / KEY_FILE)),
            "SSO_SYNC_GOOGLE_ADMIN_EMAIL": ADMIN_EMAIL,
            "SSO_SYNC_GOOGLE_API_ENDPOINT": self.google_url,
            "SSO_SYNC_STATE": str(workdir / "state.json"),
            "SSO_SYNC_AUDIT": str(workdir / "audit.jsonl"),
            "SSO_SYNC_LOCK": str(workdir / "lock"),
            "SSO_SYNC_IDENTITY_STORE_ID": identity_store_id,
        }

    def settings(self, workdir: Path, identity_store_id: str, **overrides: object) -> Settings:
        variables = self.settings_environment(workdir, identity_store_id)
        given = {name.removeprefix("SSO_SYNC_").lower(): value for name, value in variables.items()}
        return Settings(**(given | overrides))


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
