"""AWS-shaped errors the emulator layer answers with."""

from typing import Any

JsonBody = dict[str, Any]


class AwsError(Exception):
    def __init__(self, kind: str, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.reason = kind, message, reason

    def body(self) -> JsonBody:
        body = {"__type": self.kind, "Message": self.message}
        if self.reason:
            body["Reason"] = self.reason
        return body
