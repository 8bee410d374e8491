"""``python -m benchmarks``: run the benchmarks, print the table, optionally write it.

Options: ``--quick`` (few runs, small sizes), ``--only N`` (repeatable, or ``1,3``),
``--write PATH`` (Markdown with the machine info and details, e.g. docs/benchmarks.md),
``--json PATH`` (the raw values), ``--keep`` (keep the scratch folder).
Exit status 0 when every benchmark produced its numbers (a missed target is reported,
not an error), 1 when one failed to run.
"""

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from .context import Context
from .report import Section, machine_info, render_markdown, render_text

MODULES = [
    "b1_publish",
    "b2_republish_load",
    "b3_commit",
    "b4_k8s_scale",
    "b5_dashboard",
    "b6_login",
]


def load(numbers=None):
    """The benchmark modules to run (``numbers``: only those), in order."""
    return [
        importlib.import_module(f"benchmarks.{name}")
        for i, name in enumerate(MODULES, 1)
        if not numbers or i in numbers
    ]


def run_all(quick: bool, numbers=None, keep: bool = False, progress=print) -> list[Section]:
    sections = []
    ctx = Context(quick=quick, keep=keep)
    try:
        for mod in load(numbers):
            progress(f"[bench] {mod.NUMBER}. {mod.TITLE}{' (quick)' if quick else ''} ...")
            began = time.monotonic()
            try:
                section = mod.run(ctx)
            except Exception:
                section = Section(mod.NUMBER, mod.TITLE, error=traceback.format_exc())
                progress(section.error)
            section.seconds = time.monotonic() - began
            progress(f"[bench] {mod.NUMBER} done in {section.seconds:.0f} s")
            sections.append(section)
    finally:
        ctx.close()
    return sections


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="few runs, small sizes (what the tests run)"
    )
    parser.add_argument(
        "--only", action="append", default=[], help="benchmark number(s) to run, e.g. 1 or 1,3"
    )
    parser.add_argument("--write", metavar="PATH", help="write the table and details as Markdown")
    parser.add_argument("--json", metavar="PATH", help="write the raw values as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    args = parser.parse_args(argv)
    numbers = {int(n) for arg in args.only for n in arg.split(",") if n.strip()}
    machine = machine_info()
    sections = run_all(
        args.quick, numbers, args.keep, progress=lambda m: print(m, file=sys.stderr, flush=True)
    )
    print(render_text(sections, machine, args.quick))
    if args.write:
        command = (
            "python -m benchmarks"
            + (" --quick" if args.quick else "")
            + (f" --only {','.join(map(str, sorted(numbers)))}" if numbers else "")
            + f" --write {args.write}"
        )
        Path(args.write).write_text(render_markdown(sections, machine, args.quick, command))
        print(f"\nwrote {args.write}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "quick": args.quick, "sections": [
            {"number": s.number, "title": s.title, "error": s.error, "seconds": s.seconds,
             "rows": [r.to_json() for r in s.rows]} for s in sections]}, indent=1))  # fmt: skip
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
