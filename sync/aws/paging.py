"""Every page of an AWS List call, each page request retried under the run's policy."""

from collections.abc import Callable
from typing import Any

from tenacity import Retrying


def all_pages(
    call: Callable[..., dict],
    key: str,
    retrying: Retrying,
    convert: Callable[[dict], Any] | None = None,
    **params: Any,
) -> list:
    """Every item of every page; with `convert`, each item converted as its page arrives (so
    that a large listing never holds all of AWS's raw answers at once)."""
    items: list = []
    token: str | None = None
    while True:
        page = retrying(call, **params, **({"NextToken": token} if token else {}))
        raw = page.get(key, [])
        items.extend(raw if convert is None else map(convert, raw))
        token = page.get("NextToken")
        if not token:
            return items
