"""`bluegreen config check PATH`: validate a config file, list every problem with its key path."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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
        problems = _refusals_of_run(load_settings(args.path))
    except ConfigError as exc:
        problems = exc.problems
    if problems:
        if getattr(args, "json", False):
            out = [{"key": path, "problem": problem_text(msg)} for path, msg in problems]
            print(json.dumps({"path": args.path, "ok": False, "problems": out}, indent=2))
            return Exit.BAD_INPUT
        print(f"bluegreen: {args.path}: {len(problems)} problem(s)", file=sys.stderr)
        for path, msg in problems:
            print(f"  {path}: {problem_text(msg)}", file=sys.stderr)
        return Exit.BAD_INPUT
    if getattr(args, "json", False):
        print(json.dumps({"path": args.path, "ok": True, "problems": []}, indent=2))
    else:
        print(f"{args.path}: ok")
    return Exit.DONE


def _refusals_of_run(settings: object) -> list[tuple[str, str]]:
    """What `run` would refuse beyond the schema: the LB command, the hook modules, TLS files,
    the DC/OS service account's key. (The API port being free is not checked: the daemon being
    checked may be the one using it.)"""
    from reactor.adapters.marathon.configured import dcos_token_from_settings
    from reactor.adapters.marathon.dcos_auth import DcosConfigError
    from reactor.engine.api import tls_context
    from reactor.engine.hooks import HookLoadError, load_hook_modules

    s: Any = settings
    out: list[tuple[str, str]] = []
    if s.lb.driver.value == "command" and not s.lb.command.argv:
        out.append(("lb.command.argv", 'required with driver = "command"'))
    try:
        load_hook_modules(s.hooks.modules)
    except HookLoadError as exc:
        out.append(("hooks.modules", str(exc)))
    if s.api.tls_cert_file and s.api.tls_key_file:
        try:
            tls_context(s.api.tls_cert_file, s.api.tls_key_file)
        except OSError as exc:
            out.append(("api.tls_cert_file", str(exc)))
    try:
        dcos_token_from_settings(s.marathon)
    except DcosConfigError as exc:  # its text names the key; here the key is the path
        key = "dcos_private_key_file" if "dcos_private_key_file" in str(exc) else "dcos_uid"
        text = str(exc).removeprefix("marathon: ").replace(f"marathon.{key} ", "")
        out.append((f"marathon.{key}", text))
    return out
