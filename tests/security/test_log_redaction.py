"""Secrets never reach a log line: our lines, library lines (stdlib logging) and the watcher's
reconnect lines for a Marathon URL that carries credentials; bursts of one line are limited."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from aiohttp import web

from reactor import logs
from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.watcher import EventWatcher
from reactor.engine.api import ApiServer
from tests.waiting import free_port, wait_until


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("json", "debug", buf)
    try:
        yield buf
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()


def test_structured_fields_are_redacted(output: io.StringIO) -> None:
    structlog.get_logger("t").info("x", token="tok-1", marathon_password="pw-2",
                                   url="https://ops:pw-3@m.example:8443/v2", app={"env": {"DB": "pw-4"}},
                                   header="Authorization: Bearer tok-5", env={"K": "pw-6"})
    text = output.getvalue()
    for secret in ("tok-1", "pw-2", "pw-3", "pw-4", "tok-5", "pw-6"):
        assert secret not in text, text
    assert "https://***@m.example:8443/v2" in text


def test_library_debug_lines_go_through_redaction(output: io.StringIO) -> None:
    payload = ('{"eventType":"api_post_event","appDefinition":{"id":"/a","env":{"DB_PASSWORD":"pw-7",'
               '"PLAIN":"v-8"}},"password":"pw-9"}')
    logging.getLogger("aiohttp_sse_client.client").debug("got event %s", payload)
    logging.getLogger("aiohttp.client").info("GET http://u:pw-10@h:1/x")
    text = output.getvalue()
    for secret in ("pw-7", "v-8", "pw-9", "pw-10"):
        assert secret not in text, text
    assert '"logger": "aiohttp_sse_client.client"' in text  # rendered by structlog's JSON renderer


def test_a_burst_of_one_library_line_is_rate_limited(output: io.StringIO) -> None:
    for _ in range(1000):
        logging.getLogger("asyncio").error("socket.accept() out of system resource",
                                           exc_info=OSError(24, "Too many open files"))
    lines = [ln for ln in output.getvalue().splitlines() if "out of system resource" in ln]
    assert 1 <= len(lines) <= 10


def test_burst_limit_lets_the_next_window_through_with_a_count() -> None:
    now = [0.0]
    limit = logs.BurstLimit(burst=2, window_s=10, clock=lambda: now[0])

    def record() -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "same", None, None)

    assert [limit.filter(record()) for _ in range(5)] == [True, True, False, False, False]
    now[0] = 11.0
    later = record()
    assert limit.filter(later) and "3 similar lines suppressed" in str(later.msg)


async def test_watcher_lines_do_not_show_url_credentials(output: io.StringIO) -> None:
    url = f"http://ops:pw-11@127.0.0.1:{free_port()}"  # nothing listens: reconnect lines follow
    async with MarathonClient([url]) as client, EventWatcher(
            client, on_event=lambda e: None, on_resync=lambda s: None, backoff_initial_s=0.01,
            backoff_max_s=0.02):
        await wait_until(lambda: "retrying" in output.getvalue(), what="a retry line")
    text = output.getvalue()
    assert "pw-11" not in text, text
    # never attached: said as such, at warning (not "lost; reconnecting" at info)
    [first] = [json.loads(ln) for ln in text.splitlines() if "retrying" in ln][:1]
    assert first["event"] == "cannot attach to marathon's event stream; retrying", first
    assert first["level"] == "warning" and "reconnecting" not in text, text


async def test_a_refused_event_stream_is_logged_without_its_long_query(output: io.StringIO) -> None:
    """Wrong Marathon credentials: the reconnect lines name the URL, not its 17 event_type filters
    (they made each line ~700 characters)."""
    from reactor.engine.engine import EVENT_TYPES
    from reactor.localmarathon.server import LocalMarathon

    async with LocalMarathon(host="127.0.0.1", port=0, executor="virtual",
                             credentials="ops:right") as lm, \
            MarathonClient([lm.url], username="ops", password="wrong") as client, \
            EventWatcher(client, on_event=lambda e: None, on_resync=lambda s: None,
                         event_types=EVENT_TYPES, backoff_initial_s=0.01, backoff_max_s=0.02):
        await wait_until(lambda: output.getvalue().count("retrying") >= 2, what="retry lines")
    lines = output.getvalue().splitlines()
    refused = [ln for ln in lines if "/v2/events" in ln]
    assert refused, lines
    assert all("event_type=" not in ln and len(ln) < 600 for ln in refused), refused
    assert all("/v2/events?..." in ln for ln in refused), refused


async def test_a_malformed_client_request_is_one_warning_without_traceback(output: io.StringIO) -> None:
    """A header over aiohttp's limit, sent to the daemon's API server: the client gets 400, the
    log one warning line naming it (was: an error with the HTTP parser's traceback)."""
    async with ApiServer(web.Application(), "127.0.0.1:0") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /v1/deployments HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        await writer.drain()
        answer = await reader.read(100)
        writer.close()
        await wait_until(lambda: "aiohttp.server" in output.getvalue(), what="the server's log line")
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer
    lines = [json.loads(ln) for ln in output.getvalue().splitlines() if "aiohttp.server" in ln]
    assert len(lines) == 1 and lines[0]["level"] == "warning", lines
    assert "answered 400" in lines[0]["event"] and "8190 bytes" in lines[0]["event"], lines
    assert "exception" not in lines[0] and "Traceback" not in output.getvalue()
