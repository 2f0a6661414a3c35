"""ZooKeeper's multiRead as a kazoo request: many reads answered in one request.

ZooKeeper 3.6 and later take a list of getChildren/getData operations as one request (opcode 22,
`ZooKeeper.multi` of read ops in the Java client) and answer each, a missing znode as that
operation's own error (the others still answered: unlike a transaction nothing is all or
nothing). kazoo 2.x has no API for it, but sends any request object that has a `type`,
`serialize()` and `deserialize()`, as its own `Transaction` is. With 50 claims at once, the 100
reads sent as separate requests cost about 0.25 ms of client CPU each in kazoo's threads, on the
interpreter lock the event loop needs; one multiRead costs one request.

Servers before 3.6 answer an unknown request with UNIMPLEMENTED at once, before what was sent
earlier, which kazoo takes for a broken stream (its connection thread dies). So a multiRead is
sent only to a server whose `srvr` answer names 3.6 or later (`takes_multi_read`), asked again
after every reconnect; until then, reads go one by one.

Owns the wire format only: it must not talk to ZooKeeper (zookeeper_session does).
"""

from __future__ import annotations

import re
from collections import namedtuple
from typing import Any

from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.serialization import (
    GetChildren,
    GetData,
    MultiHeader,
    ZnodeStat,
    int_struct,
    multiheader_struct,
    read_buffer,
    read_string,
    stat_struct,
)

#: ZooDefs.OpCode.multiRead
MULTI_READ = 22
#: ZooDefs.OpCode.error: the header of one operation's error in a multi answer
_ERROR = -1


def takes_multi_read(srvr: str) -> bool:
    """From a server's answer to the `srvr` four-letter word ("Zookeeper version: 3.8.0-…"):
    3.6 or later. An answer without a version (the command not whitelisted) is False."""
    found = re.search(r"version: (\d+)\.(\d+)", srvr)
    return found is not None and (int(found[1]), int(found[2])) >= (3, 6)


def children(path: str) -> GetChildren:
    """One getChildren operation (no watch)."""
    return GetChildren(path, None)


def data(path: str) -> GetData:
    """One getData operation (no watch)."""
    return GetData(path, None)


class MultiRead(namedtuple("MultiRead", "operations")):
    """The request: each operation a MultiHeader then its own request record (path, watch flag),
    ended by the header (-1, done, -1). The answer, per operation in order: a list of child names,
    (data, ZnodeStat), or the kazoo exception of its error (NoNodeError for a missing znode)."""

    type = MULTI_READ

    def serialize(self) -> bytearray:
        out = bytearray()
        for op in self.operations:
            out += MultiHeader(op.type, False, -1).serialize()
            out += op.serialize()
        return out + multiheader_struct.pack(-1, True, -1)

    @classmethod
    def deserialize(cls, buf: bytes, offset: int) -> list[Any]:
        results: list[Any] = []
        while True:
            kind, done, _err = multiheader_struct.unpack_from(buf, offset)
            offset += multiheader_struct.size
            if done:
                return results
            if kind == GetChildren.type:
                count = int_struct.unpack_from(buf, offset)[0]
                offset += int_struct.size
                names = []
                for _ in range(max(count, 0)):
                    name, offset = read_string(buf, offset)
                    names.append(name)
                results.append(names)
            elif kind == GetData.type:
                value, offset = read_buffer(buf, offset)
                stat = ZnodeStat._make(stat_struct.unpack_from(buf, offset))
                offset += stat_struct.size
                results.append((value, stat))
            elif kind == _ERROR:
                code = int_struct.unpack_from(buf, offset)[0]
                offset += int_struct.size
                results.append(EXCEPTIONS[code]())
            else:
                raise ValueError(f"multiRead answer: unexpected operation type {kind}")
