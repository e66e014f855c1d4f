"""Governance cascade simulator: agents, influence networks, cascades and run records."""

from simulator.params import (
    AgentRecords,
    Archetype,
    ArchetypeMix,
    InfluenceModel,
    SimParams,
    Traces,
)
from simulator.records.schema import SCHEMA_VERSION, RunRecord

__version__ = "0.4.0"

__all__ = [
    "SCHEMA_VERSION",
    "AgentRecords",
    "Archetype",
    "ArchetypeMix",
    "InfluenceModel",
    "RunRecord",
    "SimParams",
    "Traces",
    "__version__",
]
