"""Where the ZooKeeper backend keeps things under its root, and how values become znode data.

Layout (every path under `[coordination] root`, e.g. /bluegreen):
  leases/<g>/l-<session hex>-<seq>   ephemeral sequential; the lowest sequence holds the group
  intents/<g>                        {"group","intent","finished","updated_at","updated_by"}
  history/<g>/h-<seq>                one finished deployment (newest HISTORY_KEEP per group kept)
  history-ids/<g>/<deployment id>    dedup marker of a recorded (group, deployment id)
  deliveries/<event id>~<hook>       hook delivery claim (pruned after DELIVERY_RETENTION_S)
  commands/<g>/c-<seq>               operator command audit (newest COMMANDS_KEEP per group kept)
<g> is the group id percent-encoded into one znode name. Owns the names and the encoding,
including the size check against ZooKeeper's 1 MB znode limit; it must not talk to ZooKeeper.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from reactor.adapters.store.errors import InvalidRecord, StoreError
from reactor.adapters.store.records import encode_object

#: ZooKeeper refuses znodes over jute.maxbuffer (1 MiB by default); keep room for the request
MAX_ZNODE_BYTES = 1_000_000
HISTORY_KEEP = 200
#: groups whose intent znode's existence a process remembers (saves one round trip per first save)
KNOWN_INTENTS_MAX = 10_000
#: intents saved in one transaction at most this many bytes together (a request is capped by
#: jute.maxbuffer, 1 MiB by default, like a znode)
MULTI_BYTES = 512_000
COMMANDS_KEEP = 200
DELIVERY_RETENTION_S = 7 * 24 * 3600.0


def name(value: str) -> str:
    """One znode name for any string (group ids contain '/'); '.' and '..' are reserved."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def unname(encoded: str) -> str:
    return unquote(encoded)


class Layout:
    """Absolute paths under one root."""

    def __init__(self, root: str) -> None:
        self.root = "/" + root.strip("/") if root.strip("/") else ""

    def _p(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def lease_dir(self, group: str) -> str:
        return self._p("leases", name(group))

    def intents(self) -> str:
        return self._p("intents")

    def intent(self, group: str) -> str:
        return self._p("intents", name(group))

    def history_dir(self, group: str | None = None) -> str:
        return self._p("history", name(group)) if group is not None else self._p("history")

    def history_id(self, group: str, deployment_id: str) -> str:
        return self._p("history-ids", name(group), name(deployment_id))

    def history_ids_dir(self, group: str) -> str:
        return self._p("history-ids", name(group))

    def deliveries(self) -> str:
        return self._p("deliveries")

    def delivery(self, event_id: str, hook: str) -> str:
        return self._p("deliveries", f"{name(event_id)}~{name(hook)}")

    def commands_dir(self, group: str | None = None) -> str:
        return self._p("commands", name(group)) if group is not None else self._p("commands")


def sequence(child: str) -> int:
    """The 10-digit sequence ZooKeeper appended to a sequential node's name."""
    return int(child[-10:])


def encode(label: str, what: str, value: dict[str, Any]) -> bytes:
    """JSON bytes of `value`; InvalidRecord (a StoreError) when it cannot fit in one znode."""
    try:
        data = encode_object(value).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(label, f"{what} is not JSON-serializable: {exc}") from exc
    if len(data) > MAX_ZNODE_BYTES:
        raise InvalidRecord(label, f"{what} is {len(data)} bytes, over ZooKeeper's znode limit "
                                   f"of {MAX_ZNODE_BYTES} bytes: nothing was saved")
    return data


def decode(data: bytes, path: str) -> dict[str, Any]:
    """The JSON object stored at znode `path`; StoreError naming it when the bytes are not one
    (written by another tool, or by hand with zkCli): never read as empty, never a raw error."""
    try:
        value = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise StoreError(path, f"corrupt record (not JSON: {exc})") from None
    if not isinstance(value, dict):
        raise StoreError(path, f"corrupt record (JSON {type(value).__name__}, not an object)")
    return value
