"""Command line of the answers: check them, render one, list or revert a shop's versions.

python -m bot.answers check
python -m bot.answers render <shop> <response> <fr|en>
python -m bot.answers render <shop> <part> <fr|en> [name=value ...]
python -m bot.answers history <shop>
python -m bot.answers revert <shop> <version>
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.answers.editing import EditRefused, check_all, history, revert
from bot.answers.library import PART_PREFIX, render, render_part
from bot.errors import ConfigurationError


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns the exit code (1 when a check finds problems)."""
    parser = argparse.ArgumentParser(prog="python -m bot.answers")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check every shop's texts and facts")
    one = sub.add_parser("render", help="print one text as the customer reads it")
    one.add_argument("shop")
    one.add_argument("response")
    one.add_argument("language", choices=["fr", "en"])
    one.add_argument("values", nargs="*", help="a part's values, name=value")
    past = sub.add_parser("history", help="the former versions of a shop's files")
    past.add_argument("shop")
    back = sub.add_parser("revert", help="put a former version back (checked first)")
    back.add_argument("shop")
    back.add_argument("version")
    args = parser.parse_args(argv)

    if args.command == "check":
        problems = check_all()
        for shop, found in problems.items():
            print(f"{shop}: {'ok' if not found else f'{len(found)} problem(s)'}")
            for problem in found:
                print(f"  - {problem}")
        return 1 if any(problems.values()) else 0
    try:
        if args.command == "render":
            values = dict(value.partition("=")[::2] for value in args.values)
            if args.response.startswith(PART_PREFIX):
                print(render_part(args.response, args.shop, args.language, values))
            else:
                print(render(args.response, args.shop, args.language, values))
        elif args.command == "history":
            for version in history(args.shop):
                print(f"{version.id}  {version.kind}  {version.saved_at:%Y-%m-%d %H:%M:%S} UTC")
        elif args.command == "revert":
            revert(args.shop, args.version)
            print(f"{args.shop}: {args.version} is back (live on the next turn)")
    except EditRefused as exc:
        print("refused:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    except (ConfigurationError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
