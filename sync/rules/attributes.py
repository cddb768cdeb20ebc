"""The rules' `attributes:` section: which Google Directory field fills which Identity Store
attribute of every synced user, and which attributes become session tags for attribute-based
access control (the instance's access-control attributes)."""

import difflib
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sync.model import CORE_USER_ATTRIBUTES, ENTERPRISE_USER_ATTRIBUTES

USER_ATTRIBUTES = (
    *CORE_USER_ATTRIBUTES,
    *(f"enterprise.{name}" for name in ENTERPRISE_USER_ATTRIBUTES),
)
SESSION_SOURCES = ("userName", "displayName", "name.givenName", "name.familyName", "email")
"""Attributes every synced user has, which may also become session tags."""
NOT_SESSION_SOURCES = ("preferredLanguage", "profileUrl")
"""Attributes Identity Center does not offer as access-control attributes (IAM Identity
Center guide, "Supported external identity provider attributes")."""

ORGANIZATION_FIELDS = (
    "title",
    "department",
    "costCenter",
    "description",
    "name",
    "location",
    "symbol",
    "domain",
)
GOOGLE_FIELD = re.compile(
    r"^(?:primaryEmail|name\.(?:givenName|familyName|fullName)"
    rf"|organizations\.primary\.(?:{'|'.join(ORGANIZATION_FIELDS)})"
    r"|externalIds\.[A-Za-z0-9_-]+|relations\.manager"
    r"|customSchemas\.[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*)$"
)
SESSION_TAG_KEY = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$")
]
"""The length as bounds, not as {1,128} in the pattern: a counted Unicode class takes the
regex engine 150 ms to compile, at every start of the CLI and of the Lambda."""
Problem = tuple[tuple, str]


class AttributeMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    user_name: str | None = None
    """The Google Directory field that is each user's Identity Center UserName (default:
    primaryEmail). It must be what Google's SAML app sends as the NameID. A user without it is
    not synced (with a warning); a change is a rename (same user, same access)."""
    user: dict[str, str] = {}
    """Identity Store attribute (title, enterprise.costCenter, ...): the Google Directory field
    that fills it (organizations.primary.costCenter, externalIds.organization,
    relations.manager, customSchemas.HR.division, ...). A field that is empty in Google
    removes the attribute."""
    sensitive: list[str] = []
    """Mapped attributes (of `user`) whose values plans, logs and the audit log show only as
    a digest: a change shows, its value does not."""
    access_control: dict[SESSION_TAG_KEY, str] = {}
    """Session tag key: the user attribute it carries (one of `user`'s, or userName,
    displayName, name.givenName, name.familyName, email). When present, the instance's
    access-control attributes are exactly these; when absent, they are left alone."""

    def problems(self) -> list[Problem]:
        """(key path under `attributes`, what is wrong) for each name sso-sync cannot map."""
        found: list[Problem] = []
        if self.user_name is not None and (
            not GOOGLE_FIELD.match(self.user_name) or self.user_name == "relations.manager"
        ):
            found.append(
                (
                    ("user_name",),
                    f"{self.user_name!r} is not a Google Directory field that can name a user "
                    "(primaryEmail, externalIds.<type>, customSchemas.<schema>.<field>, ...)",
                )
            )
        for attribute, google_field in self.user.items():
            if attribute not in USER_ATTRIBUTES:
                found.append((("user", attribute), _unknown(attribute, USER_ATTRIBUTES)))
            elif attribute == "enterprise.manager" and google_field != "relations.manager":
                found.append((("user", attribute), "only relations.manager fills the manager"))
            elif not GOOGLE_FIELD.match(google_field):
                found.append(
                    (
                        ("user", attribute),
                        f"{google_field!r} is not a Google Directory field sso-sync reads "
                        "(primaryEmail, name.givenName, organizations.primary.title, "
                        "externalIds.<type>, relations.manager, "
                        "customSchemas.<schema>.<field>)",
                    )
                )
        for index, attribute in enumerate(self.sensitive):
            if attribute not in self.user:
                found.append((("sensitive", index), f"{attribute!r} is not mapped in user"))
        sources = tuple(a for a in (*self.user, *SESSION_SOURCES) if a not in NOT_SESSION_SOURCES)
        for key, attribute in self.access_control.items():
            if attribute not in sources:
                found.append((("access_control", key), _unknown(attribute, sources)))
        return found

    def session_tags(self) -> tuple[tuple[str, str], ...]:
        """(key, source) of the access-control attributes, as Identity Center takes them:
        `${path:...}` (the guide's table of supported attributes)."""
        return tuple(sorted((key, _source(a)) for key, a in self.access_control.items()))

    def google_fields(self) -> list[str]:
        return sorted({*self.user.values(), *([self.user_name] if self.user_name else [])})

    def uses_enterprise(self) -> bool:
        return any(attribute.startswith("enterprise.") for attribute in self.user)


def _source(attribute: str) -> str:
    if attribute == "email":
        return "${path:emails[primary eq true].value}"
    if attribute == "enterprise.manager":
        return "${path:enterprise.manager.value}"
    return "${path:" + attribute + "}"


def _unknown(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{name!r} is not an attribute sso-sync maps{hint}; one of: " + ", ".join(known)
