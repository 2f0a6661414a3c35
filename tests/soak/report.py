"""The soak's table per fault kind (a figure for the README, printed by `python -m tests.soak`).

Owns: aggregating results by fault kind: runs, completed, rolled back, runs with a violation,
failed requests (the reactor's and those HAProxy refused while restarting), abandoned operations,
mean deployment time. Must not: judge (the invariants did).
"""

from __future__ import annotations

from collections import defaultdict

from tests.soak.plan import KINDS
from tests.soak.runner import Result

HEADER = ("fault", "runs", "completed", "rolled back", "violations", "failed req", "refused by LB restart",
          "abandoned", "requests", "mean s")


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.draw.kind].append(r)
    out = []
    for kind in [*KINDS, "all"]:
        rs = results if kind == "all" else by_kind.get(kind, [])
        if not rs:
            continue
        out.append((kind, str(len(rs)),
                    str(sum(r.outcome == "completed" for r in rs)),
                    str(sum(r.outcome == "rolled_back" for r in rs)),
                    str(sum(bool(r.violations) for r in rs)),
                    str(sum(int(r.figures.get("failed", 0)) for r in rs)),
                    str(sum(int(r.figures.get("failed_while_lb_down", 0)) for r in rs)),
                    str(sum(int(r.figures.get("abandoned", 0)) for r in rs)),
                    str(sum(int(r.figures.get("requests", 0)) for r in rs)),
                    f"{sum(r.duration_s for r in rs) / len(rs):.1f}"))
    return out


def table(results: list[Result]) -> str:
    body = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in body]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def violations(results: list[Result]) -> list[str]:
    return [f"{r.draw.describe()}: {v}" for r in results for v in r.violations]
