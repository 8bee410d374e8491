"""KubernetesPublisher against the fake cluster: real HTTP, real apps, real faults.

The apps run the real runtime entrypoint (images/nodejs-student/entrypoint.sh) as the
nodejs-student image's ENTRYPOINT, fetched from a real bare repository; requests go
through the fake ingress controller (configurable-http-proxy with host routing).
"""

import asyncio
import threading
import time

import pytest

from imad_extension.errors import UpstreamError
from imad_extension.publisher import publisher_for
from imad_extension.publisher.kubernetes import KubernetesPublisher

from .fake_k8s import FakeCluster, ImageSpec
from .publisher_helpers import ENTRYPOINT, StudentRepo, app_files, get_app, make_settings

pytestmark = pytest.mark.timeout(120)
NAMESPACE = "imad-apps"
RUNTIME_IMAGE = ImageSpec(
    entrypoint=[str(ENTRYPOINT)],
    env={"APP_DIR": "/srv/app", "NPM_CACHE_DIR": "/srv/cache", "PORT": "8080", "HOME": "/home/node",
         "NPM_CONFIG_UPDATE_NOTIFIER": "false"},
)  # fmt: skip
CRASHING_SERVER = 'console.log("starting up"); throw new Error("student bug: db is undefined");\n'


@pytest.fixture
def cluster(tmp_path):
    c = FakeCluster(
        tmp_path / "cluster",
        images={"imad/nodejs-student:0.1.0": RUNTIME_IMAGE},
        namespaces=("default", NAMESPACE),
        ingress=True,
    )
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def settings(tmp_path, cluster):
    s = make_settings(
        tmp_path / "state", publisher="kubernetes", namespace=NAMESPACE, domain="apps.test"
    )
    s["mode"] = "kubernetes"
    s["apps"]["port"] = cluster.ingress.port  # the fake ingress controller's port
    return s


@pytest.fixture
def kubeconfig(tmp_path, cluster):
    return str(cluster.write_kubeconfig(tmp_path / "kubeconfig"))


def make_publisher(settings, kubeconfig) -> KubernetesPublisher:
    pub = publisher_for(settings)
    assert isinstance(pub, KubernetesPublisher)
    pub.kubeconfig = kubeconfig
    pub.prestop_seconds = 1
    pub.retry_delay = 0.02
    return pub


@pytest.fixture
async def publisher(settings, kubeconfig):
    pub = make_publisher(settings, kubeconfig)
    await pub.start()
    try:
        yield pub
    finally:
        await pub.stop()


@pytest.fixture
def repo(tmp_path):
    return StudentRepo(tmp_path, "alice")


def writes(cluster, kind: str) -> list:
    return [r for r in cluster.faults.requests if r[0] == "PATCH" and f"/{kind}/" in r[1]]


async def serves(settings, body: str, owner="alice", timeout=10.0) -> bool:
    """Does ``owner``'s host answer 200 ``body`` through the ingress (within ``timeout``)?"""

    async def answered():
        return await asyncio.to_thread(get_app, settings, owner) == (200, body)

    return await until(answered, timeout)


async def until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {predicate.__qualname__}")


async def test_publish_goes_live_through_the_ingress_with_three_applies(
    publisher, cluster, settings, repo
):
    commit = repo.commit(app_files("hello from alice"))
    app = await publisher.publish("alice", commit, str(repo.bare), wait=30)
    assert app["status"] == "live", app
    assert (app["owner"], app["slug"], app["commit"], app["serving"]) == (
        "alice",
        "alice",
        commit,
        commit,
    )
    assert app["url"] == f"http://alice.apps.test:{settings['apps']['port']}/"
    assert any("listening on 8080" in line for line in app["logs"])
    assert app["published_at"] and app["updated_at"] >= app["published_at"]
    # ingress controllers follow a pod's readiness within moments (ingress-nginx: ~1 s)
    assert await serves(settings, "hello from alice")
    assert [len(writes(cluster, k)) for k in ("deployments", "services", "ingresses")] == [1, 1, 1]
    assert all("fieldManager=imad-classroom" in r[1] for r in writes(cluster, "deployments"))
    for plural in ("deployments", "services", "ingresses", "pods"):
        objs = cluster.objects(plural, NAMESPACE)
        assert objs and all(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "imad" for o in objs
        )
        assert all(o["metadata"]["labels"]["imad/owner"] == "alice" for o in objs)


async def test_status_and_list_come_from_the_cache(publisher, cluster, repo):
    commit = repo.commit(app_files("cached"))
    await publisher.publish("alice", commit, str(repo.bare), wait=30)
    before = len(cluster.faults.requests)
    apps = await publisher.list_apps()
    assert [(a["owner"], a["status"], a["commit"]) for a in apps] == [("alice", "live", commit)]
    assert len(cluster.faults.requests) == before  # no API call for a list
    bob = await publisher.status("bob")
    assert bob["status"] == "unpublished" and bob["commit"] is None and bob["logs"] == []
    await publisher.status("alice")
    assert len(cluster.faults.requests) == before  # logs of the publish, reused for a moment
    publisher.log_cache_seconds = 0
    await publisher.status("alice")
    calls = cluster.faults.requests[before:]
    assert [c[0] for c in calls] == ["GET"] and "/log" in calls[0][1]  # only the pod log API


async def test_statuses_of_a_subset_from_the_cache(publisher, cluster, repo):
    commit = repo.commit(app_files("subset"))
    await publisher.publish("alice", commit, str(repo.bare), wait=30)
    before = len(cluster.faults.requests)
    apps = await publisher.statuses(["bob", "alice"])
    assert [(a["owner"], a["status"], a["commit"], a["logs"]) for a in apps] == [
        ("bob", "unpublished", None, []),
        ("alice", "live", commit, []),
    ]
    assert apps[1] == {**await publisher.status("alice", logs=False), "logs": []}
    assert apps[1]["url"] == (await publisher.list_apps())[0]["url"]
    assert await publisher.statuses([]) == []
    assert len(cluster.faults.requests) == before  # no API call, no log read


async def test_a_status_read_in_steady_state_makes_no_api_call(publisher, cluster, repo):
    commit = repo.commit(app_files("steady"))
    app = await publisher.publish("alice", commit, str(repo.bare), wait=30)
    assert app["status"] == "live" and any("listening on 8080" in x for x in app["logs"])
    before = len(cluster.faults.requests)
    for _ in range(5):  # the panel polling a live app: logs reused for log_cache_seconds
        again = await publisher.status("alice")
        assert again["status"] == "live" and again["logs"] == app["logs"]
    assert len(cluster.faults.requests) == before
    # the cache keeps trimmed objects: no pod spec, no managedFields, what status reads
    pod = next(iter(publisher._pods.objects.values()))
    dep = next(iter(publisher._deployments.objects.values()))
    assert set(pod) == {"metadata", "status"} and "managedFields" not in pod["metadata"]
    assert set(dep) == {"metadata", "spec", "status"} and set(dep["spec"]) <= {"replicas"}
    assert pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]


async def test_a_crash_loop_shows_its_logs_read_once_per_restart(publisher, cluster, repo):
    cluster.kubelet.backoff_base = cluster.kubelet.backoff_max = 30  # one crash, then waiting
    bad = repo.commit(app_files(server=CRASHING_SERVER))
    app = await publisher.publish("alice", bad, str(repo.bare), wait=30)
    assert app["status"] == "crashed"
    assert any("student bug: db is undefined" in line for line in app["logs"]), app["logs"]
    before = len(cluster.faults.requests)
    publisher.log_cache_seconds = 0  # only for running containers: this one is not
    for _ in range(3):
        again = await publisher.status("alice")
        assert (again["status"], again["logs"]) == ("crashed", app["logs"])
    assert len(cluster.faults.requests) == before  # its logs cannot change until it restarts
    (pod,) = publisher._pods.objects.values()
    assert "waiting" in pod["status"]["containerStatuses"][0]["state"]


async def test_republish_rolls_with_no_failed_request(publisher, cluster, settings, repo):
    v1 = repo.commit(app_files("version one"))
    assert (await publisher.publish("alice", v1, str(repo.bare), wait=30))["status"] == "live"
    assert await serves(settings, "version one")
    results, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                results.append(get_app(settings, "alice", timeout=5))
            except OSError as e:
                results.append((0, str(e)))
            time.sleep(0.01)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        v2 = repo.commit(app_files("version two"))
        app = await publisher.publish("alice", v2, str(repo.bare), wait=30)
        assert app["status"] == "live" and app["commit"] == v2
        await until(
            lambda: asyncio.to_thread(lambda: get_app(settings, "alice") == (200, "version two"))
        )
        old_pods_gone = lambda: asyncio.sleep(0, len(cluster.objects("pods", NAMESPACE)) == 1)  # noqa: E731
        await until(old_pods_gone)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(10)
    failed = [r for r in results if r[0] != 200]
    assert not failed, failed[:5]
    bodies = [b for _, b in results]
    assert "version one" in bodies and bodies[-1] == "version two" and len(results) > 20
    assert (
        bodies.index("version two") > 0
        and "version one" not in bodies[bodies.index("version two") :]
    )


async def test_crash_shows_crashed_with_logs_and_the_previous_version_keeps_serving(
    publisher, settings, repo
):
    v1 = repo.commit(app_files("stable"))
    await publisher.publish("alice", v1, str(repo.bare), wait=30)
    assert await serves(settings, "stable")
    bad = repo.commit(app_files(server=CRASHING_SERVER))
    app = await publisher.publish("alice", bad, str(repo.bare), wait=30)
    assert app["status"] == "crashed" and app["commit"] == bad and app["serving"] == v1, app
    assert any("student bug: db is undefined" in line for line in app["logs"]), app["logs"]
    assert await asyncio.to_thread(get_app, settings, "alice") == (200, "stable")
    again = await publisher.status("alice")
    assert again["status"] == "crashed"


async def test_crash_of_a_first_publish(publisher, repo):
    bad = repo.commit(app_files(server=CRASHING_SERVER))
    app = await publisher.publish("alice", bad, str(repo.bare), wait=30)
    assert (app["status"], app["serving"]) == ("crashed", None)
    assert any("student bug" in line for line in app["logs"])


async def test_unpublish_leaves_no_object_behind(publisher, cluster, settings, repo):
    commit = repo.commit(app_files("bye"))
    await publisher.publish("alice", commit, str(repo.bare), wait=30)
    app = await publisher.unpublish("alice", reason="test")
    assert (app["status"], app["commit"], app["logs"]) == ("unpublished", None, [])
    assert (await publisher.status("alice"))["status"] == "unpublished"
    assert await publisher.list_apps() == []

    async def nothing_left():
        kinds = ("deployments", "replicasets", "pods", "services", "ingresses")
        return not any(cluster.objects(k, NAMESPACE) for k in kinds)

    await until(nothing_left)
    status, _ = await asyncio.to_thread(get_app, settings, "alice")
    assert status == 404
    assert (await publisher.unpublish("alice"))["status"] == "unpublished"  # idempotent


async def test_a_500_and_a_409_on_apply_are_retried(publisher, cluster, repo):
    cluster.faults.fail("PATCH", "/deployments/", 500, times=2)
    cluster.faults.fail("PATCH", "/ingresses/", 409, times=1)
    commit = repo.commit(app_files("retried"))
    app = await publisher.publish("alice", commit, str(repo.bare), wait=30)
    assert app["status"] == "live"
    assert [len(writes(cluster, k)) for k in ("deployments", "services", "ingresses")] == [3, 1, 2]


async def test_an_apply_that_keeps_failing_is_a_502(publisher, cluster, repo):
    publisher.apply_tries = 3
    cluster.faults.fail("PATCH", "/deployments/", 503, times=100)
    with pytest.raises(UpstreamError) as e:
        await publisher.publish("alice", repo.commit(app_files("x")), str(repo.bare), wait=1)
    assert e.value.status == 502 and len(writes(cluster, "deployments")) == 3


async def test_a_dropped_watch_and_an_expired_version_are_recovered(
    publisher, cluster, settings, repo
):
    v1 = repo.commit(app_files("one"))
    await publisher.publish("alice", v1, str(repo.bare), wait=30)
    lists = publisher._deployments.relists
    cluster.call(cluster.store.compact)  # the resume will get 410 Gone
    assert cluster.call(cluster.faults.drop_watches) >= 2
    await until(
        lambda: asyncio.sleep(
            0, publisher._deployments.relists > lists and len(cluster.faults.watches) >= 2
        )
    )
    # changes made while the watch was down are seen
    v2 = repo.commit(app_files("two"))
    app = await publisher.publish("alice", v2, str(repo.bare), wait=30)
    assert (app["status"], app["commit"]) == ("live", v2)
    cluster.call(cluster.faults.drop_watches)
    await asyncio.sleep(0.3)
    assert (await publisher.status("alice"))["status"] == "live"
    assert await serves(settings, "two")


async def test_a_restarted_service_rebuilds_its_state_from_the_cluster(
    settings, kubeconfig, cluster, repo
):
    first = make_publisher(settings, kubeconfig)
    await first.start()
    commit = repo.commit(app_files("persistent"))
    published = await first.publish("alice", commit, str(repo.bare), wait=30)
    await first.stop()
    second = make_publisher(settings, kubeconfig)
    await second.start()
    try:
        app = await second.status("alice")
        assert (app["status"], app["commit"], app["published_at"]) == (
            "live",
            commit,
            published["published_at"],
        )
        assert [a["owner"] for a in await second.list_apps()] == ["alice"]
        await second.unpublish("alice")
    finally:
        await second.stop()


async def test_slow_pod_start_is_starting_until_ready(publisher, cluster, repo):
    cluster.kubelet.start_delay = 1.5
    commit = repo.commit(app_files("slow"))
    app = await publisher.publish("alice", commit, str(repo.bare), wait=0.3)
    assert (app["status"], app["commit"], app["serving"]) == ("starting", commit, None)

    async def live():
        return (await publisher.status("alice"))["status"] == "live"

    await until(live)
