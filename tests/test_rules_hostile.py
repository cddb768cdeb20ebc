"""Hostile and malformed rules files: each ends in exit 2 with a file:line message, never a
traceback, a hang or unbounded memory."""

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync.cli import main

SHIPPED = Path("mappings/rules.yaml").read_text()
MINIMAL = "version: 1\nsync:\n  groups:\n    - {email: eng@example.com}\n"
ALIAS_BOMB = 'version: 1\na: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
    for i in range(9)
)


def validate(tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    path = tmp_path / "rules.yaml"
    path.write_bytes(content)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            MINIMAL.encode("latin-1") + "# caf\u00e9\n".encode("latin-1"),
            r"rules\.yaml:5: not UTF-8",
        ),
        (MINIMAL.encode("utf-16"), r"rules\.yaml:1: not UTF-8"),
        (b"\x00\x01\x02binary", r"rules\.yaml:1: not valid YAML"),
        (MINIMAL.encode() + b"# a NUL \x00 on line 5\n", r"rules\.yaml:5: not valid YAML"),
        (("[" * 3000 + "]" * 3000).encode(), r"rules\.yaml:1: nested deeper than 64"),
        (ALIAS_BOMB.encode(), r"rules\.yaml:2: YAML anchors and aliases"),
        (b"x: " + b"y" * 1_100_000, r"rules\.yaml: the rules file is over 1,000,000 bytes"),
        (MINIMAL.replace("version: 1", "version: true").encode(), r"rules\.yaml:1: version"),
        (
            (MINIMAL + "safeguards: {max_deletes: true}\n").encode(),
            r"rules\.yaml:5: safeguards\.max_deletes",
        ),
        (
            (MINIMAL + 'safeguards: {max_deletes: "150%"}\n').encode(),
            r"rules\.yaml:5: safeguards\.max_deletes",
        ),
        (
            (MINIMAL + 'permission_sets:\n  P: {description: "caf\u00e9 \u2603"}\n').encode(),
            r"rules\.yaml:6: permission_sets\.P\.description",
        ),
        (
            (MINIMAL + f"permission_sets:\n  P: {{tags: {{{'k' * 129}: v}}}}\n").encode(),
            r"rules\.yaml:6: permission_sets\.P\.tags: Value error, tag key|tag key",
        ),
        (
            (MINIMAL + "permission_sets:\n  P: {tags: {team: 'a#b'}}\n").encode(),
            r"permission_sets\.P\.tags: tag 'team'",
        ),
        (
            (MINIMAL + 'permission_sets:\n  P: {managed_policies: ["arn:bogus"]}\n').encode(),
            r"permission_sets\.P\.managed_policies: 'arn:bogus' is not an AWS managed policy ARN",
        ),
        (  # IAM names are ASCII (botocore: [\w+=,.@-]+ in Java's sense); AWS refuses the rest
            (MINIMAL + "permission_sets:\n  D\u00e9veloppeur: {}\n").encode(),
            r"rules\.yaml:6: permission_sets\.D\u00e9veloppeur\.\[key\]: String should match",
        ),
        (
            (
                MINIMAL + "permission_sets:\n  P: {customer_managed_policies: [{name: \u0915}]}\n"
            ).encode(),
            r"permission_sets\.P\.customer_managed_policies item 1\.name: String should match",
        ),
    ],
)
def test_malformed_files_end_in_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes, expected: str
) -> None:
    code, message = validate(tmp_path, content, capsys)

    assert code == 2, message
    assert re.search(expected, message), message


def with_nul_at_line(text: str, line: int) -> bytes:
    lines = text.splitlines(keepends=True)
    lines[line - 1] = "\x00" + lines[line - 1]
    return "".join(lines).encode()


def mutations() -> st.SearchStrategy[bytes]:
    """The shipped file with bytes inserted, deleted or replaced, random text, random bytes."""
    shipped = SHIPPED.encode()

    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(shipped)
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data)))
            kind = draw(st.sampled_from(["insert", "delete", "replace"]))
            chunk = draw(st.binary(min_size=1, max_size=8))
            if kind == "insert":
                data[at:at] = chunk
            elif kind == "delete":
                del data[at : at + len(chunk)]
            else:
                data[at : at + len(chunk)] = chunk
        return bytes(data)

    return st.one_of(
        st.composite(mutate)(),
        st.text(max_size=300).map(str.encode),
        st.binary(max_size=300),
        st.sampled_from(["{", "[", "- ", "? ", "&a ", "*a", "!!python/object:os.system x"]).map(
            lambda s: (MINIMAL + s * 40).encode()
        ),
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(content=mutations())
@example(content=with_nul_at_line(SHIPPED, 100))  # rich printed `rules.yaml:100:` as an emoji
def test_no_malformed_file_crashes_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes
) -> None:
    code, message = validate(tmp_path, content, capsys)

    assert code in (0, 2), message
    if code == 2:
        assert re.search(r"rules\.yaml(:\d+){0,2}: ", message), message
        assert "Traceback" not in message
