"""The README's commands run as written: each shell block marked `<!-- readme-snippet: NAME
-->` is run by bash (stopping at the first failing command) against what it says it needs."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.local.serve import ENV_FILE, READY

ROOT = Path(__file__).resolve().parents[1]
SSO_SYNC = Path(sys.executable).parent / "sso-sync"
MARKED = re.compile(r"<!-- readme-snippet: ([\w-]+) -->\n```sh\n(.*?)```", re.DOTALL)


def snippets(document: Path) -> dict[str, str]:
    return dict(MARKED.findall(document.read_text(encoding="utf-8")))


def run_snippet(snippet: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(ROOT))}
    return subprocess.run(
        ["bash", "-e", "-c", snippet],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment | {"COLUMNS": "100"},
        timeout=600,
    )


@pytest.fixture(scope="module")
def local_emulators() -> Iterator[subprocess.Popen[str]]:
    """`sso-sync local` (what `make local` runs), from its ready line until Ctrl-C."""
    child = subprocess.Popen(
        [str(SSO_SYNC), "local"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert child.stdout is not None
    said = []
    for line in child.stdout:  # each read waits for its next line: no clock involved
        said.append(line)
        if line.startswith(READY):
            break
    assert said and said[-1].startswith(READY), "".join(said)
    yield child
    child.send_signal(signal.SIGINT)
    rest, _ = child.communicate(timeout=120)
    assert child.returncode == 0, rest
    assert not (ROOT / ENV_FILE).exists()  # nothing left that names the stopped emulators


def test_the_readme_marks_its_runnable_blocks() -> None:
    assert set(snippets(ROOT / "README.md")) >= {"local"}


def test_the_readme_tries_every_command_against_sso_sync_local(
    local_emulators: subprocess.Popen[str],
) -> None:
    done = run_snippet(snippets(ROOT / "README.md")["local"])

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Plan:" in done.stdout and "lena.novak@example.com" in done.stdout
    assert (ROOT / ".sso-sync" / "local" / "access-report.html").exists()
