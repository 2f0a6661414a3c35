"""A real standalone ZooKeeper for tests: own config, data directory and free port, run in the
foreground (Debian's `zookeeper` package; `.ci/setup` installs it) and stopped by the test.

Owns starting, waiting for `srvr` to report a Mode, restarting (same data, same port) and
stopping the server. Session expiry is fast: tickTime 100 ms, minSessionTimeout 400 ms. It must
not skip anything: a missing package fails with one line saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.waiting import free_port

JAVA_DIR = Path("/usr/share/java")
JARS = ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-log4j12.jar", "log4j-1.2.jar",
        "netty-handler.jar", "netty-common.jar", "netty-buffer.jar", "netty-transport.jar",
        "netty-codec.jar", "netty-resolver.jar", "netty-transport-native-epoll.jar",
        "netty-transport-native-unix-common.jar", "metrics-core.jar", "commons-io.jar",
        "snappy-java.jar", "commons-cli.jar")
LOG4J = """log4j.rootLogger=WARN, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File={log}
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d %p %c: %m%n
"""
TICK_MS = 100


def _missing() -> str | None:
    if shutil.which("java") is None:
        return "java"
    for jar in JARS[:5]:
        if not (JAVA_DIR / jar).exists():
            return str(JAVA_DIR / jar)
    return None


class ZooKeeperServer:
    """`start()`, `stop()`, `restart()`, `kill()`; `hosts` is the client connect string."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        missing = _missing()
        if missing:
            raise RuntimeError(f"ZooKeeper is missing ({missing} not found): run 'bash .ci/setup' "
                               "(apt-get install -y zookeeper)")
        self.dir = workdir
        self.port = port or free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        (workdir / "zoo.cfg").write_text(
            f"tickTime={TICK_MS}\nminSessionTimeout={4 * TICK_MS}\nmaxSessionTimeout=120000\n"
            f"initLimit=10\nsyncLimit=5\ndataDir={workdir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr,stat\n")
        (workdir / "log4j.properties").write_text(LOG4J.format(log=workdir / "zookeeper.log"))

    def start(self, timeout_s: float = 30.0) -> None:
        classpath = ":".join([str(self.dir)] + [str(JAVA_DIR / j) for j in JARS if (JAVA_DIR / j).exists()])
        argv = ["java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.admin.enableServer=false",
                f"-Dlog4j.configuration=file:{self.dir / 'log4j.properties'}", "-cp", classpath,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.dir / "zoo.cfg")]
        out = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout_s
        while (mode := self.mode()) is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}: see {self.dir}/stdout.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ZooKeeper on {self.hosts} not serving after {timeout_s}s")
            time.sleep(0.05)
        self.server_mode = mode

    def mode(self) -> str | None:
        """`Mode:` from `srvr`, or None while the server does not serve requests."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                s.sendall(b"srvr")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        except OSError:
            return None
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
