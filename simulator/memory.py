"""How much memory a run needs, and how much this process may still take.

``SimParams`` refuses networks over ``MAX_EDGES`` whatever the machine, but a smaller run can
still be far larger than the memory at hand: ``govsim --agents 100000`` under rules v0.4 (default
density 0.2) is about 10^9 edges, some 64 GB. Left alone, numpy fails deep inside an allocation
(or the kernel kills the process), so ``govsim`` compares :func:`run_memory_bytes` with
:func:`available_memory_bytes` before it starts and refuses a run that cannot fit.

The estimate is the measured peak of ``simulate`` (about 58-66 bytes per edge while the network
is built and multiplied, about 70 bytes per agent for the agent arrays; rounded up) plus, for
inline agent records, the record objects and their JSON (about 2.1 KB per agent). The available
memory is the smallest of what the kernel reports as available (``MemAvailable``), what the
cgroup limit leaves (containers, pods) and what the address-space limit leaves (``ulimit -v``).
"""

from __future__ import annotations

import resource
from pathlib import Path

from simulator.params import AgentRecords, SimParams

__all__ = [
    "BYTES_PER_AGENT",
    "BYTES_PER_EDGE",
    "BYTES_PER_INLINE_AGENT",
    "available_memory_bytes",
    "memory_problem",
    "run_memory_bytes",
]

BYTES_PER_EDGE = 64
"""Peak bytes per expected undirected edge while a run builds and uses its network."""
BYTES_PER_AGENT = 128
"""Peak bytes per agent for the agent arrays, votes and flips."""
BYTES_PER_INLINE_AGENT = 2560
"""Extra bytes per agent when per-agent records go inline into the JSONL record."""

_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")
_STATUS = Path("/proc/self/status")


def run_memory_bytes(params: SimParams, agent_records: AgentRecords = AgentRecords.NONE) -> int:
    """Estimated peak memory of one run with these parameters, in bytes."""
    per_agent = BYTES_PER_AGENT
    if agent_records is AgentRecords.INLINE:
        per_agent += BYTES_PER_INLINE_AGENT
    # a governance attack's sybils join the network with the network's mean degree each
    sybils = params.attack_sybils
    sybil_links = sybils * min(params.expected_degree(), float(params.agents))
    edges = params.expected_edges() + sybil_links
    return int(BYTES_PER_EDGE * edges + per_agent * params.agents + BYTES_PER_AGENT * sybils)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _status_kib(text: str, key: str) -> int | None:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def available_memory_bytes() -> int | None:
    """Bytes this process may still allocate, or None where the system does not say."""
    limits: list[int] = []
    try:
        meminfo = _MEMINFO.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        meminfo = ""
    available = _status_kib(meminfo, "MemAvailable")
    if available is not None:
        limits.append(available)
    cgroup_max, cgroup_now = (
        _read_int(_CGROUP / "memory.max"),
        _read_int(_CGROUP / "memory.current"),
    )
    if cgroup_max is not None and cgroup_now is not None:
        limits.append(max(0, cgroup_max - cgroup_now))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            status = _STATUS.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            status = ""
        used = _status_kib(status, "VmSize") or 0
        limits.append(max(0, soft - used))
    return min(limits) if limits else None


def memory_problem(
    params: SimParams, agent_records: AgentRecords = AgentRecords.NONE
) -> str | None:
    """Why a run with these parameters will not fit in the memory left, or None if it may."""
    needed = run_memory_bytes(params, agent_records)
    available = available_memory_bytes()
    if available is None or needed <= available:
        return None
    inline = agent_records is AgentRecords.INLINE
    return (
        f"{params.agents} agents at mean degree {params.expected_degree():.4g} "
        f"(about {params.expected_edges():.2g} edges)"
        f"{' with inline agent records' if inline else ''} need about {_gigabytes(needed)} "
        f"of memory, and {_gigabytes(available)} is available; use fewer agents or a smaller "
        f"mean degree{', or agent records parquet or none' if inline else ''}"
    )


def _gigabytes(n: int) -> str:
    return f"{n / 1e9:.3g} GB"
