"""The rules file: its model (groups, permission sets, assignment rules, account selectors) and its
YAML loader."""
