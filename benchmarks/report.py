"""The benchmarks' results table: rows, statistics, machine info, text and Markdown.

A benchmark answers ``Row``s: one measured quantity each, its values over the runs,
and optionally a target (checked on the median unless the row says which statistic)
and a baseline (a number measured the other way, or a named reference). ``render_text``
prints the table for a terminal; ``render_markdown`` writes docs/benchmarks.md with the
machine it ran on and each benchmark's details (breakdowns, causes of missed targets).

Parts: ``Row``, ``Section``, ``percentile``, ``machine_info``, ``render_text``,
``render_markdown``.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPS = {"<=": lambda v, t: v <= t, ">=": lambda v, t: v >= t, "==": lambda v, t: v == t}
SYMBOL = {"<=": "≤", ">=": "≥", "==": "="}


def percentile(values, p: float) -> float:
    """The ``p``-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class Row:
    """One metric: ``values`` over the runs, in ``unit``.

    ``target``: ``(op, threshold)`` with op ``<=``, ``>=`` or ``==``, checked on
    ``target_on`` (``median``, ``max``, ``min``, ``p99``, ``sum``). ``baseline``: text
    (e.g. "one by one: 1.20 s"). ``notes``: short text for the table.
    """

    metric: str
    values: list[float]
    unit: str = "s"
    target: tuple[str, float] | None = None
    target_on: str = "median"
    baseline: str = ""
    notes: str = ""
    digits: int = 3

    @property
    def runs(self) -> int:
        return len(self.values)

    def stat(self, name: str) -> float:
        if not self.values:
            return float("nan")
        if name == "median":
            return statistics.median(self.values)
        if name == "max":
            return max(self.values)
        if name == "min":
            return min(self.values)
        if name == "sum":
            return sum(self.values)
        if name.startswith("p"):
            return percentile(self.values, float(name[1:]))
        raise ValueError(name)

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.values:
            return None
        op, threshold = self.target
        return OPS[op](self.stat(self.target_on), threshold)

    def fmt(self, v: float) -> str:
        if v != v:  # NaN
            return "n/a"
        if self.unit in ("count", "req", "apps"):
            return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        return (
            f"{v:.{self.digits}g}"
            if abs(v) < 1
            else f"{v:.{max(self.digits - 1, 2)}f}".rstrip("0").rstrip(".")
        )

    def with_unit(self, v: float) -> str:
        text = self.fmt(v)
        return text if self.unit in ("", "count") else f"{text} {self.unit}"

    def cells(self) -> dict:
        if self.values:
            median = self.with_unit(self.stat("median"))
            span = f"{self.fmt(min(self.values))}–{self.fmt(max(self.values))}"
        else:
            median, span = "n/a", "n/a"
        target = ""
        if self.target:
            op, threshold = self.target
            on = "" if self.target_on == "median" else f" ({self.target_on})"
            target = f"{SYMBOL[op]} {self.with_unit(threshold)}{on}"
        met = {None: "", True: "met", False: "MISSED"}[self.met]
        if self.target and not self.values:
            met = "not run"
        return {
            "metric": self.metric,
            "median": median,
            "min–max": span,
            "runs": str(self.runs),
            "target": target,
            "met": met,
            "baseline": self.baseline,
            "notes": self.notes,
        }

    def to_json(self) -> dict:
        return {**self.cells(), "values": self.values, "unit": self.unit}


@dataclass
class Section:
    """What one benchmark answers: its rows and a Markdown paragraph of details."""

    number: int
    title: str
    rows: list[Row] = field(default_factory=list)
    details: str = ""
    error: str = ""
    seconds: float = 0.0


COLUMNS = ("metric", "median", "min–max", "runs", "target", "met", "baseline", "notes")


def _run(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:  # pragma: no cover
        memory = "?"
    try:
        import jupyterhub

        hub = jupyterhub.__version__
    except ImportError:  # pragma: no cover
        hub = "?"
    try:
        chp = json.loads((ROOT / "node_modules/configurable-http-proxy/package.json").read_text())[
            "version"
        ]
    except (OSError, ValueError, KeyError):
        chp = "?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "load average at start": " ".join(f"{x:.2f}" for x in load),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": _run(["node", "--version"]),
        "jupyterhub": hub,
        "configurable-http-proxy": chp,
        "git": _run(["git", "--version"]).replace("git version ", ""),
        "checkout": _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "python executable": sys.executable,
    }


def _table(rows: list[dict], columns=COLUMNS, markdown=False) -> str:
    if markdown:
        out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        for r in rows:
            out.append("| " + " | ".join(r[c].replace("|", "\\|") for c in columns) + " |")
        return "\n".join(out)
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) if rows else len(c) for c in columns}
    widths["notes"] = len("notes")  # notes last and unpadded
    line = lambda r: "  ".join(r[c].ljust(widths[c]) for c in columns).rstrip()  # noqa: E731
    out = [line({c: c for c in columns}), "  ".join("-" * widths[c] for c in columns)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _section_rows(sections: list[Section]) -> list[dict]:
    rows = []
    for s in sections:
        if s.error and not s.rows:
            rows.append(
                {c: "" for c in COLUMNS}
                | {
                    "metric": f"{s.number}. {s.title}",
                    "met": "FAILED",
                    "notes": s.error.splitlines()[0][:160],
                }
            )
        for r in s.rows:
            cells = r.cells()
            cells["metric"] = f"{s.number}. {cells['metric']}"
            rows.append(cells)
    return rows


def render_text(sections: list[Section], machine: dict, quick: bool) -> str:
    head = f"IMAD Classroom benchmarks{' (quick mode)' if quick else ''} — {machine['cpu']}, {machine['cores']} cores, {machine['memory']}"
    return head + "\n\n" + _table(_section_rows(sections))


def render_markdown(sections: list[Section], machine: dict, quick: bool, command: str) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` (`make bench`){' in quick mode: small sizes, few runs' if quick else ''}.",
        "Each benchmark starts what it measures (a real local classroom, a fake Kubernetes",
        "cluster) on free loopback ports and stops it afterwards. Speed targets are checked",
        "here, on the median unless the target says which statistic; the tests only run each",
        "benchmark in quick mode (`tests/test_benchmarks_quick.py`) so it cannot rot.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in machine.items()]
    out += ["", "## Results", "", _table(_section_rows(sections), markdown=True), ""]
    for s in sections:
        out += [f"## {s.number}. {s.title}", ""]
        if s.error:
            out += ["**The benchmark failed:**", "", "```", s.error.strip()[-3000:], "```", ""]
        if s.details:
            out += [s.details.strip(), ""]
        out += [f"_Took {s.seconds:.0f} s._", ""]
    return "\n".join(out)
