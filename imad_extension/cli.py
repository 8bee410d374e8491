"""The ``imad`` command line: ``imad <command>`` or ``python -m imad_extension <command>``.

Commands:
- ``banner``: print how to reach the classroom (hub URL, users, password).
- ``roster check FILE``: check a roster CSV; print every bad row with its line number.
- ``roster import FILE [--dry-run] [--prune]``: apply a roster CSV to the running hub
  through its REST API (token: ``--token`` or ``$JUPYTERHUB_API_TOKEN``, an instructor's),
  print what changed; with a bad row, print them all and change nothing. In local mode
  the roster is also saved where the hub reads it at its next start.

Exit status: 0 done, 1 bad roster or hub error, 2 usage.
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from .errors import ImadError
from .roster import Roster, saved_roster_path
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


def default_hub_api_url(settings: dict) -> str:
    hub = settings["hub"]
    public = hub["public_url"] or f"http://{hub['ip']}:{hub['port']}{hub['base_url']}"
    return public.rstrip("/") + "/hub/api/"


def roster_check(path: str) -> int:
    from .roster_csv import read_roster_csv

    roster = read_roster_csv(path)
    print(
        f"{path}: OK: {len(roster.cohorts)} cohort(s), {len(roster.students)} student(s),"
        f" {len(roster.tas)} TA(s)"
    )
    for name, cohort in roster.cohorts.items():
        print(f"  {name}: {len(cohort.students)} student(s), TAs: {', '.join(cohort.tas) or '-'}")
    return 0


async def roster_import(settings: dict, args) -> int:
    from .audit import record
    from .roster_csv import read_roster_csv
    from .roster_sync import HubAPI, save_roster, sync_roster

    roster = read_roster_csv(args.file)  # all rows checked before anything changes
    token = args.token or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        print("imad roster import: a hub token is needed: --token or $JUPYTERHUB_API_TOKEN"
              " (an instructor's, from the hub's Token page)", file=sys.stderr)  # fmt: skip
        return 2
    hub = HubAPI(args.hub_url or default_hub_api_url(settings), token)
    me = await hub.request("GET", "user")
    result = await sync_roster(
        hub,
        roster,
        dry_run=args.dry_run,
        prune=args.prune,
        protect=set(settings["roster"]["instructors"]) | {me["name"]},
    )
    roster.instructors = list(settings["roster"]["instructors"])
    if not args.dry_run and settings["mode"] == "local" and not args.no_save:
        target = saved_roster_path(settings)
        if Path(target).resolve() != Path(args.file).resolve():
            result.saved_to = save_roster(roster, target)
        if result.changed:
            record(settings, me["name"], "roster-import", None, source="cli",
                   summary=result.lines()[:50])  # fmt: skip
    for line in result.lines():
        print(line)
    if result.saved_to:
        print(f"saved to {result.saved_to} (the hub loads it at its next start)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="imad", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("banner", help="print the hub URL, the users and the password")
    roster = sub.add_parser("roster", help="check or import a roster CSV")
    roster_sub = roster.add_subparsers(dest="roster_command", required=True)
    check = roster_sub.add_parser("check", help="check a roster CSV (nothing is changed)")
    check.add_argument("file")
    imp = roster_sub.add_parser("import", help="apply a roster CSV to the running hub")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="only print what would change")
    imp.add_argument("--prune", action="store_true", help="delete hub users who left the roster")
    imp.add_argument("--token", default="", help="hub API token (default $JUPYTERHUB_API_TOKEN)")
    imp.add_argument("--hub-url", default="", help="the hub API URL, e.g. http://hub/hub/api/")
    imp.add_argument("--no-save", action="store_true", help="do not save the roster for restarts")
    args = parser.parse_args(argv)
    try:
        if args.command == "roster" and args.roster_command == "check":
            return roster_check(args.file)
        settings = load_settings()
        if args.command == "banner":
            print(banner(settings))
        elif args.command == "roster":
            return asyncio.run(roster_import(settings, args))
    except ImadError as e:
        print(f"imad: {e.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
