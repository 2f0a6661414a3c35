"""`bluegreen config check PATH`: validate a config file, list every problem with its key path."""

from __future__ import annotations

import argparse
import json
import sys

from reactor.cli.exitcodes import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = "example:\n  bluegreen config check config/reactor.toml"
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a config file", epilog=p.epilog,
                           description="Validate a config file; print every problem with its key path "
                           "(exit 2), else 'PATH: ok'.",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("path", help="TOML config file")
    check.add_argument("--json", action="store_true", help='print {"path", "ok", "problems": [...]}')


def run(args: argparse.Namespace) -> int:
    from reactor.cli.common import problem_text
    from reactor.settings import ConfigError, load_settings

    try:
        load_settings(args.path)
    except ConfigError as exc:
        if getattr(args, "json", False):
            problems = [{"key": path, "problem": problem_text(msg)} for path, msg in exc.problems]
            print(json.dumps({"path": args.path, "ok": False, "problems": problems}, indent=2))
            return Exit.BAD_INPUT
        print(f"bluegreen: {args.path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for path, msg in exc.problems:
            print(f"  {path}: {problem_text(msg)}", file=sys.stderr)
        return Exit.BAD_INPUT
    if getattr(args, "json", False):
        print(json.dumps({"path": args.path, "ok": True, "problems": []}, indent=2))
    else:
        print(f"{args.path}: ok")
    return Exit.DONE
