"""Every page of an AWS List call, each page request retried under the run's policy."""

from collections.abc import Callable
from typing import Any

from tenacity import Retrying


def all_pages(call: Callable[..., dict], key: str, retrying: Retrying, **params: Any) -> list:
    items: list = []
    token: str | None = None
    while True:
        page = retrying(call, **params, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items
