"""Beside marathon-lb: `bluegreen deploy` creates GREEN without marathon-lb's HAPROXY_GROUP (the
default `[deploy] strip_labels`), or without whatever the configured patterns name, so marathon-lb
never routes to GREEN behind the reactor's drain. Real CLI subprocess, real embedded Marathon."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import cli, cluster, write_config, write_green

MLB_LABELS = {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "web.example.com"}


async def test_green_created_without_haproxy_group_by_default(tmp_path: Path) -> None:
    async with cluster(blue_instances=1) as c:
        cfg = write_config(tmp_path, c.url)
        r = await cli("deploy", str(write_green(tmp_path, labels=MLB_LABELS)), "--config", str(cfg),
                      "--detach", "--json")
        assert r.rc == 0, r
        green = (await c.apps())[r.json()["green_app"]]
    assert "HAPROXY_GROUP" not in green["labels"], green["labels"]
    assert green["labels"]["HAPROXY_0_VHOST"] == "web.example.com"
    assert green["labels"]["BLUEGREEN_GROUP"] == "web"


async def test_strip_labels_patterns_from_the_config(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9", deploy='strip_labels = ["HAPROXY_*"]')
    r = await cli("deploy", str(write_green(tmp_path, labels=MLB_LABELS)), "--config", str(cfg),
                  "--dry-run")
    assert r.rc == 0, r
    labels = json.loads(r.out)["app"]["labels"]
    assert not [k for k in labels if k.startswith("HAPROXY_")], labels
    assert labels["BLUEGREEN_GROUP"] == "web" and labels["BLUEGREEN_COLOUR"] == "green"
