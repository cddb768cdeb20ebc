"""Errors that end a run, each carrying the exit code scripts act on."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    RUN_FAILED = 1
    BAD_INPUT = 2
    REFUSED = 3


class SyncError(Exception):
    """Base class: a run ended early or failed, for the reason in the message."""

    exit_code: ExitCode = ExitCode.RUN_FAILED


class ConfigError(SyncError):
    """Settings, rules file or payload are invalid. Nothing was applied."""

    exit_code = ExitCode.BAD_INPUT


class ReadError(SyncError):
    """Reading Google or Identity Center failed. Nothing was applied."""

    exit_code = ExitCode.RUN_FAILED


class SafeguardRefusal(SyncError):
    """A safeguard refused the plan. Nothing was applied."""

    exit_code = ExitCode.REFUSED
