"""The org bootstrap: the AWS Organization sso-sync assumes, declared in deploy/org.yaml."""
