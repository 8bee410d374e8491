"""Every benchmark in quick mode (few runs, small sizes), so none can rot.

These check that each benchmark runs and produces its numbers and the table, never how
fast anything is: speed targets are proven by ``make bench`` (docs/benchmarks.md), which
prints the numbers, not by timed assertions here.
"""

import math
import subprocess
import sys

import pytest

from benchmarks.__main__ import load
from benchmarks.context import Context
from benchmarks.report import ROOT, Row, Section, machine_info, render_markdown, render_text

pytestmark = [pytest.mark.bench, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def ctx():
    context = Context(quick=True)
    yield context
    context.close()


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 6], ids=lambda n: f"benchmark-{n}")
def test_benchmark_runs_in_quick_mode(ctx, number):
    (module,) = load({number})
    section = module.run(ctx)
    assert isinstance(section, Section) and not section.error, section.error
    assert section.number == number and section.rows
    for row in section.rows:
        assert row.values, f"{row.metric}: no values"
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in row.values), row
    text = render_text([section], machine_info(), quick=True)
    assert all(f"{number}. {row.metric}" in text for row in section.rows)
    targets = [row for row in section.rows if row.target]
    assert targets or any(row.baseline for row in section.rows), "no target and no baseline"
    assert all(row.met in (True, False) for row in targets)


def test_table_shows_median_range_target_and_missed():
    rows = [
        Row("publish", [0.2, 0.25, 0.4], "s", ("<=", 0.3), baseline="Replit 60–120 s"),
        Row("failed requests", [2], "count", ("==", 0), target_on="sum"),
    ]
    section = Section(1, "Example", rows, details="Where the time goes.")
    text = render_text([section], machine_info(), quick=False)
    assert "0.25 s" in text and "0.2–0.4" in text and "≤ 0.3 s" in text and "met" in text
    assert "MISSED" in text  # a missed target is shown, not hidden
    md = render_markdown([section], machine_info(), False, "python -m benchmarks")
    assert "| metric | median | min–max | runs | target | met | baseline | notes |" in md
    assert (
        "## Machine" in md and "cpu" in md and "jupyterhub" in md and "Where the time goes." in md
    )


def test_command_writes_the_table(tmp_path):
    out = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "4", "--write", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4. API writes per publish" in proc.stdout
    assert "| 4. API writes per publish |" in out.read_text()
