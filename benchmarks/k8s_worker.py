"""The classroom service's side of benchmark 4, in its own process (so its memory is its
own): a ``KubernetesPublisher`` against the fake cluster at ``--kubeconfig``.

It imports the service's application module too (tornado, JupyterHub's auth), so the
memory it reports is that of a service process, and counts every Kubernetes API request
its client sends (method and path). Phases:

1. publish ``--apps`` apps, ``--concurrency`` at a time, each waiting until live (as the
   service's default ``wait`` does): throughput, writes per publish;
2. the status of a ``--cohort``-app cohort as the dashboard reads it
   (``statuses(cohort)``), ``--runs`` times: time and API calls; ``list_apps()`` of
   every app (the service API's GET apps) for comparison; then ``status(owner)`` (the
   service API's GET apps/<owner>, which the panel polls) for ``--status-reads``
   students, twice: the first read after the publish (its logs have aged past
   ``log_cache_seconds``), then the steady state (the same reads again at once): time
   and API calls per read;
3. baseline: the same cohort status listed from the API on every request (Deployments
   and Pods with the managed-by selector, then the same status rules).

Prints one JSON object. ``python -m benchmarks.k8s_worker --kubeconfig F --apps N ...``
"""

import argparse
import asyncio
import collections
import copy
import gc
import json
import os
import statistics
import sys
import tempfile
import time

import psutil

import imad_extension.service.app  # noqa: F401  (a service process's imports and memory)
from imad_extension.kube import call_json, make_api_client
from imad_extension.publisher import AppStatus
from imad_extension.publisher.k8s_objects import COMMIT_ANNOTATION, managed_selector, object_name
from imad_extension.publisher.kubernetes import KubernetesPublisher, pod_crashed, pod_ready
from imad_extension.settings import DEFAULTS

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class CountingClient:
    """Counts the requests an ``ApiClient`` sends, by method, and the watch requests."""

    def __init__(self, api_client):
        self.counts = collections.Counter()
        self.watches = 0
        original = api_client.request

        def request(method, url, *args, **kwargs):
            query = kwargs.get("query_params") or (args[0] if args else None) or []
            if any(k == "watch" and v for k, v in query):
                self.watches += 1
            else:
                self.counts[method] += 1
            return original(method, url, *args, **kwargs)

        api_client.request = request

    def total(self) -> int:
        return sum(self.counts.values())

    def writes(self) -> int:
        return sum(n for m, n in self.counts.items() if m in WRITES)


def owner_of(i: int) -> str:
    return f"s{i:05d}"


def cohort_status_from_api_lists(deployments: list, pods: list, cohort: list) -> dict:
    """Baseline: the statuses computed from fresh lists (same rules as the publisher)."""
    by_instance = collections.defaultdict(list)
    for p in pods:
        by_instance[(p["metadata"].get("labels") or {}).get("app.kubernetes.io/instance")].append(p)
    deps = {d["metadata"]["name"]: d for d in deployments}
    out = {}
    for owner in cohort:
        name = object_name(owner)
        dep = deps.get(name)
        if dep is None:
            out[owner] = AppStatus.UNPUBLISHED.value
            continue
        commit = (dep["metadata"].get("annotations") or {}).get(COMMIT_ANNOTATION)
        current = [p for p in by_instance.get(name, [])
                   if (p["metadata"].get("annotations") or {}).get(COMMIT_ANNOTATION) == commit]  # fmt: skip
        if any(pod_ready(p) for p in current):
            out[owner] = AppStatus.LIVE.value
        elif any(pod_crashed(p) for p in current):
            out[owner] = AppStatus.CRASHED.value
        else:
            out[owner] = AppStatus.STARTING.value
    return out


async def main(args) -> dict:
    settings = copy.deepcopy(DEFAULTS)
    settings["state_dir"] = args.state_dir
    settings["apps"].update(
        publisher="kubernetes", namespace=args.namespace, domain="apps.example.org"
    )
    result = {"rss_before_start_mb": rss_mb()}
    api_client = await make_api_client(args.kubeconfig)
    counter = CountingClient(api_client)
    publisher = KubernetesPublisher(settings, api_client=api_client)
    await publisher.start()
    result["rss_started_mb"] = rss_mb()

    # 1. publish
    semaphore = asyncio.Semaphore(args.concurrency)
    latencies, statuses, published_at = [], collections.Counter(), {}
    before = counter.counts.copy()

    async def publish(i):
        async with semaphore:
            began = time.perf_counter()
            app = await publisher.publish(
                owner_of(i),
                f"{i:040x}",
                f"https://git.example.org/{owner_of(i)}/app.git",
                wait=args.wait,
            )
            latencies.append(time.perf_counter() - began)
            published_at[owner_of(i)] = time.perf_counter()
            statuses[app["status"]] += 1

    began = time.perf_counter()
    await asyncio.gather(*(publish(i) for i in range(args.apps)))
    elapsed = time.perf_counter() - began
    writes = sum(n for m, n in (counter.counts - before).items() if m in WRITES)
    calls = sum((counter.counts - before).values())
    gc.collect()
    result.update(
        apps=args.apps,
        publish_seconds=elapsed,
        publish_per_second=args.apps / elapsed,
        publish_latency_median=statistics.median(latencies),
        publish_latency_p99=sorted(latencies)[int(0.99 * (len(latencies) - 1))],
        publish_statuses=dict(statuses),
        writes_per_publish=writes / args.apps,
        calls_per_publish=calls / args.apps,
        rss_after_publish_mb=rss_mb(),
    )

    # 2. a cohort's status, as the dashboard reads it, and one status per student
    cohort = [owner_of(i) for i in range(min(args.cohort, args.apps))]
    members = set(cohort)
    times, live = [], 0
    before = counter.total()
    for _ in range(args.runs):
        t = time.perf_counter()
        apps = await publisher.statuses(cohort)
        times.append(time.perf_counter() - t)
        live = sum(1 for a in apps if a["status"] == "live")
    result.update(cohort=len(cohort), cohort_live=live, cohort_status_seconds=times,
                  cohort_status_api_calls=(counter.total() - before) / args.runs)  # fmt: skip
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        apps = await publisher.list_apps()
        times.append(time.perf_counter() - t)
        assert len([a for a in apps if a["owner"] in members]) == len(cohort)
    del apps
    result.update(list_apps_seconds=times)
    sample = cohort[: args.status_reads]
    # how long ago the sample's logs were read (by publish, which answers with them)
    result.update(sample_log_age_seconds=time.perf_counter() - max(published_at[o] for o in sample))
    for phase in ("first", "steady"):
        before = counter.total()
        t = time.perf_counter()
        for owner in sample:
            await publisher.status(owner)
        result.update({
            f"status_read_{phase}_seconds": (time.perf_counter() - t) / max(1, len(sample)),
            f"api_calls_per_status_read_{phase}": (counter.total() - before) / max(1, len(sample)),
        })  # fmt: skip
    result.update(status_reads=len(sample), log_cache_seconds=publisher.log_cache_seconds)

    result.update(rss_before_baseline_mb=rss_mb(), rss_peak_before_baseline_mb=peak_mb())

    # 3. baseline: list from the API on every request
    from kubernetes_asyncio import client

    apps_api, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    times = []
    before = counter.total()
    for _ in range(args.baseline_runs):
        t = time.perf_counter()
        deps = (
            await call_json(
                apps_api.list_namespaced_deployment,
                args.namespace,
                label_selector=managed_selector(),
            )
        )["items"]
        pods = (
            await call_json(
                core.list_namespaced_pod, args.namespace, label_selector=managed_selector()
            )
        )["items"]
        statuses = cohort_status_from_api_lists(deps, pods, cohort)
        times.append(time.perf_counter() - t)
        assert len(statuses) == len(cohort)
        del deps, pods
    result.update(
        baseline_seconds=times,
        baseline_api_calls=(counter.total() - before) / max(1, args.baseline_runs),
    )
    result.update(rss_end_mb=rss_mb(), rss_peak_mb=peak_mb(), watches=counter.watches,
                  relists={"deployments": publisher._deployments.relists, "pods": publisher._pods.relists})  # fmt: skip
    await publisher.stop()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="imad-apps")
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--cohort", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--wait", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--status-reads", type=int, default=200)
    parser.add_argument("--baseline-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imad-bench-k8s-") as state_dir:
        args.state_dir = state_dir  # the publisher writes nothing there; settings want one
        out = asyncio.run(main(args))
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)
