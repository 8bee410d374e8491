"""2. Republish under load: a client polls the app (≥ 50 requests/s, keep-alive) while the
student republishes 20 times; every request must succeed. Reports failed requests (target
0), the latency p50/p99/max, the request rate reached and each republish's duration.

A failed request is any answer other than 200 or no answer at all (timeout 5 s). The
client keeps its connection alive, like a browser; when the proxy has closed an idle
kept-alive connection the client reconnects once (as browsers do for a GET) and that is
counted as a reconnect, not hidden.
"""

import threading
import time
import uuid

from .common import AppClient
from .report import Row, Section, percentile

NUMBER = 2
TITLE = "Republish under load (client polling the app)"
RATE = 100.0  # requests per second the poller aims at (target: at least 50)


class Poller(threading.Thread):
    def __init__(self, room, user, rate: float):
        super().__init__(daemon=True)
        self.client = AppClient(room, user, timeout=5)
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.bodies: set[str] = set()
        self.began = self.ended = 0.0

    def run(self):
        self.began = time.monotonic()
        next_at = self.began
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                status, body = self.client.get("/")
                if status == 200:
                    self.latencies.append(time.perf_counter() - t)
                    self.bodies.add(body[-200:])
                else:
                    self.failures.append(f"HTTP {status}")
            except OSError as e:
                self.failures.append(repr(e))
                self.client.close()
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
        self.ended = time.monotonic()
        self.client.close()


def run(ctx) -> Section:
    room, alice = ctx.shared_room()
    republishes = 3 if ctx.quick else 20
    original = alice.read("public/index.html")
    alice.write("public/index.html", original.replace("</body>", "<p>before</p></body>"))
    r = alice.api("POST", "publish", json={"message": "Before the load test"})
    if r.json().get("status") != "live":
        raise RuntimeError(f"first publish: {r.text[:300]}")
    poller = Poller(room, "alice", RATE)
    poller.start()
    time.sleep(1.0)
    durations, statuses = [], []
    try:
        for i in range(republishes):
            marker = f"load-{i}-{uuid.uuid4().hex[:6]}"
            alice.write("public/index.html", original.replace("</body>", f"<p>{marker}</p></body>"))
            began = time.monotonic()
            r = alice.api("POST", "publish", json={"message": f"Republish {i}"})
            durations.append(time.monotonic() - began)
            statuses.append(r.json().get("status") if r.status_code == 200 else r.status_code)
        time.sleep(2.0)  # the last replaced release drains (drain_seconds) and stops
    finally:
        poller.stop.set()
        poller.join(10)
        alice.write("public/index.html", original)
    if any(s != "live" for s in statuses):
        raise RuntimeError(f"a republish did not go live: {statuses}")
    total = len(poller.latencies) + len(poller.failures)
    rate = total / max(poller.ended - poller.began, 1e-9)
    lat_ms = [x * 1000 for x in poller.latencies]
    versions = sum(1 for b in poller.bodies if "load-" in b)
    rows = [
        Row(
            "failed requests during republishes",
            [len(poller.failures)],
            "count",
            ("==", 0),
            target_on="sum",
            notes=f"{republishes} republishes, {total} requests"
            + (f"; {', '.join(sorted(set(poller.failures)))[:120]}" if poller.failures else ""),
        ),
        Row("request rate reached", [rate], "req/s", (">=", 50), digits=3),
        Row("request latency p50", [percentile(lat_ms, 50)], "ms"),
        Row(
            "request latency p99",
            [percentile(lat_ms, 99)],
            "ms",
            notes="through the apps proxy, keep-alive",
        ),
        Row("request latency max", [max(lat_ms) if lat_ms else float("nan")], "ms"),
        Row("republish duration (POST publish answered)", durations, "s"),
        Row(
            "kept-alive connections reopened",
            [poller.client.reconnects],
            "count",
            notes="the proxy closed an idle connection; the GET was retried once",
        ),
    ]
    details = (
        f"{republishes} republishes while one client polled the app at about {rate:.0f} requests/s "
        f"({total} requests; {versions} of the {republishes} new versions were seen by the client). "
        f"{len(poller.failures)} requests failed"
        + (f": {sorted(set(poller.failures))}" if poller.failures else "")
        + ". Latency percentiles are over the successful requests, measured by the client "
        "(includes the apps proxy, configurable-http-proxy with host routing)."
    )
    return Section(NUMBER, TITLE, rows, details)
