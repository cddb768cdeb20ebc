"""The `sso-sync` command: plan, apply, delta, access, bootstrap, validate, demo.

Exit codes: 0 success, 1 run failed, 2 bad input or config, 3 refused by a safeguard.
"""

import argparse
import importlib.metadata
import json
import logging
import os
import sys
from argparse import SUPPRESS
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
from rich.console import Console
from rich.markup import escape
from rich.status import Status

from sync.bootstrap.run import add_sandbox, remove_sandbox, run_bootstrap
from sync.delta.run import run_delta
from sync.errors import ConfigError, ExitCode, SyncError
from sync.google.directory import connect_google
from sync.planning.plan import Plan
from sync.records.plans import plan_document, read_plan_file
from sync.records.streamed_json import write_json
from sync.render import (
    ApplyProgress,
    print_bootstrap,
    print_plan,
    show_access,
    show_matrix,
    show_report,
    terminal,
)
from sync.reporting.html_page import report_html, report_json
from sync.rules.loader import load_rules
from sync.run import RunOptions, access_report, explain_access, run_sync
from sync.settings import Settings, load_settings, unknown_variables

GOOGLE = frozenset(
    {
        "google_credentials_file",
        "google_credentials_secret",
        "google_admin_email",
        "google_customer_id",
        "google_api_endpoint",
        "google_token_uri",
    }
)
RETRIES = frozenset({"retry_attempts", "retry_max_wait"})
SETTINGS_OF = {
    "sync": frozenset(Settings.model_fields)
    - {
        "org_definition",
        "scheduled_runs",
        "invokers_may_allow_mass_delete",
        "removals_rechecked_after",
    },
    "access": GOOGLE | RETRIES | {"rules"},
    "report": GOOGLE
    | RETRIES
    | {"rules", "identity_store_id", "instance_arn", "rate_limit", "concurrency"},
    "bootstrap": GOOGLE | RETRIES | {"org_definition", "audit"},
    "definition": frozenset({"org_definition"}),
}
"""The settings each kind of command uses: the others are accepted (scripts may pass one set
to every command) but left out of its --help."""


HELP_SETTINGS = "--help-settings"


def _add_settings_flags(
    parser: argparse.ArgumentParser, kind: str = "sync", listed: bool = False
) -> None:
    """Every setting as a flag; its help (and usage) only with --help-settings, so that
    --help shows the command's own options."""
    parser.add_argument(
        HELP_SETTINGS,
        action="store_true",
        help="list the settings this command reads, each a flag and an SSO_SYNC_ variable",
    )
    group = parser.add_argument_group("settings (each also SSO_SYNC_<NAME> in the environment)")
    for name, field in Settings.model_fields.items():
        variable = f"SSO_SYNC_{name.upper()}"
        description = (field.description or "").replace("%", "%%")  # argparse formats help
        shown = listed and name in SETTINGS_OF[kind]
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"setting_{name}",
            metavar="VALUE",
            help=f"{description} [env {variable}]" if shown else SUPPRESS,
        )


def build_parser(settings_listed: bool = False) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log API retries and more",
    )
    parser = argparse.ArgumentParser(
        prog="sso-sync",
        description="Keep AWS IAM Identity Center in step with Google Workspace.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sso-sync {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    original_add_parser = commands.add_parser

    def add_parser(name: str, **options: object) -> argparse.ArgumentParser:
        return original_add_parser(name, parents=[common], **options)  # -v after the command

    commands.add_parser = add_parser  # type: ignore[method-assign]

    plan = commands.add_parser("plan", help="show what a sync would change; writes nothing")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--no-delete", action="store_true", help="plan creates and updates only")
    plan.add_argument(
        "--out", type=Path, metavar="FILE", help="save the plan, for `sso-sync apply FILE`"
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 with no changes, 2 with changes, 1 on error",
    )
    _add_settings_flags(plan, listed=settings_listed)

    apply = commands.add_parser(
        "apply",
        help="compute the plan and apply it once approved (or apply a saved plan)",
    )
    apply.add_argument(
        "plan_file",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="a plan saved by `plan --out`: applied only if it is still exactly the plan",
    )
    apply.add_argument(
        "--auto-approve", action="store_true", help="apply without asking (scripts, CI)"
    )
    apply.add_argument("--json", action="store_true", help="print the run summary as JSON")
    apply.add_argument("--no-delete", action="store_true", help="creates and updates only")
    apply.add_argument(
        "--allow-mass-delete", action="store_true", help="override the max_deletes safeguard"
    )
    _add_settings_flags(apply, listed=settings_listed)

    delta = commands.add_parser(
        "delta",
        help="sync only what Google's change feed reports since the last delta run "
        "(needs the admin.reports.audit.readonly scope)",
    )
    delta.add_argument("--json", action="store_true", help="print the run summary as JSON")
    delta.add_argument(
        "--dry-run", action="store_true", help="plan only; the feed is read again next time"
    )
    delta.add_argument("--no-delete", action="store_true", help="creates and updates only")
    _add_settings_flags(delta, listed=settings_listed)

    access = commands.add_parser(
        "access",
        help="who can reach what, and why: for a person, accounts, or a person in accounts",
    )
    access.add_argument("email", nargs="?", help="a person's Google primary email")
    access.add_argument(
        "--account",
        help="an account name or id, or a selector such as 'ou:/Workloads/**' or 'tag:env=prod'",
    )
    answer_format = access.add_mutually_exclusive_group()
    answer_format.add_argument("--json", action="store_true", help="print the answer as JSON")
    answer_format.add_argument("--csv", action="store_true", help="print the answer as CSV")
    answer_format.add_argument(
        "--matrix",
        action="store_true",
        help="people x accounts, each cell the permission sets (narrowed by EMAIL and --account)",
    )
    _add_settings_flags(access, "access", settings_listed)

    report = commands.add_parser(
        "report",
        help="the access report: everyone x every account, why, the Organization, the risks "
        "and what changed, as one HTML file a browser opens offline",
    )
    report.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write the page here (default: access-report.html unless --json is given)",
    )
    report.add_argument(
        "--json", metavar="FILE", help="write the report's data as JSON here ('-': standard output)"
    )
    report.add_argument(
        "--live",
        action="store_true",
        help="what Identity Center holds now (every assignment, explained by the rules or "
        "marked as outside them) instead of what the rules make true",
    )
    report.add_argument(
        "--since",
        type=Path,
        metavar="PREVIOUS",
        help="an earlier report's JSON: show what access was granted or removed since",
    )
    _add_settings_flags(report, "report", settings_listed)

    bootstrap = commands.add_parser(
        "bootstrap", help="the AWS Organization as code (deploy/org.yaml)"
    )
    steps = bootstrap.add_subparsers(dest="bootstrap_command", required=True)
    for name, text in (("plan", "show what apply would change"), ("apply", "make AWS match")):
        step = steps.add_parser(name, help=text, parents=[common])
        if name == "apply":
            step.add_argument(
                "--auto-approve", action="store_true", help="apply without asking (scripts, CI)"
            )
        _add_settings_flags(step, "bootstrap", settings_listed)
    add_sandbox = steps.add_parser(
        "add-sandbox", help="add an engineer's sandbox to the file", parents=[common]
    )
    add_sandbox.add_argument("email", help="the owner's Google primary email")
    add_sandbox.add_argument("--monthly-budget", type=float, help="USD; default from the file")
    _add_settings_flags(add_sandbox, "bootstrap", settings_listed)
    remove = steps.add_parser(
        "remove-sandbox",
        help="take a sandbox out of the file (the account is never closed)",
        parents=[common],
    )
    remove.add_argument("email", help="the owner whose sandbox leaves the definition")
    _add_settings_flags(remove, "definition", settings_listed)

    validate = commands.add_parser("validate", help="check a rules file offline")
    validate.add_argument(
        "file", nargs="?", help="a path or s3://bucket/key (default: SSO_SYNC_RULES)"
    )

    commands.add_parser("demo", help="run the whole sync against local emulators")
    commands.add_parser(
        "local",
        help="start the local emulators with the demo company and keep them up until Ctrl-C, "
        "to try every command against them (prints the variables to set)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if HELP_SETTINGS in argv:  # the command's help, with its settings listed
        argv = [("--help" if part == HELP_SETTINGS else part) for part in argv]
        build_parser(settings_listed=True).parse_args(argv)
    arguments = build_parser().parse_args(argv)
    verbose = getattr(arguments, "verbose", False)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("sync.records.audit").setLevel(logging.WARNING)
    console = terminal()
    errors = terminal(stderr=True)
    for variable, meant in unknown_variables(os.environ).items():
        hint = f" (did you mean {meant}?)" if meant else ""
        errors.print(
            f"[yellow]sso-sync: {escape(variable)} is not a setting; ignored{escape(hint)}[/yellow]"
        )
    try:
        return int(_dispatch(arguments, console))
    except KeyboardInterrupt:
        errors.print(
            "[yellow]sso-sync: interrupted; operations in flight finished, none started after. "
            "The audit log's summary says what was applied; the next run continues.[/yellow]"
        )
        return INTERRUPTED
    except SyncError as error:
        if isinstance(error.__cause__, (NoRegionError, NoCredentialsError)):
            return _aws_not_configured(error.__cause__, errors)
        if isinstance(error.__cause__, EndpointConnectionError):
            errors.print(
                f"[red]sso-sync: cannot reach AWS ({escape(str(error.__cause__))}); check "
                "AWS_ENDPOINT_URL, AWS_DEFAULT_REGION (or the profile's region) and the "
                "network[/red]"
            )
            return int(ExitCode.BAD_INPUT)
        errors.print(f"[red]sso-sync: {escape(str(error))}[/red]")
        return int(error.exit_code)
    except (NoRegionError, NoCredentialsError) as error:
        return _aws_not_configured(error, errors)


INTERRUPTED = 130


def _aws_not_configured(error: Exception, errors: Console) -> int:
    fix = (
        "set AWS_DEFAULT_REGION (for example us-east-1) or a region in your AWS profile; "
        "boto3 does not read AWS_REGION"
        if isinstance(error, NoRegionError)
        else "give AWS credentials (AWS_PROFILE, aws sso login, or the environment's keys)"
    )
    errors.print(f"[red]sso-sync: AWS is not configured: {escape(str(error))}; {fix}[/red]")
    return int(ExitCode.BAD_INPUT)


def _version() -> str:
    try:
        return importlib.metadata.version("sso-sync")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _dispatch(arguments: argparse.Namespace, console: Console) -> ExitCode:
    if arguments.command == "demo":
        from sync.local.demo import run_demo  # the emulators are an optional extra

        return run_demo(console)
    if arguments.command == "local":
        from sync.local.serve import run_local

        return run_local(console)
    if arguments.command == "validate":
        path = arguments.file or load_settings().rules
        rules = load_rules(path)
        console.print(f"{escape(str(path))}: valid ({len(rules.sync.groups)} group selectors)")
        for advice in rules.advisories():
            console.print(f"[yellow]Warning:[/yellow] {escape(advice)}", highlight=False)
        management = [
            str(number)
            for number, rule in enumerate(rules.assignments, start=1)
            if rule.may_assign_in_the_management_account
        ]
        if management:
            console.print(
                f"Note: assignments rule(s) {', '.join(management)} may assign in the management "
                "account. Run as the Identity Center delegated administrator, sso-sync leaves "
                "those, and permission sets provisioned there, to a run from the management "
                "account (README: Where it runs).",
                highlight=False,
            )
        return ExitCode.OK
    settings = load_settings(
        **{
            name.removeprefix("setting_"): value
            for name, value in vars(arguments).items()
            if name.startswith("setting_")
        }
    )
    if arguments.command == "bootstrap":
        return _bootstrap(arguments, settings, console)
    if arguments.command == "access":
        if arguments.matrix:
            show_matrix(access_report(settings), console, arguments.email, arguments.account)
            return ExitCode.OK
        if arguments.email is None and arguments.account is None:
            raise ConfigError(
                "access needs a person's email, --account, or both (or --matrix, alone for "
                "everyone in every account)"
            )
        answer = explain_access(settings, arguments.email, arguments.account)
        subject = " in ".join(s for s in (arguments.email, arguments.account) if s)
        show_access(
            answer,
            console,
            subject,
            "csv" if arguments.csv else arguments.json,
            person=arguments.email,
        )
        return ExitCode.OK
    if arguments.command == "report":
        return _report(arguments, settings, console)
    if arguments.command == "delta":
        options = RunOptions(apply=not arguments.dry_run, no_delete=arguments.no_delete)
        report = run_delta(settings, options)
    else:
        options = RunOptions(
            apply=arguments.command == "apply",
            no_delete=arguments.no_delete,
            allow_mass_delete=getattr(arguments, "allow_mass_delete", False),
        )
        with ApplyProgress(terminal(stderr=True)) as progress:
            if arguments.command == "apply":
                options = replace(options, **_approval(arguments, console, progress))
            saving = arguments.command == "plan" and arguments.out is not None
            options = replace(options, progress=progress, digest_inputs=saving)
            report = run_sync(settings, options)
        if saving and report.inputs is not None:
            with _opened(arguments.out) as out:
                write_json(plan_document(report.plan, report.inputs), out)
    asked = options.approve is not None and report.plan.operations
    show_report(report, console, as_json=arguments.json, show_plan=not asked)
    if getattr(arguments, "detailed_exitcode", False) and report.exit_code is ExitCode.OK:
        return ExitCode.BAD_INPUT if report.plan.operations else ExitCode.OK  # Terraform's 2
    return report.exit_code


def _report(arguments: argparse.Namespace, settings: Settings, console: Console) -> ExitCode:
    previous = None
    if arguments.since is not None:
        try:
            previous = json.loads(arguments.since.read_text(encoding="utf-8"))
            if not isinstance(previous, dict) or not isinstance(previous.get("people"), list):
                raise ValueError("not the JSON of an sso-sync access report")
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"--since {arguments.since}: not JSON ({error.msg} at line {error.lineno}, "
                f"column {error.colno}): give the JSON a report wrote (sso-sync report --json "
                "FILE, or reports/latest.json)"
            ) from error
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"--since {arguments.since}: {error} (give the JSON a report wrote: "
                "sso-sync report --json FILE, or reports/latest.json)"
            ) from error
    html_file = arguments.html
    if html_file is None and arguments.json is None:
        html_file = Path("access-report.html")
    with Status("Reading Google Workspace and AWS…", console=terminal(stderr=True)):
        report = access_report(settings, arguments.live, previous)
    if arguments.json == "-":
        sys.stdout.writelines(report_json(report))
        print()
    elif arguments.json is not None:
        write_file(Path(arguments.json), report_json(report))
        console.print(f"Report data written to {escape(arguments.json)}")
    if html_file is not None:
        write_file(html_file, report_html(report))
        console.print(
            f"Access report ({report['view']} view: {len(report['people'])} people, "
            f"{len(report['accounts'])} accounts) written to {escape(str(html_file))}: "
            "open it in a browser."
        )
    return ExitCode.OK


@contextmanager
def _opened(path: Path) -> Iterator[TextIO]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as file:
            yield file
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from error


def write_file(path: Path, chunks: Iterable[str]) -> None:
    with _opened(path) as file:
        file.writelines(chunks)


def _approval(arguments: argparse.Namespace, console: Console, progress: ApplyProgress) -> dict:
    """How this apply is approved: a saved plan, --auto-approve, or a person at a terminal."""
    if arguments.plan_file is not None:
        return {"expected": read_plan_file(arguments.plan_file)}
    if arguments.auto_approve:
        return {}
    if not sys.stdin.isatty():
        raise ConfigError(
            "apply needs approval: run it on a terminal to confirm the plan, pass "
            "--auto-approve, or apply a saved plan (sso-sync plan --out plan.json, then "
            "sso-sync apply plan.json)"
        )

    def approve(plan: Plan) -> bool:
        progress.read_done()
        return _ask(plan, console)

    return {"approve": approve}


def _ask(plan: Plan, console: Console) -> bool:
    print_plan(plan, console)
    answer = console.input("Apply these changes? Only 'yes' is accepted: ")
    return answer.strip() == "yes"


def _bootstrap(arguments: argparse.Namespace, settings: Settings, console: Console) -> ExitCode:
    if arguments.bootstrap_command == "remove-sandbox":
        remove_sandbox(settings.org_definition, arguments.email)
        console.print(
            escape(
                f"{settings.org_definition}: {arguments.email}'s sandbox removed from the "
                "definition; the account stays (close it in AWS if it should go)"
            )
        )
        return ExitCode.OK
    if arguments.bootstrap_command == "add-sandbox":
        if arguments.email.lower() not in _active_people(settings, required=True):
            raise ConfigError(f"{arguments.email} is not an active user of this Google Workspace")
        add_sandbox(settings.org_definition, arguments.email, arguments.monthly_budget)
        console.print(escape(f"{settings.org_definition}: added a sandbox for {arguments.email}"))
        return ExitCode.OK
    applying = arguments.bootstrap_command == "apply"
    if applying and not arguments.auto_approve and not sys.stdin.isatty():
        raise ConfigError(
            "bootstrap apply creates AWS accounts: run it on a terminal to confirm the plan, "
            "or pass --auto-approve"
        )
    people = _active_people(settings)
    report = run_bootstrap(settings, apply=False, active_people=people)
    print_bootstrap(report, console)
    if not applying or not report.plan.operations or report.plan.blockers:
        return report.exit_code
    if not arguments.auto_approve:
        answer = console.input("Apply these steps? Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            console.print("Apply cancelled: nothing applied.")
            return ExitCode.REFUSED
    report = run_bootstrap(settings, apply=True, active_people=people)
    print_bootstrap(report, console)
    return report.exit_code


def _active_people(settings: Settings, required: bool = False) -> frozenset[str] | None:
    """Google's active users' addresses, when Google is configured (or `required`)."""
    configured = settings.google_credentials_file or settings.google_credentials_secret
    if not configured and not required:
        return None
    return connect_google(settings).active_addresses()


if __name__ == "__main__":
    sys.exit(main())
