"""The access report as one self-contained HTML file: styles, script and data inline, so it
opens from a disk, a mail attachment or an S3 link with no network access."""

import json
from html import escape
from importlib.resources import files
from typing import Any

ASSETS = files("sync.reporting") / "assets"


def report_html(report: dict[str, Any]) -> str:
    data = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
    # Inside <script>, only "</" can end the element early; JSON allows "<\/" for it.
    data = data.replace("</", "<\\/")
    title = f"AWS access report, {report['generated']}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>\n{(ASSETS / 'report.css').read_text(encoding='utf-8')}</style>\n"
        "</head>\n<body>\n"
        f"{(ASSETS / 'report.html').read_text(encoding='utf-8')}"
        f'<script id="report-data" type="application/json">{data}</script>\n'
        f"<script>\n{(ASSETS / 'report.js').read_text(encoding='utf-8')}</script>\n"
        "</body>\n</html>\n"
    )
