"""The fake API server's object store: objects, resource versions, selectors, watch events.

Everything runs on the fake cluster's one event loop thread, so nothing here locks.

- Every write bumps one cluster-wide ``resourceVersion`` counter (an int, sent as a
  string, like etcd's revision) and appends an event to a bounded history; a watch can
  resume from any resourceVersion still in the history, older ones get 410 Gone
  (``compact()`` forgets the history to provoke that).
- Objects get ``uid``, ``creationTimestamp``, ``namespace``, ``resourceVersion`` and, for
  Deployments/ReplicaSets, ``generation`` (bumped when the spec changes).
- ``status`` is a subresource for kinds that have one: writes to the main resource keep
  it, writes to ``/status`` change only it.
- Pods are deleted gracefully when a kubelet runs them: ``deletionTimestamp`` is set and
  the kubelet removes the pod once its processes have stopped.
- Deleting an object deletes its dependents (``ownerReferences``), like the garbage
  collector with background propagation.
- Server-side apply: create, or merge the applied configuration over the object after
  removing the fields this field manager applied last time and no longer applies.
  Lists are replaced as a whole. Ownership conflicts between field managers are *not*
  modelled (a second manager simply overwrites), nor is ``managedFields.fieldsV1``.

Parts: ``ApiError``, ``parse_label_selector``, ``parse_field_selector``, ``matches``,
``merge_patch``, ``Store``.
"""

import collections
import copy
import datetime
import re
import uuid

from .resources import RESOURCES_BY_PLURAL


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A failure answered as a ``Status`` object with ``code``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(plural: str, name: str) -> ApiError:
    res = RESOURCES_BY_PLURAL[plural]
    return ApiError(
        404,
        "NotFound",
        f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
        {"name": name, "group": res.group, "kind": res.plural},
    )


# --- selectors ------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str | None):
    """A predicate on a labels dict, from Kubernetes' label selector syntax."""
    preds = []
    for term in _split_terms(selector or ""):
        if m := _SET_RE.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                preds.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                preds.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := _EQ_RE.match(term):
            key, op, value = m.groups()
            if op == "!=":
                preds.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                preds.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif m := _EXISTS_RE.match(term):
            neg, key = m.groups()
            if neg:
                preds.append(lambda lb, k=key: k not in lb)
            else:
                preds.append(lambda lb, k=key: k in lb)
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return lambda labels: all(p(labels or {}) for p in preds)


def _field(obj: dict, path: str) -> str:
    node = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    return "" if node is None else str(node)


def parse_field_selector(selector: str | None):
    """A predicate on an object from a field selector (``a.b=c``, ``a.b!=c``)."""
    preds = []
    for term in _split_terms(selector or ""):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
        path, op, value = m.groups()
        if op == "!=":
            preds.append(lambda o, p=path, v=value: _field(o, p) != v)
        else:
            preds.append(lambda o, p=path, v=value: _field(o, p) == v)
    return lambda obj: all(p(obj) for p in preds)


def matches(obj, ns, label_pred, field_pred) -> bool:
    if obj is None:
        return False
    meta = obj["metadata"]
    if ns is not None and meta.get("namespace") != ns:
        return False
    return label_pred(meta.get("labels") or {}) and field_pred(obj)


# --- patches ----------------------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (``null`` deletes); returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _remove_unapplied(obj: dict, previous: dict, applied: dict):
    """Delete from ``obj`` the fields set in ``previous`` but absent from ``applied``."""
    for key, old in previous.items():
        if key not in applied:
            obj.pop(key, None)
        elif isinstance(old, dict) and isinstance(applied[key], dict):
            if isinstance(obj.get(key), dict):
                _remove_unapplied(obj[key], old, applied[key])


# --- the store --------------------------------------------------------------------------

Event = collections.namedtuple("Event", "rv type plural obj old")

_SERVER_META = ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields")


class Store:
    """All objects of the fake cluster, with an event history for watches."""

    def __init__(self, history_limit: int = 5000):
        self.rv = 0
        self.objects: dict[str, dict[tuple, dict]] = collections.defaultdict(dict)
        self.history: collections.deque[Event] = collections.deque(maxlen=history_limit)
        self.compacted_rv = 0  # watches from at or before this resourceVersion get 410
        self.subscribers = []  # callables(Event): watches, kubelet, controllers
        self.applied = {}  # (plural, ns, name, manager) -> last applied configuration
        self.graceful_delete = None  # callable(pod) -> bool: a kubelet will finish it
        self.validator = None  # callable(obj): raises ApiError 422 for an invalid object

    # -- bookkeeping
    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _emit(self, type_: str, plural: str, obj: dict, old: dict | None):
        event = Event(int(obj["metadata"]["resourceVersion"]), type_, plural, obj, old)
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(event)
        for callback in list(self.subscribers):
            callback(event)

    def compact(self):
        """Forget the event history: watches resuming from before now get 410 Gone."""
        self.history.clear()
        self.compacted_rv = self.rv

    def events_since(self, rv: int):
        """History events after ``rv``, or ApiError 410 when they are gone."""
        if rv < self.compacted_rv:
            raise ApiError(
                410, "Expired", f"too old resource version: {rv} ({self.compacted_rv + 1})"
            )
        return [e for e in self.history if e.rv > rv]

    # -- reads
    def get(self, plural: str, ns: str | None, name: str) -> dict:
        obj = self.objects[plural].get((ns, name))
        if obj is None:
            raise not_found(plural, name)
        return obj

    def find(self, plural, ns, name):
        return self.objects[plural].get((ns, name))

    def list(self, plural: str, ns=None, label_selector=None, field_selector=None):
        lp, fp = parse_label_selector(label_selector), parse_field_selector(field_selector)
        items = [o for o in self.objects[plural].values() if matches(o, ns, lp, fp)]
        items.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        return items

    # -- writes
    def _check_namespace(self, plural: str, ns: str | None):
        res = RESOURCES_BY_PLURAL[plural]
        if res.namespaced and (None, ns) not in self.objects["namespaces"]:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})  # fmt: skip

    def create(self, plural: str, ns: str | None, obj: dict, managed_fields=None) -> dict:
        res = RESOURCES_BY_PLURAL[plural]
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value")
        if res.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the object does not match the namespace of the request",
                )
            meta["namespace"] = ns
        else:
            ns = None
            meta.pop("namespace", None)
        self._check_namespace(plural, ns)
        if (ns, name) in self.objects[plural]:
            raise ApiError(409, "AlreadyExists", f'{res.plural} "{name}" already exists',
                           {"name": name, "group": res.group, "kind": res.plural})  # fmt: skip
        for key in _SERVER_META:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        if managed_fields:
            meta["managedFields"] = managed_fields
        if res.has_generation:
            meta["generation"] = 1
        if plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        if res.has_status and plural != "namespaces":
            # what the API server itself puts there before any controller has looked
            obj["status"] = (
                {"phase": "Pending"} if plural in ("pods", "persistentvolumeclaims") else {}
            )
        if self.validator:
            self.validator(obj)
        meta["resourceVersion"] = self._bump()
        self.objects[plural][(ns, name)] = obj
        self._emit("ADDED", plural, obj, None)
        return obj

    def replace(
        self, plural: str, ns, name: str, obj: dict, subresource=None, check_rv=True,
        managed_fields=None,
    ):  # fmt: skip
        """PUT semantics: optimistic concurrency on ``metadata.resourceVersion``."""
        res = RESOURCES_BY_PLURAL[plural]
        ns = ns if res.namespaced else None
        old = self.get(plural, ns, name)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        given_rv = meta.get("resourceVersion")
        if check_rv and given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been'
                " modified; please apply your changes to the latest version and try again",
                {"name": name, "group": res.group, "kind": res.plural},
            )
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        new = copy.deepcopy(old)
        if subresource == "status":
            new["status"] = obj.get("status", {})
        else:
            status = old.get("status")
            new = obj
            new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
            for key in ("uid", "creationTimestamp", "namespace", "name", "generation",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):  # fmt: skip
                if key in old["metadata"]:
                    new["metadata"][key] = old["metadata"][key]
                else:
                    new["metadata"].pop(key, None)
            if res.has_status:
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
            if managed_fields is not None:
                new["metadata"]["managedFields"] = managed_fields
            if res.has_generation and new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if self.validator:
                self.validator(new)
        return self._store(plural, ns, name, new, old)

    def _store(self, plural, ns, name, new, old):
        if new == old:
            return old  # a no-op write does not bump the resourceVersion (like etcd)
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[plural][(ns, name)] = new
        self._emit("MODIFIED", plural, new, old)
        return new

    def patch(self, plural, ns, name, patch: dict, subresource=None):
        """JSON merge patch (strategic merge patch is treated the same way)."""
        res = RESOURCES_BY_PLURAL[plural]
        ns = ns if res.namespaced else None
        old = self.get(plural, ns, name)
        merged = merge_patch(old, patch)
        merged["metadata"].pop("resourceVersion", None)
        if "resourceVersion" in patch.get("metadata", {}):
            merged["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"]
        return self.replace(plural, ns, name, merged, subresource=subresource)

    def apply(self, plural, ns, name, applied: dict, manager: str, subresource=None):
        """Server-side apply (see the module docstring for what is modelled)."""
        res = RESOURCES_BY_PLURAL[plural]
        ns = ns if res.namespaced else None
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value: is required for apply patch",
            )
        if applied.get("metadata", {}).get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        key = (plural, ns, name, manager)
        entry = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": res.api_version,
            "time": now_iso(),
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }
        old = self.find(plural, ns, name)
        if old is None:
            obj = copy.deepcopy(applied)
            obj.setdefault("metadata", {})["name"] = name
            created = self.create(plural, ns, obj, managed_fields=[entry])
            self.applied[key] = copy.deepcopy(applied)
            return created
        base = copy.deepcopy(old)
        previous = self.applied.get(key)
        if previous:
            _remove_unapplied(base, previous, applied)
        merged = _apply_merge(base, applied)
        others = [m for m in old["metadata"].get("managedFields", []) if m["manager"] != manager]
        merged["metadata"].pop("resourceVersion", None)
        if _without_server_meta(merged) == _without_server_meta(old):
            self.applied[key] = copy.deepcopy(applied)
            return old  # a no-op apply changes nothing, not even managedFields' time
        result = self.replace(
            plural, ns, name, merged, subresource=subresource, managed_fields=others + [entry]
        )
        self.applied[key] = copy.deepcopy(applied)
        return result

    def delete(self, plural, ns, name, grace_seconds=None, propagation="Background"):
        res = RESOURCES_BY_PLURAL[plural]
        ns = ns if res.namespaced else None
        obj = self.get(plural, ns, name)
        if plural == "pods" and self.graceful_delete and grace_seconds != 0:
            if obj["metadata"].get("deletionTimestamp"):
                return obj
            grace = grace_seconds
            if grace is None:
                grace = obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = now_iso()
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            stored = self._store(plural, ns, name, new, obj)
            if self.graceful_delete(stored):
                return stored
        return self.remove(plural, ns, name, propagation=propagation)

    def remove(self, plural, ns, name, propagation="Background"):
        """Remove an object now (the end of a graceful deletion) and its dependents."""
        obj = self.objects[plural].pop((ns, name), None)
        if obj is None:
            raise not_found(plural, name)
        for k in [k for k in self.applied if k[:3] == (plural, ns, name)]:
            del self.applied[k]
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = self._bump()
        self._emit("DELETED", plural, final, obj)
        if propagation != "Orphan":
            self._collect_dependents(obj["metadata"]["uid"])
        if plural == "namespaces":
            for kind, objs in list(self.objects.items()):
                for ons, oname in [k for k in objs if k[0] == name]:
                    self.delete(kind, ons, oname, grace_seconds=0)
        return final

    def _collect_dependents(self, uid: str):
        for plural, objs in list(self.objects.items()):
            for (ons, oname), o in list(objs.items()):
                refs = o["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    if (ons, oname) in objs:
                        self.delete(plural, ons, oname)


def _without_server_meta(obj: dict) -> dict:
    meta = {
        k: v for k, v in obj["metadata"].items() if k not in ("managedFields", "resourceVersion")
    }
    return {**obj, "metadata": meta}


def _apply_merge(base, applied):
    if not isinstance(applied, dict) or not isinstance(base, dict):
        return copy.deepcopy(applied)
    result = copy.deepcopy(base)
    for key, value in applied.items():
        result[key] = _apply_merge(result.get(key), value)
    return result
