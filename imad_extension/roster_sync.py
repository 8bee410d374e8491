"""Apply a roster to a running JupyterHub through its REST API.

``sync_roster(hub, roster)`` makes the hub's users and groups match the roster:

- every student and TA exists as a hub user (users the hub knows may log in:
  ``Authenticator.allow_existing_users``);
- each cohort ``C`` is a group holding exactly its students (properties
  ``{"imad": "cohort"}``);
- each cohort's TAs are exactly the group ``ta:C``, which holds the role ``imad-ta-C``
  (``hubconfig.roles_for``): JupyterHub has no REST API for role membership, so TAs
  get and lose their role through that group. A student moved to another cohort is
  moved between groups, so TAs' ``!group=`` scopes follow at once.
- a cohort no longer on the roster loses both groups; users who left the roster are
  taken out of the cohort groups, and deleted from the hub only with ``prune=True``.

It is idempotent (a second run changes nothing and says so) and with ``dry_run=True``
only reports. Roles are loaded by the hub at startup: a *new* cohort's TA role exists
after the hub restarts (the result says so in ``notes``); its groups are made now.

Only groups the classroom manages are touched: those with ``properties.imad`` set, and
those named like a roster cohort or ``ta:<cohort>``.

Parts: ``HubAPI`` (a small async client of the hub's REST API), ``SyncResult``,
``hub_roster``, ``sync_roster``, ``save_roster``.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .errors import UpstreamError
from .roster import Cohort, Roster, cohort_of_ta_group, ta_group
from .roster_csv import RosterDiff, diff_rosters, roster_to_csv

PAGINATION = "application/jupyterhub-pagination+json"


class HubAPIError(UpstreamError):
    """The hub answered an API call with an error."""

    def __init__(self, message: str, code: int):
        super().__init__(message, code=code)
        self.code = code


class HubAPI:
    """The hub's REST API as ``token`` (``api_url`` ends in ``/hub/api/``)."""

    def __init__(self, api_url: str, token: str, timeout: float = 120):
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, environ=None):
        """The service's own client: ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN``."""
        environ = os.environ if environ is None else environ
        return cls(environ["JUPYTERHUB_API_URL"], environ["JUPYTERHUB_API_TOKEN"])

    async def request(self, method: str, path: str, body=None, params=None, headers=None):
        """JSON answer of ``method path`` (None for an empty body); raises ``HubAPIError``."""
        url = self.api_url + path.lstrip("/")
        if params:
            url += "?" + urlencode(params, doseq=True)
        request = HTTPRequest(
            url,
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
            body=None if body is None and method in ("GET", "HEAD") else json.dumps(body or {}),
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            message = ""
            if e.response is not None and e.response.body:
                try:
                    message = json.loads(e.response.body).get("message", "")
                except ValueError:
                    message = e.response.body.decode(errors="replace")[:200]
            raise HubAPIError(
                f"hub API {method} {path}: {e.code} {message}".strip(), e.code
            ) from None
        except OSError as e:
            raise HubAPIError(f"hub API {method} {path}: {e}", 0) from None
        return json.loads(response.body) if response.body else None

    async def paged(self, path: str, params=None, page: int = 200) -> list:
        """Every item of a paginated list (``users``, ``groups``)."""
        items, offset = [], 0
        while True:
            answer = await self.request(
                "GET",
                path,
                params={**(params or {}), "offset": offset, "limit": page},
                headers={"Accept": PAGINATION},
            )
            items.extend(answer["items"])
            nxt = answer["_pagination"].get("next")
            if not nxt:
                return items
            offset = nxt["offset"]

    @staticmethod
    def q(name: str) -> str:
        return quote(name, safe="")


@dataclass
class SyncResult:
    """What a sync changed (or, with ``dry_run``, would change)."""

    diff: RosterDiff
    dry_run: bool = False
    created_users: list[str] = field(default_factory=list)
    deleted_users: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    saved_to: str | None = None

    @property
    def changed(self) -> bool:
        return not self.diff.empty or bool(self.created_users or self.deleted_users)

    def lines(self) -> list[str]:
        out = self.diff.lines()
        extra = [u for u in self.created_users if u not in self.diff.added_users]
        if extra:
            out.append(f"created hub user(s): {', '.join(extra)}")
        if self.deleted_users:
            out.append(f"deleted hub user(s): {', '.join(self.deleted_users)}")
        if not out:
            out.append("no changes: the hub already matches the roster")
        if self.dry_run:
            out = [f"(dry run) {line}" for line in out]
        return out + [f"note: {n}" for n in self.notes]

    def to_json(self) -> dict:
        return {
            "changed": self.changed,
            "dry_run": self.dry_run,
            "changes": self.diff.to_json(),
            "created_users": self.created_users,
            "deleted_users": self.deleted_users,
            "notes": self.notes,
            "summary": self.lines(),
            "saved_to": self.saved_to,
        }


def _is_managed(group: dict, cohorts) -> bool:
    props = group.get("properties") or {}
    name = group["name"]
    return bool(props.get("imad")) or name in cohorts or cohort_of_ta_group(name) in cohorts


async def hub_groups(hub: HubAPI) -> list[dict]:
    return await hub.paged("groups")


def roster_from_groups(groups: list[dict], also: set[str] = frozenset()) -> Roster:
    """The roster the hub's classroom groups describe (instructors not included)."""
    cohorts: dict[str, Cohort] = {}
    for g in groups:
        if not _is_managed(g, also):
            continue
        cohort = cohort_of_ta_group(g["name"])
        if cohort is not None:
            cohorts.setdefault(cohort, Cohort(cohort)).tas = sorted(g["users"])
        else:
            cohorts.setdefault(g["name"], Cohort(g["name"])).students = sorted(g["users"])
    # a TA group whose cohort group is gone still counts (its role may still exist)
    return Roster(cohorts=dict(sorted(cohorts.items())))


async def hub_roster(hub: HubAPI) -> Roster:
    """The roster the running hub holds now (see ``roster_from_groups``)."""
    return roster_from_groups(await hub_groups(hub))


async def sync_roster(
    hub: HubAPI,
    roster: Roster,
    *,
    dry_run: bool = False,
    prune: bool = False,
    protect: set[str] = frozenset(),
) -> SyncResult:
    """Make the hub match ``roster`` (see the module docstring); answer what changed.

    ``protect``: users never deleted by ``prune`` (e.g. the instructors).
    """
    groups = await hub_groups(hub)
    by_name = {g["name"]: g for g in groups}
    old = roster_from_groups(groups, also=set(roster.cohorts))
    diff = diff_rosters(old, roster)
    result = SyncResult(diff=diff, dry_run=dry_run)

    wanted_users = set(roster.students) | set(roster.tas)
    existing = {u["name"] for u in await hub.paged("users")}
    to_create = sorted(wanted_users - existing)
    result.created_users = to_create
    leaving = sorted(set(diff.removed_users) - set(protect))
    if prune:
        result.deleted_users = [u for u in leaving if u in existing]
    elif leaving:
        result.notes.append(
            f"{len(leaving)} user(s) left the roster but remain hub users (they may still"
            " log in, to nothing of their cohort's); import with --prune to delete them"
        )

    # roles: a cohort's TA role exists only if the hub loaded it at startup
    for cohort in sorted(roster.cohorts):
        tg = by_name.get(ta_group(cohort))
        role = f"imad-ta-{cohort}"
        if roster.cohorts[cohort].tas and (tg is None or role not in tg.get("roles", [role])):
            result.notes.append(
                f"cohort {cohort} is new to this hub: its TAs get their role {role}"
                " when the hub restarts (JupyterHub loads roles at startup)"
            )
    if dry_run:
        return result

    if to_create:
        await hub.request("POST", "users", {"usernames": to_create})
    for cohort_name, cohort in sorted(roster.cohorts.items()):
        for group, members, props in (
            (cohort_name, cohort.students, {"imad": "cohort"}),
            (ta_group(cohort_name), cohort.tas, {"imad": "tas", "cohort": cohort_name}),
        ):
            await _set_group(hub, by_name.get(group), group, set(members), props)
    for cohort_name in diff.removed_cohorts:
        for group in (cohort_name, ta_group(cohort_name)):
            if group in by_name:
                await hub.request("DELETE", f"groups/{hub.q(group)}")
    for user in result.deleted_users:
        await hub.request("DELETE", f"users/{hub.q(user)}")
    return result


async def _set_group(hub: HubAPI, current: dict | None, name: str, members: set, props: dict):
    path = f"groups/{hub.q(name)}"
    if current is None:
        await hub.request("POST", path, {"users": sorted(members)})
        await hub.request("PUT", f"{path}/properties", props)
        return
    have = set(current["users"])
    if members - have:
        await hub.request("POST", f"{path}/users", {"users": sorted(members - have)})
    if have - members:
        await hub.request("DELETE", f"{path}/users", {"users": sorted(have - members)})
    if (current.get("properties") or {}) != props:
        await hub.request("PUT", f"{path}/properties", props)


def save_roster(roster: Roster, path) -> str:
    """Write ``roster`` as CSV to ``path`` atomically (so a restarted hub loads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(roster_to_csv(roster))
    os.replace(tmp, path)
    return str(path)
