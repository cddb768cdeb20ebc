"""The Organization's shared services as code (deploy/org.yaml ci_access and shared_registry):
CloudFormation stack sets, service-managed with automatic deployment, through the StackSets
emulator (sync/local/stack_sets.py); the templates' trust policies as CloudFormation would
render them."""

import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from sync.bootstrap.planner import Step
from sync.bootstrap.run import run_bootstrap
from sync.cli import main
from sync.errors import ExitCode
from sync.local.aws import ExtendedMotoApp
from sync.settings import Settings
from tests.cloudformation import Stack, load_template
from tests.test_bootstrap import organization
from tests.test_cli import settings_arguments

pytestmark = pytest.mark.heavy

DEPLOY_ROLE = Path("deploy/stacksets/github-deploy-role.yaml")
GITHUB = "token.actions.githubusercontent.com"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def without_shared_services(definition: Path) -> str:
    """The definition as it was before this issue: no ci_access, no shared_registry."""
    text = definition.read_text()
    cut = text.index("# Machines deploy with GitHub Actions")
    definition.write_text(text[:cut])
    return text


def stack_sets() -> dict[str, dict]:
    client = boto3.client("cloudformation")
    found = {}
    for summary in client.list_stack_sets(Status="ACTIVE")["Summaries"]:
        name = summary["StackSetName"]
        found[name] = client.describe_stack_set(StackSetName=name)["StackSet"] | {
            "instances": sorted(
                i["Account"] for i in client.list_stack_instances(StackSetName=name)["Summaries"]
            )
        }
    return found


def test_plan_lists_the_oidc_provider_the_deploy_roles_and_the_replication(
    bootstrap_settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    full = without_shared_services(bootstrap_settings.org_definition)
    assert run_bootstrap(bootstrap_settings, apply=True).exit_code is ExitCode.OK
    bootstrap_settings.org_definition.write_text(full)
    accounts = {name: account_id for name, (_, account_id) in organization()["accounts"].items()}

    code = main(["bootstrap", "plan", *settings_arguments(bootstrap_settings)])

    out = capsys.readouterr().out.replace("\n      ", " ")
    assert code == 0
    assert "+ enable StackSets trusted access for the Organization" in out
    for environment in ("Production", "Staging", "Development"):
        assert (
            f"create stack set sso-sync-github-deploy-workloads-{environment.lower()} in "
            f"/Workloads/{environment}" in out
        )
        assert (
            f"OIDC provider {GITHUB} and role github-deploy (PowerUserAccess) trusting only" in out
        )
        assert f"in {environment} ({accounts[environment]})" in out
    assert (
        "repo:example-co/payments-api:environment:production, "
        "repo:example-co/web-app:environment:production, audience sts.amazonaws.com, in "
        f"Production ({accounts['Production']})"
    ) in out
    assert (
        f"replication of services/* from Infra ({accounts['Infra']}) to "
        f"Production ({accounts['Production']}), Development ({accounts['Development']}), "
        f"Staging ({accounts['Staging']}) in us-east-1"
    ) in out
    assert f"registry policy letting Infra replicate into Staging ({accounts['Staging']})" in out


def test_apply_deploys_every_account_then_a_second_apply_writes_nothing(
    bootstrap_settings: Settings,
) -> None:
    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    accounts = {name: account_id for name, (_, account_id) in organization()["accounts"].items()}
    deployed = stack_sets()
    production = deployed["sso-sync-github-deploy-workloads-production"]
    assert production["instances"] == [accounts["Production"]]
    assert production["AutoDeployment"]["Enabled"] is True
    assert production["PermissionModel"] == "SERVICE_MANAGED"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in production["Parameters"]} == {
        "RoleName": "github-deploy",
        "Subjects": "repo:example-co/payments-api:environment:production,"
        "repo:example-co/web-app:environment:production",
        "ManagedPolicyArns": "arn:aws:iam::aws:policy/PowerUserAccess",
    }
    workloads = sorted(accounts[n] for n in ("Production", "Staging", "Development"))
    assert deployed["sso-sync-registry-destination"]["instances"] == workloads
    assert deployed["sso-sync-registry-source"]["instances"] == [accounts["Infra"]]
    rules = json.loads(deployed["sso-sync-registry-source"]["TemplateBody"])["Resources"][
        "Replication"
    ]["Properties"]["ReplicationConfiguration"]["Rules"]
    assert rules == [
        {
            "Destinations": [
                {"Region": "us-east-1", "RegistryId": accounts[name]}
                for name in ("Production", "Development", "Staging")  # replicate_first
            ],
            "RepositoryFilters": [{"Filter": "services/", "FilterType": "PREFIX_MATCH"}],
        }
    ]
    assert all(
        {"Key": "managed-by", "Value": "sso-sync-bootstrap"} in s["Tags"] for s in deployed.values()
    )

    again = run_bootstrap(bootstrap_settings, apply=True)

    assert again.plan.operations == ()
    assert again.plan.deploy_roles == (  # what each workflow's role-to-assume names
        f"arn:aws:iam::{accounts['Production']}:role/github-deploy  (Production: "
        "example-co/{payments-api, web-app}; environment production only)",
        f"arn:aws:iam::{accounts['Staging']}:role/github-deploy  (Staging: "
        "example-co/{payments-api, web-app}; branch main only)",
        f"arn:aws:iam::{accounts['Development']}:role/github-deploy  (Development: "
        "example-co/{*})",
    )


def test_an_account_moved_into_workloads_is_covered_by_automatic_deployment(
    bootstrap_settings: Settings,
) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    client = boto3.client("organizations")
    client.create_account(Email="aws-payments@example.com", AccountName="Payments")
    new_id = next(a["Id"] for a in client.list_accounts()["Accounts"] if a["Name"] == "Payments")
    paths = {path: unit for unit, path in organization()["paths"].items()}
    client.move_account(
        AccountId=new_id,
        SourceParentId=paths["/"],
        DestinationParentId=paths["/Workloads/Production"],
    )

    deployed = stack_sets()

    assert new_id in deployed["sso-sync-github-deploy-workloads-production"]["instances"]
    assert new_id in deployed["sso-sync-registry-destination"]["instances"]
    plan = run_bootstrap(bootstrap_settings, apply=False).plan
    (update,) = [op for op in plan.operations if "stack set" in op.step.value]
    assert (update.step, update.target) == (Step.UPDATE_STACK_SET, "sso-sync-registry-source")
    assert f"Payments ({new_id})" in update.shows[0]


def trust_policy(parameters: dict[str, str]) -> dict:
    template = load_template(DEPLOY_ROLE)
    values = {k: v.split(",") if k != "RoleName" else v for k, v in parameters.items()}
    stack = Stack(template, values, {"GitHubOidcProvider": "arn:aws:iam::1:oidc-provider/x"})
    return stack.evaluate(template["Resources"]["DeployRole"]["Properties"])[
        "AssumeRolePolicyDocument"
    ]


def test_the_rendered_trust_policies_admit_only_the_declared_repositories(
    bootstrap_settings: Settings,
) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    declared = yaml.safe_load(bootstrap_settings.org_definition.read_text())["ci_access"]

    for name, deployed in stack_sets().items():
        if "github-deploy" not in name:
            continue
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in deployed["Parameters"]}
        (statement,) = trust_policy(parameters)["Statement"]

        path = next(p for p in declared["deploy_roles"] if name.endswith(_slug(p)))
        role = declared["deploy_roles"][path]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": "arn:aws:iam::1:oidc-provider/x"}
        assert statement["Condition"]["StringEquals"] == {f"{GITHUB}:aud": "sts.amazonaws.com"}
        subjects = statement["Condition"]["StringLike"][f"{GITHUB}:sub"]
        repositories = {re.match(r"repo:example-co/([^:]+):", s)[1] for s in subjects}
        assert repositories == set(role["repositories"])
        if "environments" in role:
            assert all(s.endswith(":environment:production") for s in subjects)
        if "branches" in role:
            assert all(s.endswith(":ref:refs/heads/main") for s in subjects)


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def test_no_template_creates_an_iam_user_or_an_access_key() -> None:
    templates = [Path("template.yaml"), *sorted(Path("deploy").rglob("*.yaml"))]
    types = {
        resource.get("Type")
        for path in templates
        if "Resources" in (document := load_template(path) or {})
        for resource in document["Resources"].values()
    }

    assert "AWS::IAM::OIDCProvider" in types and "AWS::IAM::Role" in types
    assert not types & {"AWS::IAM::User", "AWS::IAM::AccessKey", "AWS::IAM::UserToGroupAddition"}


def test_the_stack_set_templates_and_the_rendered_registry_source_pass_cfn_lint(
    bootstrap_settings: Settings, tmp_path: Path
) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    rendered = tmp_path / "registry-source.json"
    rendered.write_text(stack_sets()["sso-sync-registry-source"]["TemplateBody"])

    result = subprocess.run(
        [CFN_LINT, *Path("deploy/stacksets").glob("*.yaml"), str(rendered)],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_sets_not_made_by_the_bootstrap_are_left_alone_and_its_own_removed(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp
) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    client = boto3.client("cloudformation")
    client.create_stack_set(
        StackSetName="sso-sync-hand-made",
        TemplateBody=DEPLOY_ROLE.read_text()
        .split("Outputs:")[0]
        .replace("RoleName: !Ref RoleName", "Description: by hand"),
        Parameters=[
            {"ParameterKey": "RoleName", "ParameterValue": "x"},
            {"ParameterKey": "Subjects", "ParameterValue": "repo:a/b:*"},
            {"ParameterKey": "ManagedPolicyArns", "ParameterValue": "arn:aws:iam::aws:policy/x"},
        ],
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
    )
    text = bootstrap_settings.org_definition.read_text()
    start = text.index("    /Workloads/Development:")
    end = text.index("# The company's container registry")
    bootstrap_settings.org_definition.write_text(text[:start] + "\n" + text[end:])

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK
    steps = [(op.step, op.target) for op in report.plan.operations]
    assert steps == [
        (
            Step.WITHDRAW_STACK_SET,
            "sso-sync-github-deploy-workloads-development from /Workloads/Development",
        ),
        (Step.DELETE_STACK_SET, "sso-sync-github-deploy-workloads-development"),
    ]
    assert "sso-sync-hand-made" in stack_sets()
    assert "sso-sync-github-deploy-workloads-development" not in stack_sets()


def test_an_update_that_meets_a_running_automatic_deployment_waits_its_turn(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp
) -> None:
    assert run_bootstrap(bootstrap_settings, apply=True).exit_code is ExitCode.OK
    definition = bootstrap_settings.org_definition
    definition.write_text(
        definition.read_text().replace("environments: [production]", "environments: [prod]", 1)
    )
    moto_app.stack_sets.running_elsewhere["sso-sync-github-deploy-workloads-production"] = 2

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    (update,) = [o for o in report.result.outcomes if o.operation.step is Step.UPDATE_STACK_SET]
    assert update.attempts == 3
    assert run_bootstrap(bootstrap_settings, apply=True).plan.operations == ()


def with_workload_accounts(definition: Path, development: int) -> None:
    """`development` more accounts in /Workloads/Development."""
    text = definition.read_text()
    accounts = "".join(
        f"  - {{name: dev-{n:02}, email: aws-dev-{n:02}@example.com, ou: /Workloads/Development}}\n"
        for n in range(development)
    )
    text = text.replace("accounts:\n", "accounts:\n" + accounts, 1)
    definition.write_text(text)


def test_past_25_destinations_the_other_accounts_pull_from_the_registry(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp, tmp_path: Path
) -> None:
    moto_app.service_quotas.account_quota = 80
    with_workload_accounts(bootstrap_settings.org_definition, 37)  # 40 workload accounts

    plan = run_bootstrap(bootstrap_settings, apply=False).plan
    (source,) = [o for o in plan.operations if o.target.startswith("sso-sync-registry-source")]
    replicates, pulls = source.shows
    assert replicates.count("(created by this plan)") == 1 + 25  # Infra and the destinations
    assert "to Production (created by this plan), " in replicates  # org.yaml: replicate_first
    assert pulls.startswith("15 more account(s) pull services/* from Infra")

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    body = stack_sets()["sso-sync-registry-source"]["TemplateBody"]
    template = json.loads(body)
    (rule,) = template["Resources"]["Replication"]["Properties"]["ReplicationConfiguration"][
        "Rules"
    ]
    accounts = {name: account_id for name, (_, account_id) in organization()["accounts"].items()}
    assert len(rule["Destinations"]) == 25
    assert rule["Destinations"][0]["RegistryId"] == accounts["Production"]
    pull = template["Resources"]["PullByTheOrganization0"]["Properties"]
    organization_id = boto3.client("organizations").describe_organization()["Organization"]["Id"]
    assert json.loads(pull["RepositoryPolicy"])["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": organization_id}
    }
    rendered = tmp_path / "registry-source.json"
    rendered.write_text(body)
    lint = subprocess.run([CFN_LINT, str(rendered)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert run_bootstrap(bootstrap_settings, apply=True).plan.operations == ()


def test_an_account_that_has_githubs_provider_already_is_reported_then_adopted(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp, capsys: pytest.CaptureFixture
) -> None:
    """IAM allows one OIDC provider per URL in an account; many made GitHub's by hand."""
    moto_app.service_quotas.account_quota = 80
    definition = bootstrap_settings.org_definition
    with_workload_accounts(definition, 37)  # 40 workload accounts
    text = without_shared_services(definition)
    assert run_bootstrap(bootstrap_settings, apply=True).exit_code is ExitCode.OK
    definition.write_text(text)
    staging = organization()["accounts"]["Staging"][1]
    moto_app.stack_sets.existing_oidc_providers.add(staging)

    first = run_bootstrap(bootstrap_settings, apply=True)

    assert first.exit_code is ExitCode.RUN_FAILED
    (failure,) = first.result.failures
    assert f"account(s) {staging}" in failure.error and "bootstrap plan" in failure.error
    assert main(["bootstrap", "plan", *settings_arguments(bootstrap_settings)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"= adopt the existing GitHub OIDC provider in Staging ({staging})" in shown

    second = run_bootstrap(bootstrap_settings, apply=True)

    assert second.exit_code is ExitCode.OK, [f.error for f in second.result.failures]
    instances = boto3.client("cloudformation").list_stack_instances(
        StackSetName="sso-sync-github-deploy-workloads-staging"
    )["Summaries"]
    assert [(i["Account"], i["Status"]) for i in instances] == [(staging, "CURRENT")]
    assert run_bootstrap(bootstrap_settings, apply=True).plan.operations == ()
