"""Server-sent events framing: the `data` of each event on an open aiohttp response.

Owns only the line protocol (data/comment/blank-line dispatch); it does not connect, retry or
interpret the data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import ClientResponse

MAX_LINE_BYTES = 64 * 1024


async def iter_sse_data(response: ClientResponse) -> AsyncIterator[str]:
    """Yield the joined `data:` lines of each event until the server closes the stream."""
    data: list[str] = []
    while True:
        raw = await response.content.readline()
        if not raw:
            return
        line = raw[:MAX_LINE_BYTES].decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / heartbeat
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
