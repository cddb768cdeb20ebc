"""Keyless Google credentials: Workload Identity Federation from the AWS role to a Google
service account, with domain-wide delegation to the admin.

The chain: the AWS credentials sign a GetCallerIdentity request that Google's STS exchanges
for a federated token; the federated token asks IAM Credentials to sign the delegation JWT
(`sub` = the admin) as the service account (it needs roles/iam.serviceAccountTokenCreator);
Google's token endpoint exchanges the signed JWT for the admin's access token. No long-lived
key exists anywhere. google-auth's impersonated_credentials runs the same flow with its
endpoints fixed to Google's; this class takes them from the configuration, so the flow runs
end to end against the emulator (and through proxies).
"""

import datetime
import json
import re
from typing import Any

from google.auth import aws, credentials
from google.auth.exceptions import RefreshError
from google.oauth2 import _client

from sync.errors import ConfigError

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IMPERSONATION_URL = re.compile(
    r"^(?P<iam>https?://[^/]+)/v1/projects/-/serviceAccounts/(?P<account>[^:/]+):generateAccessToken$"
)
LIFETIME_SECONDS = 3600


class DelegatedFederatedCredentials(credentials.Credentials):
    def __init__(
        self,
        source: credentials.Credentials,
        service_account: str,
        subject: str,
        scopes: list[str],
        iam_endpoint: str,
        token_uri: str,
    ) -> None:
        super().__init__()
        self._source = source
        self._service_account = service_account
        self._subject = subject
        self._scopes = scopes
        self._iam_endpoint = iam_endpoint
        self._token_uri = token_uri

    def refresh(self, request: Any) -> None:
        if not self._source.valid:
            self._source.refresh(request)
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        claims = {
            "iss": self._service_account,
            "sub": self._subject,
            "scope": " ".join(self._scopes),
            "aud": GOOGLE_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        }
        headers = {"Content-Type": "application/json"}
        self._source.apply(headers)
        response = request(
            url=f"{self._iam_endpoint}/v1/projects/-/serviceAccounts/"
            f"{self._service_account}:signJwt",
            method="POST",
            headers=headers,
            body=json.dumps({"payload": json.dumps(claims)}).encode(),
        )
        body = response.data.decode() if hasattr(response.data, "decode") else response.data
        if response.status != 200:
            raise RefreshError(f"IAM Credentials signJwt refused: {body}")
        assertion = json.loads(body)["signedJwt"]
        self.token, self.expiry, _ = _client.jwt_grant(request, self._token_uri, assertion)


def keyless_credentials(
    config: dict[str, Any], subject: str, scopes: list[str], token_uri: str
) -> DelegatedFederatedCredentials:
    """Credentials from an `external_account` configuration (as `gcloud iam
    workload-identity-pools create-cred-config --aws` writes it)."""
    match = IMPERSONATION_URL.match(config.get("service_account_impersonation_url", ""))
    if match is None:
        raise ConfigError(
            "the external_account configuration needs service_account_impersonation_url "
            "naming the service account (create it with --service-account)"
        )
    federation = {k: v for k, v in config.items() if k != "service_account_impersonation_url"}
    try:
        source = aws.Credentials.from_info(federation, scopes=[CLOUD_PLATFORM])
    except (ValueError, KeyError) as error:
        raise ConfigError(f"the external_account configuration is not usable: {error}") from error
    return DelegatedFederatedCredentials(
        source, match["account"], subject, scopes, match["iam"], token_uri
    )
