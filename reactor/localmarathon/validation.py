"""Parsing and validation of app definitions posted to the REST API.

Owns: body → JSON (400s), JSON type checks (422 "Invalid JSON" with Play-style error keys),
semantic validation (422 "Object is not valid"), and normalization to the canonical definition
(defaults filled, health checks in RAML order). Everything here is pure: nothing is stored.
Health/readiness check seconds are integers as in Marathon (a fraction is a 422 "Invalid JSON",
`error.expected.int`) unless the server runs `--lenient` (fast unit tests). Deprecated `ports`,
`uris` and `ipAddress` are normalized as Marathon's AppNormalization does (portDefinitions, fetch,
networks + portMappings) and never written back.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from reactor.localmarathon import errors
from reactor.localmarathon.deprecated import normalize_deprecated
from reactor.localmarathon.model import (
    APP_DEFAULTS,
    APP_KEYS,
    HEALTH_DEFAULTS,
    HEALTH_KEYS,
    READINESS_DEFAULTS,
    json_copy,
)

ID_SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)
ID_MESSAGE = (
    "must fully match regular expression "
    "'^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'"
)
PROTOCOLS = ("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
NUMBER_FIELDS = (
    "cpus",
    "mem",
    "disk",
    "gpus",
    "backoffFactor",
    "backoffSeconds",
    "maxLaunchDelaySeconds",
    "taskKillGracePeriodSeconds",
)
Details = list[dict[str, Any]]


def parse_body(raw: bytes) -> Any:
    if not raw.strip():
        raise errors.empty_body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.malformed_json(str(exc)) from None


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _err(details: Details, path: str, message: str) -> None:
    for d in details:
        if d["path"] == path:
            d["errors"].append(message)
            return
    details.append({"path": path, "errors": [message]})


CHECK_SECONDS = ("gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "delaySeconds")
READINESS_SECONDS = ("intervalSeconds", "timeoutSeconds")


def _fraction_errors(body: dict[str, Any], d: Details) -> None:
    """Marathon reads check seconds as Int: `0.5` fails with `error.expected.int` (a 422)."""
    for list_key, keys in (("healthChecks", CHECK_SECONDS), ("readinessChecks", READINESS_SECONDS)):
        raw: Any = body.get(list_key) if isinstance(body.get(list_key), list) else []
        for i, check in enumerate(raw):
            if not isinstance(check, dict):
                continue
            for key in keys:
                v: Any = check.get(key)
                if _is_num(v) and not float(v).is_integer():
                    _err(d, f"/{list_key}({i})/{key}", "error.expected.int")


def type_errors(body: Any, lenient: bool = False) -> Details:
    """Play-JSON style read errors (`error.expected.jsstring`, …) for the fields we interpret."""
    d: Details = []
    if not isinstance(body, dict):
        return [{"path": "/", "errors": ["error.expected.jsobject"]}]
    checks: list[tuple[str, Any]] = [
        ("id", str),
        ("cmd", str),
        ("user", str),
        ("killSelection", str),
        ("instances", "int"),
        ("env", dict),
        ("labels", dict),
        ("args", list),
        ("healthChecks", list),
        ("readinessChecks", list),
        ("portDefinitions", list),
        ("constraints", list),
        ("upgradeStrategy", dict),
        ("version", str),
    ] + [(f, "num") for f in NUMBER_FIELDS]
    for key, kind in checks:
        if key not in body or body[key] is None:
            continue
        v = body[key]
        if kind == "int" and not (_is_num(v) and float(v).is_integer()):
            _err(d, f"/{key}", "error.expected.jsnumber" if not _is_num(v) else "error.expected.int")
        elif kind == "num" and not _is_num(v):
            _err(d, f"/{key}", "error.expected.jsnumber")
        elif kind in (str, dict, list) and not isinstance(v, kind):
            name = {str: "jsstring", dict: "jsobject", list: "jsarray"}[kind]
            _err(d, f"/{key}", f"error.expected.{name}")
    labels: Any = body.get("labels") if isinstance(body.get("labels"), dict) else {}
    for key, value in labels.items():
        if not isinstance(value, str):
            _err(d, f"/labels/{key}", "error.expected.jsstring")
    checks_raw: Any = body.get("healthChecks") if isinstance(body.get("healthChecks"), list) else []
    for i, hc in enumerate(checks_raw):
        if not isinstance(hc, dict):
            _err(d, f"/healthChecks({i})", "error.expected.jsobject")
            continue
        for key in (
            "gracePeriodSeconds",
            "intervalSeconds",
            "timeoutSeconds",
            "maxConsecutiveFailures",
            "portIndex",
            "port",
            "delaySeconds",
        ):
            if key in hc and not _is_num(hc[key]):
                _err(d, f"/healthChecks({i})/{key}", "error.expected.jsnumber")
    if not lenient:
        _fraction_errors(body, d)
    return d


def normalize(body: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Canonical definition: `base` (or defaults) overlaid with `body`; version fields dropped."""
    defn = json_copy(base) if base is not None else json_copy(APP_DEFAULTS)
    body = normalize_deprecated(body)
    for key, value in body.items():
        # Unknown and status fields (tasks*, deployments, …) are dropped: a GET'd app PUT back is no change.
        if key in APP_KEYS and key not in ("version", "versionInfo"):
            defn[key] = json_copy(value)
    if isinstance(defn.get("id"), str):
        defn["id"] = canonical_id(defn["id"])
    if isinstance(defn.get("instances"), float):
        defn["instances"] = int(defn["instances"])
    if uses_port_mappings(defn):
        defn["portDefinitions"] = []  # container/bridge networking: ports come from portMappings
    elif "portDefinitions" not in defn or defn["portDefinitions"] is None:
        defn["portDefinitions"] = [{"port": 0, "protocol": "tcp", "name": "default"}]
    defn["portDefinitions"] = [_port_def(p) for p in defn["portDefinitions"] if isinstance(p, dict)]
    if isinstance(defn.get("upgradeStrategy"), dict):
        defn["upgradeStrategy"] = {**APP_DEFAULTS["upgradeStrategy"], **defn["upgradeStrategy"]}
    defn["healthChecks"] = [_health_check(h) for h in defn.get("healthChecks") or [] if isinstance(h, dict)]
    defn["readinessChecks"] = [
        {**READINESS_DEFAULTS, **r} for r in defn.get("readinessChecks") or [] if isinstance(r, dict)
    ]
    return defn


def uses_port_mappings(defn: dict[str, Any]) -> bool:
    """Container or bridge networking (or a Docker BRIDGE network): ports are container.portMappings."""
    modes = {n.get("mode") for n in defn.get("networks") or [] if isinstance(n, dict)}
    docker = (defn.get("container") or {}).get("docker") or {}
    return bool(modes & {"container", "container/bridge"}) or docker.get("network") in ("BRIDGE", "USER")


def canonical_id(raw: str) -> str:
    return "/" + "/".join(s for s in raw.strip().split("/") if s)


def _port_def(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"port": p.get("port", 0), "protocol": p.get("protocol", "tcp")}
    if p.get("name"):
        out["name"] = p["name"]
    if p.get("labels"):
        out["labels"] = p["labels"]
    return out


def _health_check(h: dict[str, Any]) -> dict[str, Any]:
    protocol = h.get("protocol", "HTTP")
    full: dict[str, Any] = {**HEALTH_DEFAULTS, **h, "protocol": protocol}
    if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        full.setdefault("path", "/")
    if protocol in ("HTTP", "HTTPS"):
        full.setdefault("ignoreHttp1xx", False)
    if protocol != "COMMAND" and "port" not in full:
        full.setdefault("portIndex", 0)
    if protocol in ("HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_TCP", "MESOS_HTTPS"):
        full.setdefault("ipProtocol", "IPv4")
    return {k: full[k] for k in HEALTH_KEYS if k in full}


def validate(defn: dict[str, Any]) -> Details:
    """Semantic rules of AppValidation that a client can trip over; [] when valid."""
    d: Details = []
    app_id = defn.get("id")
    if not app_id or app_id == "/":
        _err(d, "/id", "is empty" if not app_id else ID_MESSAGE)
    else:
        for seg in app_id.strip("/").split("/"):
            if not ID_SEGMENT.match(seg):
                _err(d, "/id", ID_MESSAGE)
                break
    if (defn.get("instances") or 0) < 0:
        _err(d, "/instances", f"got {defn['instances']}, expected 0 or more")
    for key in ("cpus", "mem", "disk", "gpus"):
        if _is_num(defn.get(key)) and defn[key] < 0:
            _err(d, f"/{key}", f"got {defn[key]}, expected 0.0 or more")
    if not defn.get("cmd") and not defn.get("args") and not defn.get("container"):
        _err(d, "/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    if defn.get("cmd") and defn.get("args"):
        _err(d, "/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    for key in ("minimumHealthCapacity", "maximumOverCapacity"):
        v: Any = (defn.get("upgradeStrategy") or {}).get(key)
        if not _is_num(v):
            _err(d, f"/upgradeStrategy/{key}", "error.expected.jsnumber")
        elif float(v) > 1:
            _err(d, f"/upgradeStrategy/{key}", "is greater than 1")
        elif float(v) < 0:
            _err(d, f"/upgradeStrategy/{key}", "is less than 0")
    if defn.get("killSelection") not in ("YOUNGEST_FIRST", "OLDEST_FIRST"):
        _err(d, "/killSelection", "error.expected.validenumvalue")
    _validate_checks(defn, d)
    return d


def _validate_checks(defn: dict[str, Any], d: Details) -> None:
    mappings = (defn.get("container") or {}).get("portMappings") or []
    n_ports = len(defn.get("portDefinitions") or []) or len(mappings)
    for i, hc in enumerate(defn.get("healthChecks") or []):
        path = f"/healthChecks({i})"
        if hc["protocol"] not in PROTOCOLS:
            _err(d, f"{path}/protocol", "error.expected.validenumvalue")
        if hc["protocol"] == "COMMAND" and not (hc.get("command") or {}).get("value"):
            _err(d, f"{path}/command", "is required for COMMAND health checks")
        if hc["protocol"] != "COMMAND" and "port" not in hc and not 0 <= hc.get("portIndex", 0) < n_ports:
            _err(
                d,
                path,
                "Health check port indices must address an element of the ports array or "
                "container port mappings.",
            )
        for key in ("gracePeriodSeconds", "intervalSeconds", "timeoutSeconds", "maxConsecutiveFailures"):
            v = hc.get(key)
            if _is_num(v) and (v < 0 or math.isnan(v)):
                _err(d, f"{path}/{key}", f"got {v}, expected 0 or more")
    rcs = defn.get("readinessChecks") or []
    if len(rcs) > 1:
        _err(d, "/readinessChecks", "must be less than or equal to 1")
    names = {p.get("name") for p in (defn.get("portDefinitions") or []) + mappings if isinstance(p, dict)}
    for i, rc in enumerate(rcs):
        if rc.get("portName") not in names:
            _err(d, f"/readinessChecks({i})", "Readiness checks must name a port defined in portDefinitions")
