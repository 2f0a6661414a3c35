"""Server names: reversible, always valid HAProxy identifiers (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reactor.adapters.lb.errors import LbInvalidRequest
from reactor.adapters.lb.names import HAPROXY_NAME_CHARS, MAX_NAME_LEN, server_name, task_id_of

_segment = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_safe_app_id = st.lists(_segment, min_size=1, max_size=4).map("_".join)


@st.composite
def marathon_task_ids(draw: st.DrawFn) -> str:
    safe, uid = draw(_safe_app_id), draw(st.uuids())
    form = draw(st.sampled_from(["instance", "legacy_instance", "legacy", "resident"]))
    if form == "instance":
        return f"{safe}.instance-{uid}._app.{draw(st.integers(1, 999))}"
    if form == "legacy_instance":
        return f"{safe}.marathon-{uid}"
    if form == "legacy":
        return f"{safe}{draw(st.sampled_from(['.', '_']))}{uid}"
    return f"{safe}.{uid}.{draw(st.integers(1, 99))}"


@given(marathon_task_ids())
def test_marathon_task_ids_round_trip_and_stay_readable(task_id: str) -> None:
    name = server_name(task_id)
    assert name == "bg-" + task_id  # no escaping needed: readable in HAProxy stats
    assert task_id_of(name) == task_id
    assert set(name) <= HAPROXY_NAME_CHARS


# 42 characters of at most 4 UTF-8 bytes, each escaped as 3 characters, always fit MAX_NAME_LEN.
@given(st.text(min_size=1, max_size=42))
def test_any_task_id_round_trips_to_a_valid_haproxy_name(task_id: str) -> None:
    name = server_name(task_id)
    assert set(name) <= HAPROXY_NAME_CHARS and len(name) <= MAX_NAME_LEN
    assert task_id_of(name) == task_id


@given(st.text(max_size=300))
def test_too_long_or_empty_task_ids_are_refused_never_truncated(task_id: str) -> None:
    try:
        name = server_name(task_id)
    except LbInvalidRequest as exc:
        assert not task_id or "max 512" in str(exc)
    else:
        assert len(name) <= MAX_NAME_LEN and task_id_of(name) == task_id


@given(st.text(min_size=1, max_size=42), st.text(min_size=1, max_size=42))
def test_distinct_task_ids_give_distinct_names(a: str, b: str) -> None:
    assert (server_name(a) == server_name(b)) == (a == b)


@given(st.text(alphabet=sorted(HAPROXY_NAME_CHARS), max_size=40))
def test_decoding_any_haproxy_name_is_none_or_the_inverse(name: str) -> None:
    task_id = task_id_of(name)
    assert task_id is None or server_name(task_id) == name


def test_foreign_and_non_canonical_names_are_not_ours() -> None:
    for name in ["static1", "10_0_1_2_31000", "bg-", "bg-a:2e", "bg-a:3A", "bg-a:3", "bg-:c3", "BG-x"]:
        assert task_id_of(name) is None, name
