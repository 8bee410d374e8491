"""Who may act on whose app: the classroom service's authorization, in one place.

The caller is a JupyterHub user or service model as ``HubAuth`` returns it for a token
(``name``, ``kind``, ``groups``, and ``scopes``: the token's expanded scopes). The owner
of an app is a hub user name; ``owner_groups`` are that user's groups, needed to resolve
``!group=`` filters (JupyterHub's ``check_scopes`` does not resolve group -> user).

Rules (issue 6 extends them for TAs and instructors):

- a user acts on their own app (any action);
- a caller holding ``custom:imad:apps`` acts on every app; with ``!user=<owner>`` on
  that owner's, with ``!group=<g>`` on the apps of members of ``g`` except to publish
  (TAs view, read logs and take down; publishing in another's name is for instructors);
- a caller holding ``admin:users`` (same filters) acts on every app it covers.

Parts: ``ACTIONS``, ``APPS_SCOPE``, ``ADMIN_SCOPE``, ``scope_covers``,
``may_act_on_others``, ``can_act_on``.
"""

ACTIONS = ("view", "logs", "publish", "unpublish")
APPS_SCOPE = "custom:imad:apps"
ADMIN_SCOPE = "admin:users"
_GRANTING = (APPS_SCOPE, ADMIN_SCOPE)


def scope_covers(scopes, scope: str, owner: str, owner_groups=()) -> bool:
    """Does one of ``scopes`` grant ``scope`` on user ``owner`` (member of ``owner_groups``)?"""
    groups = set(owner_groups or ())
    for held in scopes or ():
        if held == scope:
            return True
        base, sep, filter_ = held.partition("!")
        if base != scope or not sep:
            continue
        kind, _, value = filter_.partition("=")
        if (kind == "user" and value == owner) or (kind == "group" and value in groups):
            return True
    return False


def may_act_on_others(caller: dict) -> bool:
    """Could ``caller`` act on *some* other user's app? (Lets students get a 403 at once.)"""
    return any(s.partition("!")[0] in _GRANTING for s in (caller or {}).get("scopes", ()))


def can_act_on(caller: dict, owner: str, action: str, owner_groups=()) -> bool:
    """May ``caller`` do ``action`` (one of ``ACTIONS``) on ``owner``'s app?"""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not caller:
        return False
    if caller.get("kind", "user") == "user" and caller.get("name") == owner:
        return True
    scopes = caller.get("scopes", ())
    if action == "publish":
        # Putting code live in someone else's name is for instructors (an unfiltered or
        # per-user grant); a TA's cohort-wide grant covers view, logs and unpublish.
        owner_groups = ()
    return any(scope_covers(scopes, scope, owner, owner_groups) for scope in _GRANTING)
