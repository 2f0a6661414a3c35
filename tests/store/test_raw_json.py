"""An intent handed to the store as JSON text (RawJson, from pydantic's `model_dump_json`) is
stored as if its dict had been given: spliced verbatim at any depth, never encoded as a string,
and a record that json.dumps refuses is still refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reactor.adapters.store.errors import InvalidRecord
from reactor.adapters.store.records import RawJson, dump_object, encode_object
from reactor.adapters.store.sqlite_backend import SqliteBackend


def test_raw_json_is_spliced_at_any_depth_and_the_rest_encoded_as_before() -> None:
    raw = RawJson('{"a":[1,2.5,"é"],"b":null}')
    value = {"intent": raw, "outbox": [{"x": 1}], "nested": {"deep": [raw, "plain"]}, "s": "text"}
    assert json.loads(encode_object(value)) == {
        "intent": {"a": [1, 2.5, "é"], "b": None}, "outbox": [{"x": 1}],
        "nested": {"deep": [{"a": [1, 2.5, "é"], "b": None}, "plain"]}, "s": "text"}
    plain = {"k": [1, {"v": "w"}], "t": (1, 2), 3: True}
    assert encode_object(plain) == json.dumps(plain, separators=(",", ":"))  # unchanged path
    keyed = {"intent": raw, 3: None, None: 1.5}  # keys as json.dumps writes them
    assert json.loads(encode_object(keyed)) == {"intent": json.loads(raw.text), "3": None, "null": 1.5}
    # a string that looks like the placeholder of another process is only a string
    lookalike = {"intent": raw, "s": "rawjson-0123456789abcdef01234567-0"}
    assert json.loads(encode_object(lookalike))["s"] == "rawjson-0123456789abcdef01234567-0"
    assert json.loads(encode_object(lookalike))["intent"] == json.loads(raw.text)


@pytest.mark.parametrize("bad", [
    {"intent": RawJson("{}"), "n": math.nan},
    {"intent": RawJson("{}"), "o": object()},
    {"intent": RawJson("{}"), "d": {(1, 2): "a key JSON has no form for"}},
    {"n": math.inf},
])
def test_what_json_refuses_is_refused_with_or_without_raw_json(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRecord, match="not JSON-serializable"):
        dump_object(Path("state.db"), "intent", bad)


async def test_an_intent_given_as_json_text_reads_back_as_its_object(tmp_path: Path) -> None:
    intent = {"group": "/g", "phase": "shifting", "killed": {"t.1": "2026-11-30T00:00:00Z"}, "n": 3}
    async with SqliteBackend(tmp_path / "state.db", owner="me", lease_ttl_s=30) as backend:
        assert await backend.acquire("/g")
        await backend.save_intent("/g", {"intent": RawJson(json.dumps(intent)), "outbox": [{"id": "e1"}]},
                                  finished=False)
        assert await backend.load_intent("/g") == {"intent": intent, "outbox": [{"id": "e1"}]}
