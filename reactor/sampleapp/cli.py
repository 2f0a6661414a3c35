"""`bluegreen sample-app`: argument parsing for the demo/test application.

Reads its settings from the environment Marathon gives a task (see app.SampleSettings); the
flags only override host and port. It must not import the reactor's core, adapters or engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

EPILOG = """\
environment:
  PORT0 / PORT              port to listen on (--port overrides; 0 = any free port)
  APP_VERSION               version reported by GET / (else MARATHON_APP_VERSION)
  MESOS_TASK_ID             task id reported by GET / and in the ledger
  SAMPLE_UNHEALTHY=1        GET /health answers 503
  SAMPLE_UNHEALTHY_AFTER_S  GET /health answers 503 once this many seconds have passed
  SAMPLE_UNHEALTHY_IF_FILE  GET /health answers 503 while this file exists
  SAMPLE_LEDGER_DIR         on SIGTERM append {task, version, abandoned, completed} to
                            <dir>/ledger.jsonl

endpoints: GET / · /health · /work?ms=N · /metrics · /metrics.json · /metrics/stream (SSE)
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: $PORT0, else $PORT)")


def run(args: argparse.Namespace) -> int:
    from reactor.sampleapp.app import SampleSettings
    from reactor.sampleapp.server import serve_until_signal

    try:
        settings = SampleSettings.from_env(os.environ, host=args.host, port=args.port)
    except ValueError as exc:
        print(f"sample-app: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve_until_signal(settings))
