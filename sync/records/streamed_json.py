"""JSON written piece by piece: an iterator inside a document becomes an array serialized item
by item, one item a line, so a plan of 240,000 operations is never one string in memory."""

import json
from collections.abc import Iterator, Mapping
from typing import Any


def json_chunks(value: Any) -> Iterator[str]:
    """The JSON text of `value`, chunk by chunk. Mappings and iterators (generators, not
    lists) are expanded; everything else is one `json.dumps` (unknown types as strings)."""
    if isinstance(value, Mapping):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield ("," if index else "") + "\n" + json.dumps(str(key)) + ": "
            yield from json_chunks(item)
        yield "\n}"
    elif isinstance(value, Iterator):
        yield "["
        for index, item in enumerate(value):
            yield ("," if index else "") + "\n  " + json.dumps(item, default=str)
        yield "\n]"
    else:
        yield json.dumps(value, default=str)


def write_json(value: Any, out: Any) -> None:
    """`json_chunks(value)` to a text stream, ending with a newline."""
    for chunk in json_chunks(value):
        out.write(chunk)
    out.write("\n")
