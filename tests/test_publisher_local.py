"""LocalPublisher with real git, node, configurable-http-proxy and processes."""

import asyncio
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from imad_extension.errors import BadRequest
from imad_extension.publisher import AppStatus, publisher_for
from imad_extension.publisher.local import LocalPublisher
from imad_extension.publisher.logpipe import tail

from .publisher_helpers import StudentRepo, app_files, get_app, make_settings

pytestmark = pytest.mark.timeout(90)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NEVER_LISTENS = 'console.log("thinking..."); setInterval(() => {}, 1000);\n'
EXITS = 'console.log("about to fail"); console.error("Error: no database"); process.exit(3);\n'


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "state", start_timeout=3)


@pytest.fixture
async def publisher(settings):
    pub = publisher_for(settings)
    assert isinstance(pub, LocalPublisher)
    pub.drain_seconds = 0.5
    pub.monitor_interval = 0.2
    await pub.start()
    yield pub
    await pub.shutdown_all()


@pytest.fixture
def alice(tmp_path):
    return StudentRepo(tmp_path, "alice")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


async def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_publish_goes_live_fast_and_serves_the_commit(publisher, settings, alice):
    status, body = get_app(settings, "alice")
    assert status == 404 and "No app here" in body
    commit = alice.commit(app_files("hello from alice"))
    began = time.monotonic()
    app = await publisher.publish("alice", commit, str(alice.bare))
    took = time.monotonic() - began
    assert app["status"] == "live", app["logs"]
    assert took < 1.0, f"publish took {took:.2f} s"
    print(f"publish took {took:.3f} s")
    assert get_app(settings, "alice") == (200, "hello from alice")
    port = settings["apps"]["port"]
    assert app["owner"] == "alice" and app["slug"] == "alice"
    assert app["url"] == f"http://alice.apps.localhost:{port}/"
    assert app["commit"] == app["serving"] == commit
    assert ISO.match(app["published_at"]) and ISO.match(app["updated_at"])
    assert any("listening on" in line for line in app["logs"])
    assert await publisher.status("alice") == app
    listed = await publisher.list_apps()
    assert [a["owner"] for a in listed] == ["alice"]
    assert listed[0]["logs"] == [] and listed[0]["status"] == "live"
    assert (await publisher.status("bob"))["status"] == "unpublished"


async def test_publish_rejects_a_bad_commit(publisher, alice):
    with pytest.raises(BadRequest):
        await publisher.publish("alice", "main", str(alice.bare))
    with pytest.raises(BadRequest):
        await publisher.publish("Not A User", "a" * 40, str(alice.bare))


async def test_republish_under_load_fails_no_request(publisher, settings, alice):
    first = alice.commit(app_files("v1"))
    assert (await publisher.publish("alice", first, str(alice.bare)))["status"] == "live"
    old_pid = publisher._apps["alice"].serving.pid

    results = {"ok": 0, "v2": 0, "failed": []}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                status, body = get_app(settings, "alice", timeout=3)
            except OSError as e:
                results["failed"].append(repr(e))
                continue
            if status == 200 and body in ("v1", "v2"):
                results["ok"] += 1
                results["v2"] += body == "v2"
            else:
                results["failed"].append((status, body[:80]))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        await asyncio.sleep(0.3)
        second = alice.commit(app_files("v2"))
        began = time.monotonic()
        app = await publisher.publish("alice", second, str(alice.bare))
        assert app["status"] == "live", app["logs"]
        # until the old release is drained and stopped
        await wait_for(lambda: not pid_alive(old_pid), timeout=10)
        await asyncio.sleep(0.3)
        elapsed = time.monotonic() - began + 0.3
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert results["failed"] == []
    rate = results["ok"] / (elapsed + 0.3)
    print(f"{results['ok']} requests at {rate:.0f}/s during the republish, none failed")
    assert rate >= 50, f"only {rate:.0f} requests/s"
    assert results["v2"] > 0
    assert get_app(settings, "alice") == (200, "v2")
    # the replaced release's folder is gone
    assert not any(p.name.startswith("1-") for p in (publisher.root / "alice").iterdir())


async def test_unpublish_shows_no_app_here(publisher, settings, alice):
    commit = alice.commit(app_files("bye"))
    await publisher.publish("alice", commit, str(alice.bare))
    pid = publisher._apps["alice"].serving.pid
    app = await publisher.unpublish("alice", reason="test")
    assert app["status"] == "unpublished" and app["commit"] is None and app["logs"] == []
    status, body = get_app(settings, "alice")
    assert status == 404 and "No app here" in body
    await wait_for(lambda: not pid_alive(pid))
    assert (await publisher.status("alice"))["status"] == "unpublished"
    assert await publisher.list_apps() == []
    # unpublishing again is fine
    assert (await publisher.unpublish("alice"))["status"] == "unpublished"


async def test_publish_right_after_unpublish_goes_live(publisher, settings, alice):
    commit = alice.commit(app_files("again"))
    await publisher.publish("alice", commit, str(alice.bare))
    await publisher.unpublish("alice")
    # the unpublished release is still being removed in the background
    app = await publisher.publish("alice", commit, str(alice.bare))
    assert app["status"] == "live", app
    await asyncio.sleep(publisher.stop_grace + 0.5)  # past the old release's removal
    status, body = get_app(settings, "alice")
    assert status == 200 and "again" in body
    assert (await publisher.status("alice"))["status"] == "live"


async def test_app_exiting_on_start_crashes_alone(publisher, settings, alice, tmp_path):
    bob = StudentRepo(tmp_path, "bob")
    await publisher.publish("bob", bob.commit(app_files("bob is fine")), str(bob.bare))

    commit = alice.commit(app_files(server=EXITS))
    app = await publisher.publish("alice", commit, str(alice.bare))
    assert app["status"] == "crashed"
    assert app["commit"] == commit and app["serving"] is None
    text = "\n".join(app["logs"])
    assert "Error: no database" in text
    assert "exited with code 3" in app["logs"][-1]
    status, body = get_app(settings, "alice")
    assert status == 503 and "This app is not running" in body
    # nothing else is affected
    assert get_app(settings, "bob") == (200, "bob is fine")
    assert (await publisher.status("bob"))["status"] == "live"


async def test_app_never_listening_crashes_after_the_timeout_then_a_fix_goes_live(
    publisher, settings, alice
):
    publisher.start_timeout = 1.5
    commit = alice.commit(app_files(server=NEVER_LISTENS))
    began = time.monotonic()
    app = await publisher.publish("alice", commit, str(alice.bare))
    took = time.monotonic() - began
    assert app["status"] == "crashed"
    assert 1.4 < took < 5, took
    assert "thinking..." in app["logs"]
    assert "did not answer HTTP" in app["logs"][-1]
    pid = publisher._apps["alice"].release.pid
    assert not pid_alive(pid)

    fixed = alice.commit(app_files("fixed"))
    app = await publisher.publish("alice", fixed, str(alice.bare))
    assert app["status"] == "live" and app["commit"] == fixed
    assert get_app(settings, "alice") == (200, "fixed")


async def test_failed_republish_keeps_the_previous_version_serving(publisher, settings, alice):
    good = alice.commit(app_files("good"))
    await publisher.publish("alice", good, str(alice.bare))
    bad = alice.commit(app_files(server=EXITS))
    app = await publisher.publish("alice", bad, str(alice.bare))
    assert app["status"] == "crashed"
    assert app["commit"] == bad and app["serving"] == good
    assert get_app(settings, "alice") == (200, "good")


async def test_wait_zero_answers_starting(publisher, alice):
    commit = alice.commit(app_files("slow"))
    app = await publisher.publish("alice", commit, str(alice.bare), wait=0)
    assert app["status"] in ("unpublished", "starting", "live")
    await wait_for(lambda: publisher._apps["alice"].status == "live")


async def test_unpublish_cuts_a_starting_publish_short(publisher, settings, alice):
    commit = alice.commit(app_files(server=NEVER_LISTENS))
    publishing = asyncio.create_task(publisher.publish("alice", commit, str(alice.bare)))
    await wait_for(lambda: "alice" in publisher._apps and publisher._apps["alice"].release.pid)
    pid = publisher._apps["alice"].release.pid
    began = time.monotonic()
    app = await publisher.unpublish("alice")
    assert time.monotonic() - began < 2
    assert app["status"] == "unpublished"
    assert (await publishing)["status"] == "unpublished"
    await wait_for(lambda: not pid_alive(pid))
    status, body = get_app(settings, "alice")
    assert status == 404 and "No app here" in body


async def test_app_dying_later_is_crashed(publisher, settings, alice):
    commit = alice.commit(app_files("short-lived"))
    await publisher.publish("alice", commit, str(alice.bare))
    os.kill(publisher._apps["alice"].serving.pid, signal.SIGKILL)
    await wait_for(lambda: publisher._apps["alice"].status == AppStatus.CRASHED)
    app = await publisher.status("alice")
    assert app["status"] == "crashed" and app["serving"] is None
    assert "not running" in app["logs"][-1]
    status, body = get_app(settings, "alice")
    assert status == 503 and "This app is not running" in body


async def test_logs_stay_bounded(tmp_path, alice):
    settings = make_settings(tmp_path / "state", log_max_bytes=16384, log_lines=50)
    publisher = LocalPublisher(settings)
    await publisher.start()
    try:
        chatty = (
            'const http = require("http");\n'
            'for (let i = 0; i < 20000; i++) console.log("line " + i + " " + "x".repeat(40));\n'
            'http.createServer((q, s) => s.end("chatty")).listen(Number(process.env.PORT),'
            ' () => console.log("done talking"));\n'
        )
        app = await publisher.publish(
            "alice", alice.commit(app_files(server=chatty)), str(alice.bare)
        )
        assert app["status"] == "live"
        log = Path(publisher._apps["alice"].release.log_path)
        await wait_for(lambda: tail(log, 1) == ["done talking"])
        total = log.stat().st_size + Path(f"{log}.1").stat().st_size
        assert total <= 16384
        logs = (await publisher.status("alice"))["logs"]
        assert len(logs) == 50
        assert logs[-1] == "done talking"
        assert logs[-2].startswith("line 19999 ")
    finally:
        await publisher.shutdown_all()


async def test_apps_survive_a_restart_of_the_publisher(tmp_path, settings, alice):
    bob = StudentRepo(tmp_path, "bob")
    first = second = LocalPublisher(settings)
    await first.start()
    try:
        a = alice.commit(app_files("alice survives"))
        b = bob.commit(app_files("bob comes back"))
        await first.publish("alice", a, str(alice.bare))
        await first.publish("bob", b, str(bob.bare))
        alice_pid = first._apps["alice"].serving.pid
        bob_pid = first._apps["bob"].serving.pid
        proxy_pid = first._proxy_record["pid"]
        await first.stop()
        # the service is gone: apps keep serving
        assert get_app(settings, "alice") == (200, "alice survives")
        # bob's app dies while nobody watches (e.g. a reboot)
        os.killpg(bob_pid, signal.SIGKILL)
        await wait_for(lambda: not pid_alive(bob_pid))

        second = LocalPublisher(settings)
        await second.start()
        assert second._proxy_record["pid"] == proxy_pid  # adopted, not restarted
        app = await second.status("alice")
        assert app["status"] == "live" and app["commit"] == a
        assert second._apps["alice"].serving.pid == alice_pid
        assert get_app(settings, "alice") == (200, "alice survives")
        app = await second.status("bob")
        assert app["status"] == "live" and app["commit"] == b
        assert second._apps["bob"].serving.pid != bob_pid
        assert get_app(settings, "bob") == (200, "bob comes back")
        # the adopted app is still watched
        os.kill(alice_pid, signal.SIGKILL)
        await wait_for(lambda: second._apps["alice"].status == "crashed")
        # and can be replaced
        c = alice.commit(app_files("alice again"))
        assert (await second.publish("alice", c, str(alice.bare)))["status"] == "live"
        assert get_app(settings, "alice") == (200, "alice again")
    finally:
        await second.shutdown_all()


async def test_proxy_restart_gets_its_routes_back(publisher, settings, alice):
    await publisher.publish("alice", alice.commit(app_files("routed")), str(alice.bare))
    await publisher.stop()
    os.killpg(publisher._proxy_record["pid"], signal.SIGKILL)
    again = LocalPublisher(settings)
    await again.start()
    try:
        assert get_app(settings, "alice") == (200, "routed")
    finally:
        await again.shutdown_all()
