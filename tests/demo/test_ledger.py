"""Ledger parsing: totals per version and task, partial last line, malformed lines."""

from __future__ import annotations

from pathlib import Path

from reactor.cli.demo.ledger import read_ledger

LINES = [
    '{"task":"a.1","version":"v1","abandoned":2,"completed":10}',
    '{"task":"a.2","version":"v1","abandoned":0,"completed":7}',
    '{"task":"b.1","version":"v2","abandoned":1,"completed":3}',
]


def test_totals_per_version_and_task(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").write_text("\n".join(LINES) + "\n")
    summary = read_ledger(tmp_path)
    assert (summary.abandoned, summary.completed) == (3, 20)
    by_version = summary.by_version()
    assert (by_version["v1"].tasks, by_version["v1"].abandoned, by_version["v1"].completed) == (2, 2, 17)
    assert by_version["v2"].abandoned == 1
    assert summary.by_task()["a.2"].completed == 7
    assert summary.to_dict()["tasks_stopped"] == 3
    assert summary.malformed_lines == summary.partial_lines == 0


def test_partial_last_line_and_garbage_are_counted_not_fatal(tmp_path: Path) -> None:
    text = LINES[0] + "\nnot json\n[1,2]\n" + '{"task":"x","abandoned":-1,"completed":0}\n' + LINES[1][:20]
    (tmp_path / "ledger.jsonl").write_text(text)
    summary = read_ledger(tmp_path)
    assert len(summary.entries) == 1
    assert summary.malformed_lines == 3
    assert summary.partial_lines == 1


def test_unterminated_but_complete_last_line_counts(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").write_text(LINES[0] + "\n" + LINES[2])
    assert read_ledger(tmp_path).abandoned == 3


def test_missing_or_empty_directory_is_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "absent").entries == []
    assert read_ledger(tmp_path).abandoned == 0
