"""Recorded real GitHub traffic (PyGithub's ``tests/ReplayData``), and shape checks.

A recording file holds requests, each as 10 lines (protocol, method, host, port, path,
request headers, request body, status, response headers, response body) and a blank
line. ``shape_mismatches(real, fake)`` lists where the fake's JSON lacks a key the real
one has, or has a different JSON type (``null`` matches anything: GitHub leaves many
fields empty).

Parts: ``Recording``, ``recordings``, ``find``, ``shape_mismatches``.
"""

import ast
import json
from dataclasses import dataclass
from pathlib import Path

REPLAY_DIR = Path(__file__).parent / "replaydata"


@dataclass
class Recording:
    method: str
    path: str
    status: int
    headers: dict
    body: object


def recordings(name: str) -> list[Recording]:
    lines = (REPLAY_DIR / name).read_text().split("\n")
    found = []
    i = 0
    while i + 9 < len(lines):
        headers = {k.lower(): v for k, v in ast.literal_eval(lines[i + 8])}
        raw = lines[i + 9]
        body = json.loads(raw) if raw.strip() else None
        found.append(Recording(lines[i + 1], lines[i + 4], int(lines[i + 7]), headers, body))
        i += 11
    return found


def find(name: str, method: str, path_end: str) -> Recording:
    for rec in recordings(name):
        if rec.method == method and rec.path.split("?")[0].endswith(path_end):
            return rec
    raise LookupError(f"{name}: no {method} ...{path_end}")


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def shape_mismatches(real, fake, where="") -> list[str]:
    if real is None or fake is None:
        return []
    if _kind(real) != _kind(fake):
        return [f"{where or '.'}: real {_kind(real)}, fake {_kind(fake)}"]
    problems = []
    if isinstance(real, dict):
        for key, value in real.items():
            if key not in fake:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_mismatches(value, fake[key], f"{where}.{key}")
    elif isinstance(real, list) and real and fake:
        problems += shape_mismatches(real[0], fake[0], f"{where}[0]")
    return problems
