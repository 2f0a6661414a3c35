"""Reading the sample app's ledger: what every stopped task left unfinished.

Each sample-app task appends one JSON line `{"task","version","abandoned","completed"}` to a
`*.jsonl` file in SAMPLE_LEDGER_DIR when it gets SIGTERM. This module sums those lines; it
tolerates a partial last line (a writer killed mid-write) and counts malformed lines instead of
failing. Must not write to the ledger.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LedgerEntry:
    task: str | None
    version: str | None
    abandoned: int
    completed: int


@dataclass
class VersionTotals:
    tasks: int = 0
    abandoned: int = 0
    completed: int = 0


@dataclass
class LedgerSummary:
    entries: list[LedgerEntry] = field(default_factory=list)
    malformed_lines: int = 0  # unreadable lines that were complete (ended with a newline)
    partial_lines: int = 0  # an unterminated, unreadable last line of a file

    @property
    def abandoned(self) -> int:
        return sum(e.abandoned for e in self.entries)

    @property
    def completed(self) -> int:
        return sum(e.completed for e in self.entries)

    def by_version(self) -> dict[str, VersionTotals]:
        out: dict[str, VersionTotals] = {}
        for e in self.entries:
            totals = out.setdefault(str(e.version), VersionTotals())
            totals.tasks += 1
            totals.abandoned += e.abandoned
            totals.completed += e.completed
        return out

    def by_task(self) -> dict[str, LedgerEntry]:
        return {str(e.task): e for e in self.entries}

    def to_dict(self) -> dict[str, object]:
        return {"tasks_stopped": len(self.entries), "abandoned": self.abandoned,
                "completed": self.completed, "malformed_lines": self.malformed_lines,
                "partial_lines": self.partial_lines,
                "by_version": {v: asdict(t) for v, t in self.by_version().items()}}


def parse_line(line: str) -> LedgerEntry | None:
    """One ledger line, or None when it is not a valid entry."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    abandoned, completed = raw.get("abandoned"), raw.get("completed")
    if not isinstance(abandoned, int) or not isinstance(completed, int) or abandoned < 0 or completed < 0:
        return None
    task, version = raw.get("task"), raw.get("version")
    return LedgerEntry(task=None if task is None else str(task),
                       version=None if version is None else str(version),
                       abandoned=abandoned, completed=completed)


def parse_text(text: str, summary: LedgerSummary) -> None:
    """Add the entries of one file's text to `summary`."""
    lines = text.split("\n")
    # after the final newline split() leaves "" (complete file) or an unterminated tail
    *complete, tail = lines
    for line in complete:
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is None:
            summary.malformed_lines += 1
        else:
            summary.entries.append(entry)
    if tail.strip():
        entry = parse_line(tail)
        if entry is None:
            summary.partial_lines += 1
        else:
            summary.entries.append(entry)


def read_ledger(ledger_dir: Path) -> LedgerSummary:
    """Every `*.jsonl` file of the directory, in name order; a missing directory is empty."""
    summary = LedgerSummary()
    directory = Path(ledger_dir)
    if not directory.is_dir():
        return summary
    for path in sorted(directory.glob("*.jsonl")):
        parse_text(path.read_text(encoding="utf-8", errors="replace"), summary)
    return summary
