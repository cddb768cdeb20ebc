"""The access report as one self-contained HTML file: styles, script and data inline, so it
opens from a disk, a mail attachment or an S3 link with no network access. Made piece by
piece (a person at a time), so a report of 50,000 people is never one string in memory."""

import json
from collections.abc import Iterator
from html import escape
from importlib.resources import files
from typing import Any

ASSETS = files("sync.reporting") / "assets"
# The JSON inside <script> holds no character that HTML parsing inside a script element reacts
# to ("</script", "<!--" switches the parser into its escaped states and hides the rest of the
# page), nor the line separators older JavaScript parsers took for line ends: each is written
# as its \u escape, which JSON.parse reads back as the same character. They can only stand
# inside JSON strings, so the text can be translated without parsing it.
SCRIPT_SAFE = str.maketrans(
    {character: f"\\u{ord(character):04x}" for character in "<>&\u2028\u2029"}
)


def report_html(report: dict[str, Any]) -> Iterator[str]:
    title = f"AWS access report, {report['generated']}"
    yield (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>\n{(ASSETS / 'report.css').read_text(encoding='utf-8')}</style>\n"
        "</head>\n<body>\n"
        f"{(ASSETS / 'report.html').read_text(encoding='utf-8')}"
        '<script id="report-data" type="application/json">'
    )
    for chunk in report_json(report):
        yield chunk.translate(SCRIPT_SAFE)
    yield (
        "</script>\n"
        f"<script>\n{(ASSETS / 'report.js').read_text(encoding='utf-8')}</script>\n"
        "</body>\n</html>\n"
    )


def report_json(report: dict[str, Any]) -> Iterator[str]:
    """The report's JSON, one person a chunk."""
    yield "{"
    for index, (key, value) in enumerate(report.items()):
        yield ("," if index else "") + json.dumps(key) + ":"
        if key == "people":
            yield "["
            for position, person in enumerate(value):
                yield ("," if position else "") + json.dumps(person, ensure_ascii=False)
            yield "]"
        else:
            yield json.dumps(value, ensure_ascii=False)
    yield "}"
