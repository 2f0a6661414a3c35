"""`python -m tests.soak --deployments N --seed S`: run the chaos soak and print its table.

Exit 0 when every deployment kept every invariant, 1 otherwise (the violations are listed, each
with its deployment's fault and moment so the run can be reproduced with the same seed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.machine import header
from tests.soak.plan import KINDS, draw_plan
from tests.soak.report import table, violations
from tests.soak.runner import Soak, SoakConfig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    p.add_argument("--deployments", type=int, default=20, help="deployments after BLUE (default 20)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (default 1)")
    p.add_argument("--instances", type=int, default=2, help="tasks per app (default 2)")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second (default 20)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="comma-separated fault kinds to draw from (default: all of them)")
    p.add_argument("--workdir", type=Path, default=None, help="keep logs here (default: a temp dir)")
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if args.deployments < 1 or args.instances < 1 or args.rate <= 0 or not kinds or unknown:
        print("python -m tests.soak: --deployments and --instances must be >= 1, --rate > 0, --kinds "
              f"among {', '.join(KINDS)}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bluegreen-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    draws = draw_plan(args.deployments, args.seed, kinds=kinds)
    print(header(f"chaos soak: {args.deployments} deployments, seed {args.seed}, {args.instances} "
                 f"instances, {args.rate:g} req/s (workdir {workdir})"), flush=True)
    started = time.monotonic()
    soak = Soak(workdir, SoakConfig(instances=args.instances, rate_per_s=args.rate))
    results = asyncio.run(soak.run(draws))
    print(f"\n{len(results)} deployments in {time.monotonic() - started:.0f}s\n")
    print(table(results))
    bad = violations(results)
    if len(results) < len(draws):
        bad.append(f"stopped after {len(results)} of {len(draws)} deployments")
    for line in bad:
        print("VIOLATION", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
