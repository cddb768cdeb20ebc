"""The management account's part of a plan. Run as Identity Center's delegated administrator,
the sync may not assign in the management account nor change a permission set provisioned
there (AWS refuses both): a second, small deployment in the management account does exactly
that part, and nothing else. Users, groups and memberships stay with the main deployment."""

from dataclasses import replace

from sync.model import AccessSnapshot, OrganizationSnapshot
from sync.planning.plan import AssignmentOperation, PermissionSetOperation, Plan


def management_part(plan: Plan, org: OrganizationSnapshot, access: AccessSnapshot) -> Plan:
    """Assignments in the management account, and the permission sets assigned or provisioned
    there; an assignment whose user or group the main deployment has not made yet waits for
    it, with a warning."""
    management = org.management_account_id
    assigned = {
        op.permission_set
        for op in plan.operations
        if isinstance(op, AssignmentOperation) and op.account_id == management
    }
    provisioned = {
        ps.name for ps in access.permission_sets if management in ps.provisioned_accounts
    }
    kept, waiting = [], []
    for operation in plan.operations:
        if isinstance(operation, AssignmentOperation) and operation.account_id == management:
            if operation.principal_id is None:
                waiting.append(operation.principal_name)
            else:
                kept.append(operation)
        elif isinstance(operation, PermissionSetOperation) and operation.name in (
            assigned | provisioned
        ):
            kept.append(operation)
    warnings = [*plan.warnings]
    if waiting:
        warnings.append(
            f"{', '.join(sorted(set(waiting)))}: not in Identity Center yet; the main "
            "deployment creates them, and the next management run assigns them"
        )
    managed = plan.managed.copy()
    for resource in ("user", "group", "membership"):
        managed.pop(resource, None)
    return replace(plan, operations=tuple(kept), warnings=tuple(warnings), managed=managed)
