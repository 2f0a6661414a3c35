"""A real LB program for the command driver tests: keeps its pool in a JSON file.

Usage: fake_lb.py STATE_FILE [--fail] [--hang] [--garbage] [--log REQUESTS_FILE]
Reads one JSON request on stdin, applies it to STATE_FILE, answers JSON on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    state_file, flags = Path(sys.argv[1]), sys.argv[2:]
    request = json.loads(sys.stdin.read())
    if "--log" in flags:
        with Path(flags[flags.index("--log") + 1]).open("a") as log:
            log.write(json.dumps({"pid": os.getpid(), **request}) + "\n")
    if "--fail" in flags:
        print("fake_lb: backend 'web' is locked by another deploy", file=sys.stderr)
        return 3
    if "--hang" in flags:
        print("fake_lb: waiting for the balancer...", file=sys.stderr, flush=True)
        time.sleep(60)
    if "--garbage" in flags:
        print("this is not json {")
        return 0
    pool = json.loads(state_file.read_text()) if state_file.exists() else {}
    servers = pool.setdefault(request["backend"], {})
    op, task = request["op"], request.get("task_id")
    if op == "observe":
        print(json.dumps({"servers": list(servers.values())}))
        return 0
    if op == "add":
        servers[task] = {"task_id": task, "name": f"srv-{task}", "address": request["address"],
                         "port": request["port"], "state": "ready", "sessions": 0, "queued": 0}
    elif op in ("drain", "maint") and task in servers:
        servers[task]["state"] = op
    elif op == "remove":
        servers.pop(task, None)
    state_file.write_text(json.dumps(pool))
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
