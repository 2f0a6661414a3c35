"""One kazoo session seen from asyncio, with the fencing clock the ZooKeeper backend trusts.

Owns the KazooClient (threading handler), bridging its async results onto the event loop (no
kazoo call blocks the loop), the connection state (SUSPENDED/LOST) and *when the server was
last heard from*. kazoo does not stop a replica frozen past its session (SIGSTOP) from acting
when it wakes up: its connection thread notices the expiry only later. So trust is our own:
the server cannot have expired the session before `sent + session timeout` of the last request
it answered (the server resets expiry on every packet it receives, and the packet left at
`sent`), so a lease is trusted only until `sent + session timeout * TRUST_FRACTION` on the
monotonic clock, which keeps running while the process is stopped. It must not know the data
layout (zookeeper_backend does) nor decide anything about deployments.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, KazooException, UnimplementedError
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.retry import KazooRetry

from reactor.adapters.store import zookeeper_multiread as mr
from reactor.adapters.store.lease_clock import lease_clock

#: the session is trusted for this fraction of its timeout after the last answered request
TRUST_FRACTION = 0.6
#: one read of `call_with_reads`: ("children" | "data", absolute path)
Read = tuple[str, str]


def _kazoo_error(exc: BaseException) -> BaseException:
    """A failed request's error as a kazoo exception: kazoo fails the request it expected with a
    RuntimeError when an answer comes out of turn (then drops the connection)."""
    if isinstance(exc, (KazooException, TimeoutError)):
        return exc
    return ConnectionLoss(f"{type(exc).__name__}: {exc}")


class ZkSession:
    """A started KazooClient; `call()` awaits one kazoo async operation with a deadline."""

    def __init__(self, hosts: str, *, session_timeout_s: float,
                 monotonic: Callable[[], float] = lease_clock) -> None:
        self.timeout_s = session_timeout_s
        self._monotonic = monotonic
        retry = KazooRetry(max_tries=-1, delay=0.05, max_delay=1.0)
        self.client = KazooClient(hosts=hosts, timeout=session_timeout_s, connection_retry=retry)
        self.state = KazooState.LOST  # until the first CONNECTED
        self._heard: tuple[int, float] | None = None  # (session id, monotonic time sent)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_lost: Callable[[], None] = lambda: None
        self._on_suspended: Callable[[], None] = lambda: None
        self._connected = asyncio.Event()
        self.ops = 0  # requests sent to ZooKeeper (heartbeats included), for benchmarks/metrics
        self.beats = 0  # of which heartbeats
        #: the server this connection reaches takes multiRead (ZooKeeper 3.6+); None until
        #: `probe_multi_read` has asked it (again after every reconnect)
        self.multi_read: bool | None = None
        self._connections = 0  # connections made, to tell whether an answer is still about ours
        self.client.add_listener(self._listener)

    # lifecycle ---------------------------------------------------------------------------------
    def start(self, on_lost: Callable[[], None], on_suspended: Callable[[], None]) -> None:
        """Start connecting in the background (kazoo retries forever); never blocks."""
        self._loop = asyncio.get_running_loop()
        self._on_lost, self._on_suspended = on_lost, on_suspended
        self.client.start_async()

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> None:
        self.client.stop()
        self.client.close()

    def _listener(self, state: str) -> None:
        """kazoo's connection thread: fence at once (plain assignments), then tell the loop."""
        self.state = state
        if state != KazooState.CONNECTED:
            with self._lock:
                self._heard = None
            self.multi_read = None  # kazoo may reconnect to another server, maybe older
        else:
            self._connections += 1
        if state == KazooState.CONNECTED:
            callback = self._connected.set
        else:
            callback = self._on_lost if state == KazooState.LOST else self._on_suspended
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(callback)
            except RuntimeError:  # loop closed at shutdown
                pass

    # fencing -----------------------------------------------------------------------------------
    def session_id(self) -> int | None:
        client_id = self.client.client_id
        return None if client_id is None or self.state != KazooState.CONNECTED else int(client_id[0])

    def trusted(self, session_id: int) -> bool:
        """Connected, same session, and the server answered recently enough (see module doc)."""
        if self.state != KazooState.CONNECTED or self.session_id() != session_id:
            return False
        with self._lock:
            heard = self._heard
        return (heard is not None and heard[0] == session_id
                and self._monotonic() < heard[1] + self.timeout_s * TRUST_FRACTION)

    def _mark_heard(self, session_id: int | None, sent: float) -> None:
        if session_id is None or self.session_id() != session_id:
            return
        with self._lock:
            if self._heard is None or self._heard[0] != session_id or self._heard[1] < sent:
                self._heard = (session_id, sent)

    # calls ---------------------------------------------------------------------------------------
    async def call(self, start: Callable[[], Any]) -> Any:
        """Run `start()` (a kazoo *_async call) and await its result, at most one session timeout.

        Raises the kazoo exception, or TimeoutError when the server did not answer in time."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        session, sent = self.session_id(), self._monotonic()

        def settle(result: Any) -> None:
            if fut.done():
                return
            if result.successful():
                fut.set_result(result.value)
            else:
                fut.set_exception(_kazoo_error(result.exception))

        def done(result: Any) -> None:  # kazoo's callback thread
            try:
                loop.call_soon_threadsafe(settle, result)
            except RuntimeError:
                pass

        self.ops += 1
        start().rawlink(done)
        value = await asyncio.wait_for(fut, self.timeout_s)
        self._mark_heard(session, sent)
        return value

    async def call_many(self, starts: list[Callable[[], Any]]) -> list[Any]:
        """Run kazoo *_async calls all at once and await them together: each one's value, or the
        kazoo exception it raised, in order (TimeoutError if they are not all answered within a
        session timeout). One hand-off to the event loop for all of them: with 50 claims, a
        future, a timer and a wake-up of the loop per request were most of their cost."""
        if not starts:
            return []
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        session, sent = self.session_id(), self._monotonic()
        results: list[Any] = [None] * len(starts)
        remaining = [len(starts)]
        lock = threading.Lock()

        def settle() -> None:
            if not fut.done():
                fut.set_result(None)

        def answered(i: int) -> Callable[[Any], None]:
            def done(result: Any) -> None:  # kazoo's callback thread
                results[i] = result
                with lock:
                    remaining[0] -= 1
                    last = remaining[0] == 0
                if last:
                    try:
                        loop.call_soon_threadsafe(settle)
                    except RuntimeError:
                        pass
            return done

        self.ops += len(starts)
        for i, start in enumerate(starts):
            start().rawlink(answered(i))
        await asyncio.wait_for(fut, self.timeout_s)
        self._mark_heard(session, sent)
        return [r.value if r.successful() else _kazoo_error(r.exception) for r in results]

    async def probe_multi_read(self) -> bool | None:
        """Whether the server this session is connected to takes multiRead (3.6+), read from its
        `srvr` answer on a socket of its own (kazoo's `command`): safe at any time. Never asked
        by sending one in the session: a server before 3.6 answers an unknown request out of
        turn, and kazoo's connection thread dies of the mismatch. False when the answer has no
        version (srvr left out of 4lw.commands.whitelist): reads then go one by one. None: not
        connected, or the connection changed meanwhile (asked again later)."""
        if self.session_id() is None:
            return None
        connection = self._connections
        try:
            answer = await asyncio.to_thread(self.client.command, b"srvr")
        except Exception:  # ConnectionLoss, a socket error, the connection gone meanwhile
            return None
        if connection != self._connections or self.session_id() is None:
            return None
        self.multi_read = mr.takes_multi_read(answer)
        return self.multi_read

    def _send(self, request: Any) -> Any:
        """A request kazoo has no method for, sent as its own Transaction.commit_async sends one."""
        result = self.client.handler.async_result()
        self.client._call(request, result)
        return result

    def _read_starts(self, reads: list[Read], multi: bool) -> list[Callable[[], Any]]:
        if multi:
            root = self.client.chroot or ""
            ops = [mr.children(root + p) if kind == "children" else mr.data(root + p) for kind, p in reads]
            return [lambda: self._send(mr.MultiRead(ops))]
        zk = self.client

        def start(kind: str, path: str) -> Callable[[], Any]:
            if kind == "children":
                return lambda: zk.get_children_async(path)
            return lambda: zk.get_async(path)
        return [start(kind, path) for kind, path in reads]

    async def call_with_reads(self, starts: list[Callable[[], Any]],
                              reads: list[Read]) -> tuple[list[Any], list[Any]]:
        """`call_many(starts)` with the reads sent right after them, together: (the starts'
        answers, each read's answer: a list of names, (data, stat), or its kazoo exception, e.g.
        NoNodeError). The reads are one multiRead when the server is known to take it, else one
        request each. One session's requests are answered in order: the reads see what the
        starts wrote."""
        # decided when sent: a request queued before a drop is failed by kazoo, not re-sent
        multi = bool(self.multi_read and reads and self.client.client_state == KeeperState.CONNECTED)
        got = await self.call_many([*starts, *self._read_starts(reads, multi)])
        answers, rest = got[:len(starts)], got[len(starts):]
        if multi:
            single = rest[0]
            if isinstance(single, Exception):
                if isinstance(single, UnimplementedError):  # a server before 3.6 after all
                    self.multi_read = False
                rest = [single] * len(reads)
            elif len(single) != len(reads):
                wrong = KazooException(f"multiRead: {len(single)} answers to {len(reads)} reads")
                rest = [wrong] * len(reads)
            else:
                rest = list(single)
        return answers, rest

    async def heartbeat(self) -> None:
        """One round trip: refreshes the trust window while the session is healthy."""
        self.beats += 1
        await self.call(lambda: self.client.exists_async("/"))

    async def wait_connected(self, timeout_s: float) -> bool:
        """True once connected (at most `timeout_s`); kazoo keeps retrying either way."""
        if self.session_id() is None:
            self._connected.clear()
            try:
                await asyncio.wait_for(self._connected.wait(), timeout_s)
            except TimeoutError:
                return False
        return self.session_id() is not None
