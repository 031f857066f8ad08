"""The ``fraudwatch`` command line.

Each subcommand is a module in :mod:`fraudwatch.commands` exposing ``add_parser`` and
``run``; user errors raise :class:`UserError` and end with a one-line reason and exit
code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fraudwatch import __version__
from fraudwatch.errors import UserError

COMMANDS = ("demo", "replay", "records", "simulate", "evaluate", "report", "inspect", "serve")


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="fraudwatch",
        description="Telecom fraud-device and call-pattern anomaly detector.")
    parser.add_argument("--version", action="version", version=f"fraudwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"fraudwatch.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"fraudwatch.commands.{name}":
                continue  # command not built in this version
            raise
        module.add_parser(sub)
        modules[name] = module
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except UserError as e:
        print(f"fraudwatch {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fraudwatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
