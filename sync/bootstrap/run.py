"""`sso-sync bootstrap plan | apply | add-sandbox`: read the definition and the Organization,
plan, apply, audit."""

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import yaml

from sync.aws.identity_store import boto_config
from sync.aws.retry import aws_retrying
from sync.bootstrap.definition import EMAIL_PATTERN, load_definition
from sync.bootstrap.executor import BootstrapExecutor, BootstrapResult, budget_amount
from sync.bootstrap.live import OrganizationState
from sync.bootstrap.planner import BootstrapPlan, plan_bootstrap
from sync.bootstrap.stack_sets import load_templates
from sync.errors import ConfigError, ExitCode
from sync.records.audit import AuditLog, audit_sink_for
from sync.settings import Settings


@dataclass
class BootstrapReport:
    plan: BootstrapPlan
    result: BootstrapResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.plan.blockers:
            return ExitCode.REFUSED
        if self.result is not None and self.result.failures:
            return ExitCode.RUN_FAILED
        return ExitCode.OK


def run_bootstrap(
    settings: Settings, apply: bool, active_people: frozenset[str] | None = None
) -> BootstrapReport:
    """`active_people`: Google's active users' addresses, to show sandboxes whose owner
    left (None: not checked)."""
    definition, documents = load_definition(settings.org_definition)
    organizations = boto3.client("organizations", config=boto_config(1))
    budgets = boto3.client("budgets", config=boto_config(1))
    # Organizations' quotas live in us-east-1 (AWS Organizations guide, quotas).
    quotas = boto3.client("service-quotas", region_name="us-east-1", config=boto_config(1))
    cloudformation = boto3.client("cloudformation", config=boto_config(1))
    retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
    templates = None
    if definition.ci_access is not None or definition.shared_registry is not None:
        templates = load_templates(settings.org_definition.parent / "stacksets")
    live = OrganizationState(organizations, budgets, retrying, quotas, cloudformation).read()
    report = BootstrapReport(plan_bootstrap(definition, documents, live, active_people, templates))
    if not apply or report.plan.blockers:
        return report
    run_id = uuid.uuid4().hex[:12]
    audit = AuditLog(audit_sink_for(settings.audit, run_id), run_id, "bootstrap")
    try:
        executor = BootstrapExecutor(
            organizations, budgets, live, retrying, audit, cloudformation=cloudformation
        )
        report.result = executor.apply(report.plan)
    finally:
        audit.summary({"run_id": run_id, "steps": len(report.plan.operations)})
        audit.close()
    return report


def add_sandbox(path: Path, owner: str, monthly_budget: float | None = None) -> None:
    """Append a sandbox owner to the definition, keeping its comments; validate, or undo."""
    if not re.match(EMAIL_PATTERN, owner):
        raise ConfigError(f"{owner!r} is not an email address")
    definition, _ = load_definition(path)
    if definition.sandboxes is None:
        raise ConfigError(f"{path} has no sandboxes section to add to")
    if any(spec.owner.lower() == owner.lower() for spec in definition.sandboxes.specs()):
        raise ConfigError(f"{owner} already has a sandbox in {path}")
    original = path.read_text(encoding="utf-8")
    owners_node = _owners_node(original)
    entry = (
        owner
        if monthly_budget is None
        else f"{{owner: {owner}, monthly_budget: {budget_amount(monthly_budget)}}}"
    )
    lines = original.splitlines(keepends=True)
    if owners_node.value:
        last = owners_node.value[-1]
        indent = " " * (last.start_mark.column - 2)
        insert_at = last.end_mark.line + (1 if last.end_mark.column else 0)
        lines.insert(insert_at, f"{indent}- {entry}\n")
    else:
        raise ConfigError(f"{path}: write the first sandbox owner by hand (owners is empty)")
    _write_valid(path, "".join(lines), original)


def _write_valid(path: Path, text: str, original: str) -> None:
    """Write an edited definition; if it no longer validates, put the original back."""
    path.write_text(text, encoding="utf-8")
    try:
        load_definition(path)
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise


def _owners_node(text: str) -> yaml.SequenceNode:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    sandboxes = next(v for k, v in root.value if k.value == "sandboxes")
    owners = next(v for k, v in sandboxes.value if k.value == "owners")
    if not isinstance(owners, yaml.SequenceNode) or owners.flow_style:
        raise ConfigError("sandboxes.owners must be a block list (one '- email' a line)")
    return owners


def remove_sandbox(path: Path, owner: str) -> None:
    """Take a sandbox owner's line out of the definition, keeping its comments; the account
    itself is never closed (it leaves the definition, so bootstrap no longer manages it)."""
    definition, _ = load_definition(path)
    if definition.sandboxes is None or not any(
        spec.owner.lower() == owner.lower() for spec in definition.sandboxes.specs()
    ):
        raise ConfigError(f"{owner} has no sandbox in {path}")
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    for item in _owners_node(original).value:
        named = (
            item.value
            if isinstance(item, yaml.ScalarNode)
            else dict((key.value, value.value) for key, value in item.value).get("owner", "")
        )
        if str(named).lower() == owner.lower():
            last = item.end_mark.line + (1 if item.end_mark.column else 0)
            del lines[item.start_mark.line : max(last, item.start_mark.line + 1)]
            break
    _write_valid(path, "".join(lines), original)
