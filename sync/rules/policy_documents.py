"""IAM policy documents (permission sets' inline policies, SCPs): the shape AWS accepts."""

from typing import Any

# IAM JSON policy reference, "Version": the current and the previous policy language version.
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")


def policy_document_problem(document: dict[str, Any]) -> str | None:
    """What keeps a JSON object from being an IAM policy document (IAM JSON policy grammar:
    Version, an optional Id, Statement), said without quoting the document."""
    if document.get("Version") not in POLICY_VERSIONS:
        return f'it needs "Version": "{POLICY_VERSIONS[0]}"'
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        return 'it needs "Statement": a statement object or a list of them'
    if set(document) - {"Version", "Id", "Statement"}:
        return "only Version, Id and Statement may stand at its top level"
    return None
