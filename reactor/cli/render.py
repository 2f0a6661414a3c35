"""Human text for the daemon's answers: status rows, history rows, control-command answers.

Owns wording and layout only (pure functions of the JSON the API returns); no I/O. `--json`
bypasses it. Task ids are shortened to what tells them apart (the part after the app name).
"""

from __future__ import annotations

from typing import Any

FINISHED = ("done", "rolled_back", "failed")


def short_task(task_id: str) -> str:
    """`web.instance-6f1c2a3b-....__app.1` → `6f1c2a3b` (the part that differs between tasks)."""
    for marker in (".instance-", ".marathon-"):
        if marker in task_id:
            return task_id.split(marker, 1)[1][:8]
    return task_id[-12:]


def pending_text(pending: Any) -> str:
    return "unknown" if pending is None else str(pending)


def counts_text(counts: dict[str, Any]) -> str:
    if not counts:
        return "no counts yet"
    return (f"GREEN healthy {counts.get('green_healthy', 0)}/{counts.get('target', 0)}, "
            f"BLUE live {counts.get('blue_live', 0)}, killed {counts.get('blue_killed', 0)}")


def unique(items: list[str]) -> list[str]:
    """Each blocker once: duplicates, and one that another merely extends, are dropped."""
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item.strip(), None)
    kept = list(seen)
    return [a for a in kept if not any(b != a and b.startswith(a) for b in kept)]


def status_lines(rows: list[dict[str, Any]], *, include_finished: bool = False) -> list[str]:
    current = [r for r in rows if include_finished or r.get("phase") not in FINISHED]
    if not current:
        return ["no current deployments"]
    out: list[str] = []
    for row in current:
        out.append(f"{row.get('group')}: {row.get('phase')}  blue={row.get('blue_app') or '-'} "
                   f"green={row.get('green_app')}  {counts_text(row.get('counts') or {})}")
        reason = row.get("paused_reason") or row.get("rollback_reason")
        if reason:
            out.append(f"  reason: {reason}")
        for d in row.get("draining") or []:
            out.append(f"  draining {short_task(d['task'])}: {pending_text(d.get('pending'))} pending")
        for b in unique(list(row.get("blockers") or [])):
            out.append(f"  waiting: {b}")
    return out


def history_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no finished deployments"]
    out = []
    for n, row in enumerate(rows, 1):
        defined = "" if row.get("green_definition") else "  (no definition kept)"
        out.append(f"#{n} {row.get('group')}: {row.get('outcome')}  {row.get('green_app')} "
                   f"in {float(row.get('duration_s') or 0):.1f}s  finished {row.get('finished_at')}{defined}")
    return out


COMMAND_WORDS = {"promote": "promoted", "abort": "paused", "pause": "paused",
                 "rollback": "rolling back", "resume": "resumed"}


def command_line(cmd: str, group: str, answer: dict[str, Any], row: dict[str, Any] | None) -> str:
    phase = (row or {}).get("phase") or answer.get("phase")
    word = COMMAND_WORDS.get(cmd, cmd)
    return f"{group}: {word} — phase now {phase}"
