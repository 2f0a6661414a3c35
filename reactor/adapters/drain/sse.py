"""Server-sent events framing: the `data` of each event on an open aiohttp response.

Owns only the line protocol (data/comment/blank-line dispatch) and its bounds: a line longer
than `MAX_LINE_BYTES` or an event larger than `MAX_EVENT_BYTES` ends the stream with
`EventTooLarge` instead of growing memory. It does not connect, retry or interpret the data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import ClientResponse
from aiohttp.http_exceptions import LineTooLong

MAX_LINE_BYTES = 64 * 1024
MAX_EVENT_BYTES = 256 * 1024


class EventTooLarge(ValueError):
    """A line or an event beyond the bounds: the stream is not a metric stream."""


async def iter_sse_data(response: ClientResponse) -> AsyncIterator[str]:
    """Yield the joined `data:` lines of each event until the server closes the stream."""
    data: list[str] = []
    size = 0
    while True:
        try:
            raw = await response.content.readuntil(b"\n", max_size=MAX_LINE_BYTES)
        except (LineTooLong, ValueError):
            raise EventTooLarge(f"an SSE line of more than {MAX_LINE_BYTES} bytes") from None
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            raise EventTooLarge(f"an SSE line of more than {MAX_LINE_BYTES} bytes")
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data, size = [], 0
            continue
        size += len(raw)
        if size > MAX_EVENT_BYTES:
            raise EventTooLarge(f"an SSE event of more than {MAX_EVENT_BYTES} bytes")
        if line.startswith(":"):
            continue  # comment / heartbeat
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
