"""Lambda's Invoke for functions the tests run in-process: moto would start a Docker container.

Answers as the Lambda Invoke API reference says (Lambda API reference, "Invoke"): a synchronous
invocation returns 200 and the function's result as the payload; a function that raises still
returns 200, with `X-Amz-Function-Error: Unhandled` and `{"errorMessage", "errorType"}` as the
payload, which Step Functions turns into an error named by errorType (Step Functions guide,
"Handling errors in Step Functions workflows"); Lambda's own faults are REST-JSON errors
(ServiceException is a 500, TooManyRequestsException a 429) that Step Functions names
`Lambda.<code>`. An asynchronous (`Event`) invocation answers 202 and is recorded, not run.
"""

import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

JsonBody = Any
STATUS = {
    "ServiceException": "500 Internal Server Error",
    "TooManyRequestsException": "429 Too Many Requests",
}


class LambdaFunctions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.functions: dict[str, Callable[[JsonBody], JsonBody]] = {}
        """Function name -> what runs it (synchronous invocations)."""
        self.faults: list[str] = []
        """Lambda error codes the next synchronous invocations meet, one each, in order."""
        self.asynchronous: list[tuple[str, JsonBody]] = []
        """Asynchronous invocations received (function, payload): recorded, not run."""
        self.synchronous: list[tuple[str, JsonBody]] = []
        """Synchronous invocations received (function, payload), faults included."""

    def invoke(self, function: str, environ: dict, body: bytes, start_response: Any) -> Any:
        name = function_name(function)
        payload = json.loads(body or b"{}")
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            with self._lock:
                self.asynchronous.append((name, payload))
            start_response("202 Accepted", [("Content-Length", "0")])
            return [b""]
        with self._lock:
            self.synchronous.append((name, payload))
            fault = self.faults.pop(0) if self.faults else None
            run = self.functions.get(name)
        if fault is not None:
            return _answer(STATUS[fault], {"message": f"injected {fault}"}, start_response, fault)
        if run is None:
            message = f"Function not found: {function}"
            return _answer(
                "404 Not Found", {"message": message}, start_response, "ResourceNotFoundException"
            )
        try:
            result = run(payload)
        except Exception as error:  # reported the way Lambda reports an unhandled error
            failure = {"errorMessage": str(error), "errorType": type(error).__name__}
            return _answer("200 OK", failure, start_response, function_error="Unhandled")
        return _answer("200 OK", result, start_response)


def function_name(reference: str) -> str:
    """The function's name from a name, `name:qualifier`, or its ARN (URL-encoded or not)."""
    reference = urllib.parse.unquote(reference)
    if reference.startswith("arn:"):
        return reference.split(":")[6]
    return reference.partition(":")[0]


def _answer(
    status: str,
    body: JsonBody,
    start_response: Any,
    error_type: str | None = None,
    function_error: str | None = None,
) -> list[bytes]:
    payload = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        ("x-amzn-RequestId", str(uuid.uuid4())),  # every Lambda answer carries one
    ]
    if error_type is not None:
        headers.append(("x-amzn-ErrorType", error_type))
    if function_error is not None:
        headers.append(("X-Amz-Function-Error", function_error))
    start_response(status, headers)
    return [payload]
