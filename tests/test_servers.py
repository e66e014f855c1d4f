"""The test-server helpers: skip locally but fail in CI, and ports that do not collide."""

from __future__ import annotations

import socket

import pytest
from kit.require import require_or_skip
from kit.servers import free_port


@pytest.mark.parametrize("ci", ["", "0", "false"])
def test_missing_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no weed"):
        require_or_skip("no weed")


@pytest.mark.parametrize("ci", ["1", "true", "yes"])
def test_missing_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="no weed"):
        require_or_skip("no weed")


def test_ports_with_offsets_are_bindable_and_never_handed_out_twice() -> None:
    ports = [free_port(offsets=(10000,)) for _ in range(20)] + [free_port() for _ in range(20)]
    wanted = ports[:20] + [p + 10000 for p in ports[:20]] + ports[20:]
    assert len(set(wanted)) == len(wanted)
    for port in wanted:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
