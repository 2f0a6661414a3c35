"""App definition validation for `bluegreen deploy`: every problem named, nothing sent."""

from datetime import UTC, datetime

import pytest

from reactor.core import labels as L
from reactor.core.appdef import (
    AppDefinitionError,
    default_group,
    green_app_id,
    green_definition,
    parse_app_definition,
)


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        ("{not json", "(file)", "not valid JSON"),
        ("[1, 2]", "(file)", "JSON object"),
        ('{"cmd": "x"}', "/id", "Field required"),
        ('{"id": "/Web", "cmd": "x"}', "/id", "invalid path segment 'Web'"),
        ('{"id": "/web", "cmd": "x", "instances": -1}', "/instances", "greater than or equal to 0"),
        ('{"id": "/web"}', "/", "runs nothing"),
        ('{"id": "/web", "cmd": "x", "healthChecks": [{"protocol": "SMTP"}]}', "/healthChecks/0/protocol",
         "unknown protocol"),
        ('{"id": "/web", "cmd": "x", "labels": {"BLUEGREEN_BATCH_SIZE": "zero"}}', "/labels",
         "BLUEGREEN_BATCH_SIZE"),
        ('{"apps": []}', "(file)", "group definition"),
    ],
)
def test_bad_definitions_name_the_problem(raw: str, path: str, fragment: str) -> None:
    with pytest.raises(AppDefinitionError) as err:
        parse_app_definition(raw)
    assert any(p == path and fragment in m for p, m in err.value.problems), err.value.problems


def test_status_fields_stripped_and_id_absolute() -> None:
    app = parse_app_definition('{"id": "prod/web", "cmd": "x", "version": "2021", "tasks": []}')
    assert app["id"] == "/prod/web"
    assert "version" not in app and "tasks" not in app
    assert default_group(app["id"]) == "prod_web"


def test_green_definition_labels_and_zero_instances() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    app = parse_app_definition('{"id": "/web", "cmd": "x", "instances": 4, "labels": {"A": "b"}}')
    green = green_definition(app, green_id="/web-2", group="web", target_instances=4,
                             started_at=t, previous="/web")
    assert green["instances"] == 0
    assert green["labels"]["A"] == "b"
    assert green["labels"][L.GROUP] == "web"
    assert green["labels"][L.STARTED_AT] == "2026-01-02T03:04:05.678Z"
    assert green["labels"][L.PREVIOUS] == "/web"
    assert L.started_at_of(green["labels"]) == t
    assert green_app_id("/web", {"/web"}, t) == "/web-20260102030405"
    assert green_app_id("/web", set(), t) == "/web"
    assert green_app_id("/web", {"/web", "/web-20260102030405"}, t) == "/web-20260102030405-2"


def test_green_is_created_without_the_labels_to_strip() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    app = parse_app_definition('{"id": "/web", "cmd": "x", "labels": {"HAPROXY_GROUP": "external", '
                               '"HAPROXY_0_VHOST": "web.example.com", "BLUEGREEN_GROUP": "web", "A": "b"}}')
    kw = {"green_id": "/web-2", "group": "web", "target_instances": 2, "started_at": t, "previous": "/web"}
    exact = green_definition(app, strip_labels=["HAPROXY_GROUP"], **kw)["labels"]
    assert "HAPROXY_GROUP" not in exact and exact["HAPROXY_0_VHOST"] == "web.example.com"
    pattern = green_definition(app, strip_labels=["HAPROXY_*", "BLUEGREEN_*"], **kw)["labels"]
    assert not any(k.startswith("HAPROXY_") for k in pattern) and pattern["A"] == "b"
    assert pattern[L.GROUP] == "web" and pattern[L.COLOUR] == "green"  # the contract's labels stay
    assert green_definition(app, **kw)["labels"]["HAPROXY_GROUP"] == "external"  # nothing by default
    assert app["labels"]["HAPROXY_GROUP"] == "external"  # the caller's definition is not changed
