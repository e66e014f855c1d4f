"""Legacy run-record shapes (0.1-0.5) and the one-step migrators that lift them to 0.6.

Results files outlive the code that wrote them. Each legacy shape is a pydantic model here, so a
legacy line is checked as strictly as a current one, and each migrator is a pure function from one
version's dict to the next version's dict; ``upgrade`` runs the chain 0.1 -> ... -> 0.5 -> 0.6.
A 0.4 record is a v0.4-rules run in which everyone voted; lifting it to 0.5 adds what that
implies (rules v0.4, full turnout, quorum 0, the ending read off the rounds) and leaves null what
it did not record (per-agent utility and whale-signal follows; concentration without inline
agents).
Every legacy run had one influence round (the two-round cascade), so per-round and per-agent flip
data derive exactly from the votes; values that no legacy line holds get documented, deterministic
fillers. The shapes and every filled-in value are described in docs/schema.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
)

from simulator.concentration import gini, nakamoto
from simulator.errors import MigrationError
from simulator.messages import AliasOnlyModel, ErrorText
from simulator.params import Archetype, RuleSet, SimParams
from simulator.records.schema import SCHEMA_VERSION, Share

__all__ = [
    "LEGACY_VERSIONS",
    "STEPS",
    "UNKNOWN_CODE_VERSION",
    "UNKNOWN_TIMESTAMP",
    "V01Record",
    "V02Record",
    "V03Record",
    "derived_uuid4",
    "detect_version",
    "upgrade",
]

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Json = dict[str, Any]

UNKNOWN_TIMESTAMP = "1970-01-01T00:00:00"
"""The 0.1 writer recorded no time; migrated 0.1 records carry the Unix epoch, meaning unknown."""
UNKNOWN_CODE_VERSION = "unknown"
"""Writers before 0.3 recorded no code version."""
LEGACY_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")


_TEXT = ErrorText(root="record")
"""Legacy records are worded like current ones: ``0.1 record: field.path: reason``."""


class _Legacy(AliasOnlyModel):
    """Base of the legacy record shapes."""


class V01Record(_Legacy):
    """0.1: flat keys, no schema_version, run_id or timestamp; global influence (no network)."""

    seed: NonNegativeInt
    num_agents: PositiveInt
    conformity_threshold: Share
    whale_ratio: Share
    proposal_risk: Share
    proposal_yield: Share
    proposal_complexity: Share
    yes_initial: NonNegativeInt
    no_initial: NonNegativeInt
    yes_final: NonNegativeInt
    no_final: NonNegativeInt
    stake_yes_initial: NonNegFloat
    stake_no_initial: NonNegFloat
    stake_yes_final: NonNegFloat
    stake_no_final: NonNegFloat
    flips: NonNegativeInt
    whale_followers: NonNegativeInt
    passed: bool


class _Count(_Legacy):
    yes: NonNegativeInt
    no: NonNegativeInt


class _Stake(_Legacy):
    yes: NonNegFloat
    no: NonNegFloat


class _Proposal(_Legacy):
    risk: Share
    yield_: Share = Field(alias="yield")
    complexity: Share


class V02Params(_Legacy):
    """0.2/0.3 parameters: the network arrived in 0.2; no rounds, archetype mix or mean degree."""

    agents: PositiveInt
    conformity_threshold: Share
    whale_ratio: Share
    influence_model: Literal["erdos_renyi", "small_world"]
    network_density: Share
    rewire_prob: Share


class _V02Weighted(_Legacy):
    initial: _Stake
    final: _Stake


class _V02Votes(_Legacy):
    initial: _Count
    final: _Count
    weighted: _V02Weighted
    passed: bool


class _V02Flips(_Legacy):
    total: NonNegativeInt
    yes_to_no: NonNegativeInt
    no_to_yes: NonNegativeInt
    whale_followers: NonNegativeInt


class V02Record(_Legacy):
    """0.2: versioned and nested; run_id, naive UTC timestamp, network parameters; no agents."""

    schema_version: Literal["0.2"]
    run_id: str
    timestamp: str
    seed: NonNegativeInt
    params: V02Params
    proposal: _Proposal
    votes: _V02Votes
    flips: _V02Flips


class _V03Weighted(_V02Weighted):
    total_stake: NonNegFloat


class _V03Votes(_Legacy):
    initial: _Count
    final: _Count
    weighted: _V03Weighted
    passed: bool
    passed_initial: bool


class _V03Flips(_Legacy):
    total: NonNegativeInt
    yes_to_no: NonNegativeInt
    no_to_yes: NonNegativeInt
    whale_signal_followers: NonNegativeInt


class V03Agent(_Legacy):
    """0.3 per-agent record: neighbour lists instead of degrees, votes as "yes"/"no"."""

    id: NonNegativeInt
    archetype: Archetype
    stake: NonNegFloat
    risk_tolerance: Share
    conformity: Share
    threshold: Share
    neighbors: list[NonNegativeInt]
    initial_vote: Literal["yes", "no"]
    final_vote: Literal["yes", "no"]


class V03Record(_Legacy):
    """0.3: UTC timestamps, code_version, total stake, passed_initial, optional agent records."""

    schema_version: Literal["0.3"]
    run_id: str
    timestamp: str
    seed: NonNegativeInt
    code_version: str
    params: V02Params
    proposal: _Proposal
    votes: _V03Votes
    flips: _V03Flips
    agents: list[V03Agent] | None = None


def _parse(model: type[_Legacy], obj: Json, version: str) -> Any:
    try:
        text = json.dumps(obj, allow_nan=True)
        return model.model_validate_json(text, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        message = _TEXT.first(exc, source=f"{version} record", more="more problems")
        raise MigrationError(message) from exc


def derived_uuid4(obj: Json) -> str:
    """A UUID4-shaped id from the SHA-256 of a record's canonical JSON: same line, same id."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _split_flips(total: int, net: int, where: str) -> tuple[int, int]:
    """(yes_to_no, no_to_yes) from the flip total and the net change of yes votes."""
    if abs(net) > total or (total + net) % 2:
        raise MigrationError(
            f"{where}: {total} flips cannot change the yes count by {net:+d} "
            "(a flip moves one vote)"
        )
    return (total - net) // 2, (total + net) // 2


def v01_to_v02(obj: Json) -> Json:
    """0.1 -> 0.2: nest the flat keys, derive a run_id; global influence is a complete graph."""
    r: V01Record = _parse(V01Record, obj, "0.1")
    yes_to_no, no_to_yes = _split_flips(r.flips, r.yes_final - r.yes_initial, "flips")
    return {
        "schema_version": "0.2",
        "run_id": derived_uuid4(obj),
        "timestamp": UNKNOWN_TIMESTAMP,
        "seed": r.seed,
        "params": {
            "agents": r.num_agents,
            "conformity_threshold": r.conformity_threshold,
            "whale_ratio": r.whale_ratio,
            "influence_model": "erdos_renyi",
            "network_density": 1.0,
            "rewire_prob": SimParams.model_fields["rewire_prob"].default,
        },
        "proposal": {
            "risk": r.proposal_risk,
            "yield": r.proposal_yield,
            "complexity": r.proposal_complexity,
        },
        "votes": {
            "initial": {"yes": r.yes_initial, "no": r.no_initial},
            "final": {"yes": r.yes_final, "no": r.no_final},
            "weighted": {
                "initial": {"yes": r.stake_yes_initial, "no": r.stake_no_initial},
                "final": {"yes": r.stake_yes_final, "no": r.stake_no_final},
            },
            "passed": r.passed,
        },
        "flips": {
            "total": r.flips,
            "yes_to_no": yes_to_no,
            "no_to_yes": no_to_yes,
            "whale_followers": r.whale_followers,
        },
    }


def _utc_timestamp(text: str, *, naive_is_utc: bool) -> str:
    """ISO 8601 in UTC with ``Z``; 0.2 wrote naive UTC times (``datetime.utcnow()``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MigrationError(f"timestamp: {text!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None and not naive_is_utc:
        raise MigrationError(f"timestamp: {text!r} has no UTC offset")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _uuid4_or_derived(run_id: str, obj: Json) -> str:
    try:
        parsed = uuid.UUID(run_id)
    except ValueError:
        return derived_uuid4(obj)
    return str(parsed) if parsed.version == 4 else derived_uuid4(obj)


def v02_to_v03(obj: Json) -> Json:
    """0.2 -> 0.3: UTC timestamp, total stake, passed_initial, renamed whale counter."""
    r: V02Record = _parse(V02Record, obj, "0.2")
    w = r.votes.weighted
    return {
        "schema_version": "0.3",
        "run_id": _uuid4_or_derived(r.run_id, obj),
        "timestamp": _utc_timestamp(r.timestamp, naive_is_utc=True),
        "seed": r.seed,
        "code_version": UNKNOWN_CODE_VERSION,
        "params": r.params.model_dump(),
        "proposal": r.proposal.model_dump(by_alias=True),
        "votes": {
            "initial": r.votes.initial.model_dump(),
            "final": r.votes.final.model_dump(),
            "weighted": {**w.model_dump(), "total_stake": w.initial.yes + w.initial.no},
            "passed": r.votes.passed,
            "passed_initial": w.initial.yes > w.initial.no,
        },
        "flips": {
            "total": r.flips.total,
            "yes_to_no": r.flips.yes_to_no,
            "no_to_yes": r.flips.no_to_yes,
            "whale_signal_followers": r.flips.whale_followers,
        },
    }


def _agents_v04(agents: list[V03Agent]) -> list[Json]:
    """0.4 per-agent records: degree from the neighbour list, flips from the two votes."""
    index = {a.id: k for k, a in enumerate(agents)}
    if len(index) != len(agents):
        raise MigrationError("agents: ids are not unique")
    neighbours = [set(a.neighbors) for a in agents]
    for k, a in enumerate(agents):
        for j in neighbours[k]:
            if j == a.id:
                raise MigrationError(f"agents.{k}.neighbors: lists the agent itself ({j})")
            if j not in index:
                raise MigrationError(f"agents.{k}.neighbors: {j} is not an agent id")
            if a.id not in neighbours[index[j]]:
                raise MigrationError(
                    f"agents.{k}.neighbors: lists {j}, but agent {j} does not list {a.id} "
                    "(the network is undirected)"
                )
    out = []
    for k, a in enumerate(agents):
        flipped = a.initial_vote != a.final_vote
        out.append(
            {
                "id": a.id,
                "archetype": a.archetype.value,
                "stake": a.stake,
                "risk_tolerance": a.risk_tolerance,
                "conformity": a.conformity,
                "threshold": a.threshold,
                "degree": len(neighbours[k]),
                "initial_vote": a.initial_vote == "yes",
                "final_vote": a.final_vote == "yes",
                "flip_count": int(flipped),
                "flip_round": 1 if flipped else None,
            }
        )
    return out


def v03_to_v04(obj: Json) -> Json:
    """0.3 -> 0.4: one influence round made explicit, full params, agent_records reference."""
    r: V03Record = _parse(V03Record, obj, "0.3")
    f = r.flips
    params = SimParams(**r.params.model_dump(), cascade_rounds=1, rules=RuleSet.V0_4)
    params_04 = params.model_dump(mode="json")
    del params_04["rules"]  # schema 0.4 predates the rule set; 0.4 -> 0.5 makes it explicit
    record: Json = {
        "schema_version": "0.4",
        "run_id": _uuid4_or_derived(r.run_id, obj),
        "timestamp": _utc_timestamp(r.timestamp, naive_is_utc=False),
        "seed": r.seed,
        "base_seed": r.seed,
        "run_index": 0,
        "code_version": r.code_version,
        "params": params_04,
        "proposal": r.proposal.model_dump(by_alias=True),
        "votes": r.votes.model_dump(),
        "flips": {
            "total": f.total,
            "yes_to_no": f.yes_to_no,
            "no_to_yes": f.no_to_yes,
            "per_round": [f.total],
            "whale_signal_followers": f.whale_signal_followers,
        },
        "influence_model": r.params.influence_model,
        "cascade_rounds": 1,
        "agents_flipped_total": f.total,
        "agent_records": {"mode": "none", "path": None, "sha256": None, "count": 0},
        "agents": None,
    }
    if r.agents is not None:
        record["agents"] = _agents_v04(r.agents)
        record["agent_records"].update(mode="inline", count=len(r.agents))
    return record


def _field(obj: Json, *path: str) -> Any:
    value: Any = obj
    for i, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            raise MigrationError(f"{'.'.join(path[: i + 1])}: missing field")
        value = value[key]
    return value


def _ending(per_round: list[int]) -> Json:
    """The ending of a v0.4 cascade: converged after a round without flips, else the cap."""
    if per_round and per_round[-1] == 0:
        changed = [k + 1 for k, flips in enumerate(per_round) if flips]
        return {
            "ending": "converged",
            "converged_round": changed[-1] if changed else 0,
            "period": None,
        }
    return {"ending": "round_cap", "converged_round": None, "period": None}


def v04_to_v05(obj: Json) -> Json:
    """0.4 -> 0.5: rules v0.4 made explicit, everyone voted, quorum 0, the ending, new names."""
    params = dict(_field(obj, "params"))
    if params.get("rules", "v0.4") != "v0.4":
        raise MigrationError(f"params.rules: {json.dumps(params['rules'])}, expected v0.4")
    params["rules"] = "v0.4"  # explicit: the record must not depend on the default rule set
    votes, flips = _field(obj, "votes"), dict(_field(obj, "flips"))
    final = _field(obj, "votes", "weighted", "final")
    if not isinstance(final, dict) or not all(
        isinstance(final.get(k), int | float) for k in ("yes", "no")
    ):
        raise MigrationError("votes.weighted.final: expected yes and no stakes")
    per_round = _field(obj, "flips", "per_round")
    if not isinstance(per_round, list):
        raise MigrationError("flips.per_round: expected a list")
    flips["whale_signal_follow_events"] = flips.pop("whale_signal_followers", None)
    agents = obj.get("agents")
    concentration = None
    if isinstance(agents, list) and agents:
        stakes = [a.get("stake") if isinstance(a, dict) else None for a in agents]
        if all(isinstance(x, int | float) and math.isfinite(x) and x >= 0 for x in stakes):
            power = np.asarray(stakes, dtype=np.float64)
            concentration = {"gini": gini(power), "nakamoto": nakamoto(power)}
        agents = [
            {**a, "participated": True, "utility": None, "whale_signal_follows": None}
            if isinstance(a, dict)
            else a
            for a in agents
        ]
    record = {
        key: value
        for key, value in obj.items()
        if key not in ("schema_version", "params", "votes", "flips", "agents")
    }
    passed, passed_initial = votes.get("passed"), votes.get("passed_initial")
    return {
        "schema_version": "0.5",
        **{
            k: record[k]
            for k in ("run_id", "timestamp", "seed", "base_seed", "run_index")
            if k in record
        },
        "code_version": record.get("code_version"),
        "params": params,
        "rules": "v0.4",
        "schedule": "synchronous",
        "calibration": "none",
        "proposal": record.get("proposal"),
        "turnout": {
            "votes_cast": params.get("agents"),
            "stake_cast": final["yes"] + final["no"],  # everyone voted
            "quorum": 0.0,
            "quorum_met": True,
        },
        "votes": votes,
        "outcome_changed_by_cascade": passed != passed_initial,
        "concentration": concentration,
        "flips": flips,
        **{k: record[k] for k in ("influence_model", "cascade_rounds") if k in record},
        "cascade": _ending(per_round),
        **{k: v for k, v in record.items() if k in ("agents_flipped_total", "agent_records")},
        "agents": agents,
    }


def v05_to_v06(obj: Json) -> Json:
    """0.5 -> 0.6: the version only. 0.6 added the research scenarios' blocks (docs/model.md,
    section 11), which a record holds only when its run switched a scenario on, and no 0.5 run
    could; every 0.5 field keeps its name and meaning."""
    if not isinstance(obj.get("params"), dict):
        raise MigrationError("params: expected an object")
    return {**obj, "schema_version": "0.6"}


STEPS: dict[str, tuple[str, Callable[[Json], Json]]] = {
    "0.1": ("0.2", v01_to_v02),
    "0.2": ("0.3", v02_to_v03),
    "0.3": ("0.4", v03_to_v04),
    "0.4": ("0.5", v04_to_v05),
    "0.5": ("0.6", v05_to_v06),
}
"""Per-version migrators: version -> (next version, pure function on dicts)."""


def detect_version(obj: Json) -> str:
    """The schema version of a parsed line: its ``schema_version``, or "0.1" when it has none."""
    if "schema_version" not in obj:
        return "0.1"
    version = obj["schema_version"]
    known = (*LEGACY_VERSIONS, SCHEMA_VERSION)
    if version not in known:
        raise MigrationError(
            f"schema_version: {json.dumps(version)} is not a known version "
            f"({', '.join(known)}, or absent for 0.1)"
        )
    return str(version)


def upgrade(obj: Json) -> Json:
    """Migrate a legacy record (a dict) to a 0.6 dict; a 0.6 record is returned as it is."""
    version = detect_version(obj)
    while version != SCHEMA_VERSION:
        version, step = STEPS[version]
        obj = step(obj)
    return obj
