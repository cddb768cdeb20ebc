"""AWS-shaped errors the emulator layer answers with."""

from typing import Any

JsonBody = dict[str, Any]


class AwsError(Exception):
    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status
