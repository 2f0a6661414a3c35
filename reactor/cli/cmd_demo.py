"""`bluegreen demo`: the whole story on one machine, with a summary (or `--json`).

Exit 0 when GREEN completed with 0 failed requests and 0 abandoned operations; 1 otherwise;
3 when a component (haproxy) is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from reactor.cli.exitcodes import Exit


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = ("examples:\n  bluegreen demo\n  bluegreen demo --json\n"
                "  bluegreen demo --instances 4 --batch-size 2 --drain-source stream")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--instances", type=int, default=3, help="BLUE/GREEN instances (default 3)")
    p.add_argument("--batch-size", type=int, default=1, help="GREEN tasks per step (default 1)")
    p.add_argument("--drain-source", choices=["prometheus", "json", "stream"], default="prometheus")
    p.add_argument("--rate", type=float, default=40.0, help="requests per second (default 40)")
    p.add_argument("--workdir", type=Path, help="keep logs, ledger and state here")


def run(args: argparse.Namespace) -> int:
    from reactor import logs
    from reactor.cli.demo.errors import ComponentFailed, ComponentMissing
    from reactor.cli.demo.story import StoryOptions, render_summary, run_story

    logs.configure("json", "error")
    if args.instances < 1 or args.batch_size < 1 or args.rate <= 0:
        print("bluegreen demo: --instances, --batch-size and --rate must be positive")
        return Exit.BAD_INPUT
    opts = StoryOptions(instances=args.instances, batch_size=args.batch_size, rate_per_s=args.rate,
                        drain_source=args.drain_source, json_output=args.json, workdir=args.workdir)
    try:
        result = asyncio.run(run_story(opts))
    except ComponentMissing as exc:
        print(f"bluegreen demo: {exc}")
        return Exit.MISSING_COMPONENT
    except ComponentFailed as exc:
        print(f"bluegreen demo: {exc}")
        return Exit.NOT_DONE
    print(json.dumps(result, indent=2, default=str) if args.json else render_summary(result))
    ok = (result.get("outcome") == "completed" and result.get("load", {}).get("failed") == 0
          and result.get("ledger", {}).get("abandoned") == 0)
    return Exit.DONE if ok else Exit.NOT_DONE
