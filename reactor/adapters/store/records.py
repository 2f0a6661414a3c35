"""Row and record helpers of the state store: encoding, validation, intent rows.

Owns how values become rows (JSON objects, history completion) and back. It must not open
connections or decide transactions: `sqlite.StateStore` does that and passes the cursor in.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor.adapters.store.errors import InvalidRecord

HISTORY_REQUIRED = ("group", "deployment_id", "outcome", "finished_at")


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """An intent as stored: `revision` grows by one with every write (0 means none yet)."""

    group: str
    intent: dict[str, Any]
    revision: int
    finished: bool
    updated_at: float
    updated_by: str


def complete_history(path: Path, record: Any) -> dict[str, Any]:
    """Validate a history record; add `duration_s` from numeric timestamps when absent."""
    if not isinstance(record, dict):
        raise InvalidRecord(path, f"history record must be a dict, got {type(record).__name__}")
    missing = [key for key in HISTORY_REQUIRED if record.get(key) in (None, "")]
    if missing:
        raise InvalidRecord(path, f"history record lacks {', '.join(missing)}")
    rec = dict(record)
    started, finished = rec.get("started_at"), rec["finished_at"]
    if "duration_s" not in rec and _is_number(started) and _is_number(finished):
        rec["duration_s"] = finished - started
    return rec


def intent_row(c: sqlite3.Connection, group: str) -> IntentRecord | None:
    row = c.execute(
        "SELECT body, revision, finished, updated_at, updated_by FROM intents WHERE group_name = ?", (group,)
    ).fetchone()
    if row is None:
        return None
    return IntentRecord(group, json.loads(row[0]), row[1], bool(row[2]), row[3], row[4])


def put_intent(
    c: sqlite3.Connection, group: str, body: str, finished: bool, revision: int, now_s: float, owner: str
) -> None:
    c.execute(
        "INSERT INTO intents (group_name, body, finished, revision, updated_at, updated_by)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (group_name) DO UPDATE SET body = excluded.body,"
        " finished = excluded.finished, revision = excluded.revision,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (group, body, int(finished), revision, now_s, owner),
    )


def put_intents(c: sqlite3.Connection, rows_json: str, now_s: float, owner: str) -> int:
    """`put_intent` for a JSON array of `{"g": group, "b": body, "f": finished}`, in ONE statement
    whose WHERE skips each group another owner holds a live lease on; how many were written."""
    return int(c.execute(
        "INSERT INTO intents (group_name, body, finished, revision, updated_at, updated_by)"
        " SELECT json_extract(value, '$.g'), json_extract(value, '$.b'), json_extract(value, '$.f'),"
        " 1, ?1, ?2"
        " FROM json_each(?3) WHERE NOT EXISTS (SELECT 1 FROM leases WHERE"
        " leases.group_name = json_extract(value, '$.g') AND expires_at > ?1 AND holder != ?2)"
        " ON CONFLICT (group_name) DO UPDATE SET body = excluded.body,"
        " finished = excluded.finished, revision = intents.revision + 1,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (now_s, owner, rows_json)).rowcount)


class RawJson:
    """The JSON text of one value, serialized by its producer (the engine gives an intent as
    pydantic's `model_dump_json()`): `encode_object` writes it as it is. With 50 groups
    deploying, building the intent's dict (`model_dump`) only to encode it again was a tenth of
    the daemon's time. A producer must give valid JSON: it is not parsed again here. Not a str,
    so that json.dumps hands it to `encode_object`'s hook instead of quoting it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJson({self.text!r})"


#: what a RawJson stands for while json.dumps runs (random per process: no value holds it)
_PLACEHOLDER = f"rawjson-{secrets.token_hex(12)}-"


def encode_object(value: dict[str, Any]) -> str:
    """Compact JSON of `value`, RawJson values (at any depth) written as they are; raises
    TypeError or ValueError as `json.dumps` does (NaN and infinities included). One json.dumps
    (C) walks the value; each RawJson becomes a placeholder string, then its text."""
    raws: list[str] = []

    def placeholder(obj: Any) -> str:
        if isinstance(obj, RawJson):
            raws.append(obj.text)
            return f"{_PLACEHOLDER}{len(raws) - 1}"
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    text = json.dumps(value, allow_nan=False, separators=(",", ":"), default=placeholder)
    for n, raw in enumerate(raws):
        text = text.replace(f'"{_PLACEHOLDER}{n}"', raw, 1)
    return text


def dump_object(path: Path, what: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise InvalidRecord(path, f"{what} must be a JSON object (dict), got {type(value).__name__}")
    try:
        return encode_object(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(path, f"{what} is not JSON-serializable: {exc}") from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
