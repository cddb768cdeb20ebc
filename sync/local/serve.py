"""`sso-sync local`: the demo company in both emulators, kept running until Ctrl-C, with the
variables that point every command (and the AWS CLI) at them written to a file to source."""

import shlex
import shutil
import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from sync.errors import ExitCode
from sync.local.company import start_company
from sync.local.seed import DOMAIN
from sync.local.stack import LocalStack, environment
from sync.render import print_bootstrap

WORKDIR = Path(".sso-sync/local")
ENV_FILE = WORKDIR / "env.sh"
READY = "Emulators ready"
"""The line that says the file is written and the emulators answer (scripts wait for it)."""


def run_local(console: Console) -> ExitCode:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    stack = LocalStack(domain=DOMAIN).start()
    try:
        with environment(stack.environment()):
            settings, bootstrap = start_company(stack, WORKDIR)
        if bootstrap.exit_code is not ExitCode.OK:
            print_bootstrap(bootstrap, console)
            return bootstrap.exit_code
        variables = {
            name: value
            for name, value in stack.environment().items()
            if name != "AWS_REGION"  # boto3 reads AWS_DEFAULT_REGION
        } | stack.settings_environment(WORKDIR.resolve(), settings.identity_store_id or "")
        variables["SSO_SYNC_RULES"] = str(Path(settings.rules).resolve())
        ENV_FILE.write_text(
            "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items()),
            encoding="utf-8",
        )
        console.print(
            f"{READY}: Google Workspace at {stack.google_url}, AWS at {stack.aws_url}, with "
            "the demo company (35 people) and its Organization; nothing synced yet.\n"
            f"In another shell, from this folder:\n\n  source {ENV_FILE}\n  sso-sync plan\n\n"
            f"{ENV_FILE} sets:",
            highlight=False,
        )
        for name, value in variables.items():
            console.print(f"  {name}={escape(value)}", highlight=False, soft_wrap=True)
        console.print("Ctrl-C stops the emulators (their data is not kept).", highlight=False)
        stop.wait()
        return ExitCode.OK
    finally:
        stack.stop()
        shutil.rmtree(WORKDIR, ignore_errors=True)  # its key and state name emulators now gone
