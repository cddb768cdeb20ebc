"""sso-sync: keeps AWS IAM Identity Center in step with Google Workspace."""
