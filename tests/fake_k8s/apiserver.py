"""The fake Kubernetes API server: Kubernetes' REST API over real HTTP (aiohttp).

What it serves (enough for kubectl, KubeSpawner and kubernetes_asyncio clients):

- discovery: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``;
- for every kind in ``resources.RESOURCES``, namespaced and cluster-wide collections:
  list (``labelSelector``, ``fieldSelector``), watch (``watch=1``, ``resourceVersion``,
  ``timeoutSeconds``; 410 Gone as an ``ERROR`` event when the version is too old), get,
  create, replace (PUT, with resourceVersion conflicts), patch (merge patch; strategic
  merge patch handled as merge patch; server-side apply with ``fieldManager`` and
  ``force``), delete (``gracePeriodSeconds``, ``propagationPolicy``) and
  deletecollection; ``/status`` subresources; ``pods/<name>/log`` (``tailLines``,
  ``previous``, ``container``);
- ``Table`` answers when asked (``Accept: ...;as=Table``), so ``kubectl get`` prints;
- errors as ``Status`` objects with the right code and reason;
- every write of a user (not the fake kubelet's or controllers' status updates) is
  checked with ``kubernetes-validate`` in strict mode for Kubernetes 1.32 (422 Invalid);
- bearer-token authentication when the cluster has a token (401 otherwise);
- fault injection (``Faults``): answer chosen requests with an error status or a delay,
  and drop open watch connections.

Parts: ``Faults``, ``make_app``.
"""

import asyncio
import datetime
import json
import re
import time
from dataclasses import dataclass

import kubernetes_validate
import yaml
from aiohttp import web

from . import resources
from .store import ApiError, matches, parse_field_selector, parse_label_selector

K8S_VERSION = "1.32"
_DROP = object()


@dataclass
class FaultRule:
    method: str  # "PATCH", "*", ...
    path: re.Pattern
    status: int | None  # answer with this code (None: only delay)
    times: int  # how many more requests it applies to
    delay: float = 0.0
    hits: int = 0


class Faults:
    """Fault injection: ``fail(method, path_regex, status, times)``, ``drop_watches()``."""

    def __init__(self):
        self.rules: list[FaultRule] = []
        self.watches: set[asyncio.Queue] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of every request

    def fail(self, method: str, path: str, status: int, times: int = 1) -> FaultRule:
        rule = FaultRule(method.upper(), re.compile(path), status, times)
        self.rules.append(rule)
        return rule

    def delay(self, method: str, path: str, seconds: float, times: int = 1) -> FaultRule:
        rule = FaultRule(method.upper(), re.compile(path), None, times, delay=seconds)
        self.rules.append(rule)
        return rule

    def clear(self):
        self.rules.clear()

    def drop_watches(self) -> int:
        """Cut every open watch connection (as a restarting API server or a LB would)."""
        for q in list(self.watches):
            q.put_nowait(_DROP)
        return len(self.watches)

    def match(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.times > 0 and rule.method in ("*", method) and rule.path.search(path):
                rule.times -= 1
                rule.hits += 1
                return rule
        return None


_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
    422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
    504: "Timeout",
}  # fmt: skip


def _error_response(err: ApiError) -> web.Response:
    return web.json_response(err.status(), status=err.code)


def _validate(obj: dict):
    body = {k: v for k, v in obj.items() if k != "status"}
    try:
        kubernetes_validate.validate(body, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(root)"
        name = obj.get("metadata", {}).get("name", "")
        raise ApiError(
            422, "Invalid", f'{obj.get("kind")} "{name}" is invalid: {path}: {e.message}'
        ) from None
    except kubernetes_validate.SchemaNotFoundError as e:
        raise ApiError(422, "Invalid", f"no schema for {obj.get('kind')}: {e}") from None


def _parse_path(path: str):
    """(resource, namespace, name, subresource) for a resource URL, or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and resources.find_resource(group, version, rest[2])
    ):
        ns, rest = rest[1], rest[2:]
    res = resources.find_resource(group, version, rest[0])
    if res is None or len(rest) > 3:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({path})"
        )
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub and sub not in res.subresources:
        raise ApiError(
            404, "NotFound", f"the server could not find the requested resource ({path})"
        )
    return res, ns, name, sub


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    then = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    secs = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    return f"{secs}s" if secs < 120 else f"{secs // 60}m"


def _table(res, items: list[dict], rv: str) -> dict:
    cols = [("Name", "string"), ("Age", "string")]
    if res.plural == "pods":
        cols = [("Name", "string"), ("Ready", "string"), ("Status", "string"),
                ("Restarts", "integer"), ("Age", "string"), ("IP", "string")]  # fmt: skip
    rows = []
    for o in items:
        meta = o["metadata"]
        if res.plural == "pods":
            st = o.get("status", {})
            cs = st.get("containerStatuses", [])
            reason = st.get("phase", "Pending")
            for c in cs:
                waiting = c.get("state", {}).get("waiting")
                if waiting:
                    reason = waiting.get("reason", reason)
            if meta.get("deletionTimestamp"):
                reason = "Terminating"
            cells = [
                meta["name"],
                f"{sum(1 for c in cs if c.get('ready'))}/{len(o['spec']['containers'])}",
                reason,
                sum(c.get("restartCount", 0) for c in cs),
                _age(meta.get("creationTimestamp")),
                st.get("podIP", "<none>"),
            ]
        else:
            cells = [meta["name"], _age(meta.get("creationTimestamp"))]
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
        }
        rows.append({"cells": cells, "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": n,
                "type": t,
                "format": "name" if n == "Name" else "",
                "description": n,
                "priority": 0,
            }
            for n, t in cols
        ],  # fmt: skip
        "rows": rows,
    }


async def _read_body(request: web.Request):
    raw = await request.read()
    if not raw:
        return {}
    ctype = request.content_type
    try:
        if ctype.endswith("yaml"):
            return yaml.safe_load(raw) or {}
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON/YAML: {e}") from None


def make_app(cluster) -> web.Application:
    """The aiohttp application of the fake API server of ``cluster`` (a ``FakeCluster``)."""
    store = cluster.store
    faults = cluster.faults

    @web.middleware
    async def middleware(request: web.Request, handler):
        faults.requests.append((request.method, request.path_qs))
        if cluster.token:
            if request.headers.get("Authorization", "") != f"Bearer {cluster.token}":
                return _error_response(ApiError(401, "Unauthorized", "Unauthorized"))
        rule = faults.match(request.method, request.path_qs)
        if rule:
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.status:
                reason = _REASONS.get(rule.status, "InternalError")
                return _error_response(ApiError(rule.status, reason, f"injected fault: {reason}"))
        try:
            return await handler(request)
        except ApiError as e:
            return _error_response(e)

    async def version(request):
        return web.json_response(
            {
                "major": "1",
                "minor": K8S_VERSION.split(".")[1],
                "gitVersion": f"v{K8S_VERSION}.0-fake",
                "platform": "linux/amd64",
            }  # fmt: skip
        )

    async def api(request):
        return web.json_response(resources.api_versions(f"{request.host}"))

    async def apis(request):
        return web.json_response(resources.api_groups())

    async def health(request):
        return web.Response(text="ok")

    async def resource(request: web.Request):
        path = request.path
        parsed = _parse_path(path)
        if parsed is None:
            gv = path.removeprefix("/api/").removeprefix("/apis/").strip("/")
            doc = resources.api_resource_list(gv)
            if doc is None or request.method != "GET":
                raise ApiError(
                    404, "NotFound", f"the server could not find the requested resource ({path})"
                )
            return web.json_response(doc)
        res, ns, name, sub = parsed
        q = request.query
        method = request.method
        if method == "GET" and name is None:
            if (q.get("watch") or "").lower() in ("1", "true"):
                return await watch(request, res, ns)
            items = store.list(res.plural, ns, q.get("labelSelector"), q.get("fieldSelector"))
            rv = str(store.rv)
            if "as=Table" in request.headers.get("Accept", ""):
                return web.json_response(_table(res, items, rv))
            return web.json_response(
                {
                    "kind": f"{res.kind}List",
                    "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": rv},
                    "items": items,
                }  # fmt: skip
            )
        if method == "GET" and sub == "log":
            store.get("pods", ns, name)
            text = cluster.kubelet.read_log(
                ns, name, q.get("container"), (q.get("previous") or "").lower() in ("1", "true"),
                int(q["tailLines"]) if q.get("tailLines") else None,
            ) if cluster.kubelet else ""  # fmt: skip
            return web.Response(text=text, content_type="text/plain")
        if method == "GET":
            obj = store.get(res.plural, ns, name)
            if "as=Table" in request.headers.get("Accept", ""):
                return web.json_response(_table(res, [obj], obj["metadata"]["resourceVersion"]))
            return web.json_response(obj)
        if method == "POST" and name is None:
            body = await _read_body(request)
            if body.get("kind") and body["kind"] != res.kind:
                raise ApiError(400, "BadRequest", f"kind {body['kind']} does not match {res.kind}")
            body.setdefault("apiVersion", res.api_version)
            body.setdefault("kind", res.kind)
            if q.get("dryRun"):
                _validate(body)
                return web.json_response(body, status=201)
            obj = store.create(res.plural, ns, body)
            return web.json_response(obj, status=201)
        if method == "PUT" and name:
            body = await _read_body(request)
            obj = store.replace(res.plural, ns, name, body, subresource=sub)
            return web.json_response(obj)
        if method == "PATCH" and name:
            body = await _read_body(request)
            ctype = request.content_type
            if ctype == "application/apply-patch+yaml":
                body.setdefault("apiVersion", res.api_version)
                body.setdefault("kind", res.kind)
                obj = store.apply(
                    res.plural, ns, name, body, q.get("fieldManager", ""), subresource=sub
                )
            elif ctype in (
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ):
                obj = store.patch(res.plural, ns, name, body, subresource=sub)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the patch type {ctype!r} is not supported by the fake",
                )
            return web.json_response(obj)
        if method == "DELETE":
            body = await _read_body(request)
            grace = q.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
            grace = int(grace) if grace is not None else None
            propagation = q.get("propagationPolicy", body.get("propagationPolicy")) or "Background"
            if name is None:
                items = store.list(res.plural, ns, q.get("labelSelector"), q.get("fieldSelector"))
                for o in items:
                    m = o["metadata"]
                    store.delete(res.plural, m.get("namespace"), m["name"], grace, propagation)
                return web.json_response(
                    {
                        "kind": f"{res.kind}List",
                        "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(store.rv)},
                        "items": items,
                    }  # fmt: skip
                )
            obj = store.delete(res.plural, ns, name, grace, propagation)
            if store.find(res.plural, ns if res.namespaced else None, name) is not None:
                return web.json_response(obj)
            return web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": res.group,
                        "kind": res.plural,
                        "uid": obj["metadata"]["uid"],
                    },
                }  # fmt: skip
            )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    async def watch(request: web.Request, res, ns):
        q = request.query
        lp = parse_label_selector(q.get("labelSelector"))
        fp = parse_field_selector(q.get("fieldSelector"))
        timeout = float(q.get("timeoutSeconds") or 1800)
        rv = q.get("resourceVersion") or "0"
        queue: asyncio.Queue = asyncio.Queue()

        def translate(ev):
            if ev.plural != res.plural:
                return None
            new_in = matches(ev.obj, ns, lp, fp)
            old_in = ev.old is not None and matches(ev.old, ns, lp, fp)
            if ev.type == "DELETED":
                return ("DELETED", ev.obj) if old_in else None
            if new_in and old_in:
                return ("MODIFIED", ev.obj)
            if new_in:
                return ("ADDED", ev.obj)
            if old_in:  # moved out of the selection: a watcher sees it go
                return ("DELETED", ev.obj)
            return None

        def on_event(ev):
            out = translate(ev)
            if out:
                queue.put_nowait(out)

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            if rv == "0":
                initial = [
                    ("ADDED", o) for o in store.list(res.plural, ns) if matches(o, ns, lp, fp)
                ]
            else:
                try:
                    initial = [t for t in map(translate, store.events_since(int(rv))) if t]
                except ApiError as e:
                    await response.write(
                        json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n"
                    )
                    return response
            for item in initial:
                queue.put_nowait(item)
            store.subscribers.append(on_event)
            faults.watches.add(queue)
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), min(remaining, 1.0))
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                if item is _DROP:
                    if request.transport:
                        request.transport.abort()
                    break
                type_, obj = item
                line = json.dumps({"type": type_, "object": obj}).encode() + b"\n"
                await response.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if on_event in store.subscribers:
                store.subscribers.remove(on_event)
            faults.watches.discard(queue)
        return response

    app = web.Application(middlewares=[middleware], client_max_size=16 * 1024 * 1024)
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    for p in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(p, health)
    app.router.add_route("*", "/api/{tail:.*}", resource)
    app.router.add_route("*", "/apis/{tail:.*}", resource)
    store.validator = _validate
    return app
