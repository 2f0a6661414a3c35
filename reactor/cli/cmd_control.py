"""Placeholder until the command is built (issue 6)."""

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser, name: str = "") -> None:
    p.add_argument("rest", nargs="*")


def run(args: argparse.Namespace) -> int:
    print(f"bluegreen {args.command}: not built yet", file=sys.stderr)
    return 2
