"""JSON written piece by piece is the same JSON, and its iterators are consumed lazily."""

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from sync.records.streamed_json import json_chunks, write_json


def test_the_chunks_are_the_json_of_the_materialized_document() -> None:
    moment = datetime(2026, 11, 30, tzinfo=UTC)
    document = {
        "summary": {"user.create": 2},
        "operations": ({"n": n, "name": f"é{n}\n"} for n in range(3)),
        "empty": iter(()),
        "warnings": ["a", 'b "quoted"'],
        "at": moment,
    }
    out = io.StringIO()

    write_json(document, out)

    assert json.loads(out.getvalue()) == {
        "summary": {"user.create": 2},
        "operations": [{"n": n, "name": f"é{n}\n"} for n in range(3)],
        "empty": [],
        "warnings": ["a", 'b "quoted"'],
        "at": str(moment),
    }
    assert out.getvalue().count("\n  {") == 3  # one operation a line


def test_an_iterator_is_read_only_as_far_as_written() -> None:
    made: list[int] = []

    def operations() -> Iterator[dict]:
        for n in range(1000):
            made.append(n)
            yield {"n": n}

    chunks = json_chunks({"operations": operations()})
    for _ in range(4):  # "{", the key, "[", the first item
        next(chunks)

    assert made == [0]
