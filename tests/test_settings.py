"""Settings come from SSO_SYNC_* variables or flags; bad values are configuration errors."""

from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.local.stack import environment
from sync.settings import Settings, load_settings


def test_environment_and_overrides() -> None:
    with environment({"SSO_SYNC_GOOGLE_ADMIN_EMAIL": "a@example.com", "SSO_SYNC_RATE_LIMIT": "5"}):
        settings = load_settings(rate_limit="7")

    assert settings.google_admin_email == "a@example.com"
    assert settings.rate_limit == 7


def test_bad_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"SSO_SYNC_RATE_LIMIT \(--rate-limit\)"):
        load_settings(rate_limit="-1")


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = Path("README.md").read_text()

    missing = [n for n in Settings.model_fields if f"`SSO_SYNC_{n.upper()}`" not in readme]
    assert missing == []
