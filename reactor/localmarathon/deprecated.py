"""Marathon's AppNormalization of deprecated app fields, applied before validation.

Owns: `ports` → portDefinitions (`{port, protocol: tcp}`), `uris` → fetch (`extract` for archive
names), `ipAddress` → networks (container mode, its name and labels) + container portMappings from
its discovery ports. The deprecated fields are dropped: Marathon never writes them back.
Must not: validate or fill defaults (validation.py).
"""

from __future__ import annotations

from typing import Any

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def normalize_deprecated(body: dict[str, Any]) -> dict[str, Any]:
    """AppNormalization of the deprecated fields: `ports` → portDefinitions, `uris` → fetch,
    `ipAddress` → networks (container mode) + container portMappings from its discovery ports."""
    body = dict(body)
    ports = body.pop("ports", None)
    if isinstance(ports, list) and "portDefinitions" not in body:
        body["portDefinitions"] = [{"port": p, "protocol": "tcp"} for p in ports if _is_num(p)]
    uris = body.pop("uris", None)
    if isinstance(uris, list) and "fetch" not in body:
        body["fetch"] = [
            {"uri": u, "extract": u.endswith(ARCHIVE_SUFFIXES), "executable": False, "cache": False}
            for u in uris
            if isinstance(u, str)
        ]
    ip = body.pop("ipAddress", None)
    if isinstance(ip, dict) and "networks" not in body:
        network: dict[str, Any] = {"mode": "container"}
        if ip.get("networkName"):
            network["name"] = ip["networkName"]
        if ip.get("labels"):
            network["labels"] = ip["labels"]
        body["networks"] = [network]
        discovery: dict[str, Any] = ip["discovery"] if isinstance(ip.get("discovery"), dict) else {}
        mappings = [
            {"containerPort": p.get("number", 0), "protocol": p.get("protocol", "tcp"), "name": p.get("name")}
            for p in discovery.get("ports") or []
            if isinstance(p, dict)
        ]
        if mappings:
            container = dict(body.get("container") or {"type": "MESOS"})
            clean = [{k: v for k, v in m.items() if v is not None} for m in mappings]
            container.setdefault("portMappings", clean)
            body["container"] = container
        body.setdefault("portDefinitions", [])
    return body
