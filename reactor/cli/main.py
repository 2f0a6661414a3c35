"""`bluegreen` command line: argument parsing and dispatch to one module per command.

Each command module exposes `add_arguments(parser)` and `run(args) -> int` and is imported
lazily, so `bluegreen sample-app` does not import the engine.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from reactor import __version__
from reactor.cli.exitcodes import Exit

# command name -> module implementing it
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("reactor.cli.cmd_run", "run the sidecar daemon: watch Marathon, advance every group"),
    "deploy": ("reactor.cli.cmd_deploy", "launch GREEN from an app definition and drive the deployment"),
    "status": ("reactor.cli.cmd_control", "show current deployments (--watch: live)"),
    "watch": ("reactor.cli.cmd_watch", "live view of the deployments a daemon drives"),
    "history": ("reactor.cli.cmd_control", "show finished deployments (reads the local state store)"),
    "undo": ("reactor.cli.cmd_undo", "deploy an earlier definition again (blue-green)"),
    "promote": ("reactor.cli.cmd_control", "let a held deployment shift traffic"),
    "pause": ("reactor.cli.cmd_control", "stop moving forward, keep both sides as they are"),
    "abort": ("reactor.cli.cmd_control", "same as pause (Argo's abort is our rollback)"),
    "rollback": ("reactor.cli.cmd_control", "restore BLUE and remove GREEN"),
    "resume": ("reactor.cli.cmd_control", "continue a paused deployment"),
    "config": ("reactor.cli.cmd_config", "configuration tools (config check PATH)"),
    "local-marathon": ("reactor.localmarathon.cli", "the embedded Marathon-compatible server"),
    "sample-app": ("reactor.sampleapp.cli", "the demo/test application"),
    "demo": ("reactor.cli.cmd_demo", "the whole story on one machine"),
    "completion": ("reactor.cli.cmd_completion", "print a shell completion script (bash or zsh)"),
}


# examples for commands whose modules live outside reactor.cli and show none themselves
FALLBACK_EXAMPLES = {
    "sample-app": "examples:\n  PORT0=8000 APP_VERSION=v1 bluegreen sample-app\n"
                  "  SAMPLE_LEDGER_DIR=/tmp/ledger bluegreen sample-app --host 127.0.0.1 --port 0",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; with `only`, only that command's module is imported (the daemon
    must not load the embedded Marathon or the sample app just to parse its arguments)."""
    parser = argparse.ArgumentParser(
        prog="bluegreen",
        description="Zero-downtime blue-green deployments on Marathon, driven by its event stream.",
        epilog="Run 'bluegreen COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"bluegreen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(_module=module)
        if only is not None and name != only:
            continue
        mod = importlib.import_module(module)
        mod.add_arguments(p, name) if _takes_name(mod) else mod.add_arguments(p)
        if name in FALLBACK_EXAMPLES and "example" not in (p.epilog or "").lower():
            p.epilog = "\n\n".join(filter(None, (p.epilog, FALLBACK_EXAMPLES[name])))
    return parser


def _takes_name(mod: object) -> bool:
    fn = getattr(mod, "add_arguments")  # noqa: B009
    return fn.__code__.co_argcount >= 2


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the command's modules are still being imported
        return 130


def _main(argv: list[str] | None) -> int:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    parser = build_parser(only=words[0] if words and words[0] in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if not args.command:
        parser.print_help(sys.stderr)
        return Exit.BAD_INPUT
    mod = importlib.import_module(args._module)
    return int(mod.run(args))
