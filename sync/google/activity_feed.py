"""Reads Google's change feed: Admin SDK Reports API activities of the applications that record
user and group changes (`admin` for the Admin console and the Directory API, `groups_enterprise`
for changes made in Google Groups)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sync.google.api import GoogleApi, configured_credentials
from sync.model import ActivityEvent
from sync.settings import Settings

REPORTS_SCOPES = ("https://www.googleapis.com/auth/admin.reports.audit.readonly",)
SCOPES_HINT = "the admin.reports.audit.readonly scope, needed by delta runs only"
APPLICATIONS = ("admin", "groups_enterprise")
PAGE_SIZE = 1000


class ActivityFeed:
    def __init__(self, api: GoogleApi) -> None:
        self._api = api
        self.calls = api.calls

    def events_since(self, start: datetime) -> list[ActivityEvent]:
        """Every event of the watched applications at or after `start` that Google shows yet.
        The caller handles errors (google_errors)."""
        with ThreadPoolExecutor(len(APPLICATIONS), thread_name_prefix="feed") as pool:
            listings = pool.map(lambda application: self._events(application, start), APPLICATIONS)
            return [event for events in listings for event in events]

    def _events(self, application: str, start: datetime) -> list[ActivityEvent]:
        pages = self._api.pages(
            f"activities.list({application})",
            lambda token: self._api.service.activities().list(
                userKey="all",
                applicationName=application,
                startTime=rfc3339(start),
                maxResults=PAGE_SIZE,
                pageToken=token,
            ),
        )
        events = []
        for page in pages:
            for activity in page.get("items", []):
                identity = activity["id"]
                happened = datetime.fromisoformat(identity["time"].replace("Z", "+00:00"))
                for position, event in enumerate(activity.get("events", [])):
                    events.append(
                        ActivityEvent(
                            key=f"{application}|{identity['time']}|"
                            f"{identity.get('uniqueQualifier', '')}|{position}",
                            time=happened,
                            application=application,
                            name=event.get("name", ""),
                            parameters={
                                p["name"]: str(p.get("value", ""))
                                for p in event.get("parameters", [])
                                if "name" in p
                            },
                        )
                    )
        return events


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def connect_feed(settings: Settings) -> ActivityFeed:
    """The feed, with credentials asking for the Reports scope only: a deployment without delta
    runs never needs it granted."""
    api = GoogleApi(
        configured_credentials(settings, REPORTS_SCOPES),
        ("admin", "reports_v1"),
        api_endpoint=settings.google_api_endpoint,
    )
    return ActivityFeed(api)
