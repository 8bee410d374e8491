"""The ``imad`` command line: ``python -m imad_extension.cli <command>``.

Commands:
- ``banner``: print how to reach the classroom (hub URL, users, password).
"""

import argparse
import sys

from .roster import Roster
from .settings import app_url, ensure_password, load_settings


def banner(settings: dict) -> str:
    roster = Roster.from_settings(settings)
    hub = settings["hub"]
    url = hub["public_url"] or f"http://{hub['ip']}:{hub['port']}{hub['base_url']}"
    lines = [
        "",
        "IMAD Classroom (local mode)",
        f"  Hub:          {url}",
        f"  State:        {settings['state_dir']}  (delete it to reset the classroom)",
    ]
    if settings["auth"]["kind"] == "shared-password":
        lines.append(f"  Password:     {ensure_password(settings)}  (same for every user)")
    for name, cohort in sorted(roster.cohorts.items()):
        lines.append(f"  Cohort {name}:  students {', '.join(cohort.students) or '-'}")
        lines.append(f"  {'':{len(name) + 8}}  TAs {', '.join(cohort.tas) or '-'}")
    lines.append(f"  Instructors:  {', '.join(roster.instructors) or '-'}")
    if roster.students:
        lines.append(f"  Apps:         e.g. {app_url(settings, roster.students[0])}")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="imad", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("banner", help="print the hub URL, the users and the password")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "banner":
        print(banner(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
