"""The v0.5 run record: one JSON object per line of a results file.

This module is the single definition of the record. ``run-record.schema.json`` beside it is
generated from it (``python -m simulator.records.schema --write``) and a test fails if the
checked-in copy drifts.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    UUID4,
    AfterValidator,
    BaseModel,
    Field,
    NonNegativeInt,
    PositiveInt,
)

from simulator.atomic import write_atomic
from simulator.messages import STRICT_ALIAS_CONFIG, AliasOnlyModel
from simulator.model import Ending
from simulator.params import (
    AgentRecords,
    Archetype,
    Calibration,
    CoalitionRule,
    RuleSet,
    Schedule,
    SimParams,
)

SCHEMA_VERSION = "0.6"
SCHEMA_PATH = Path(__file__).with_name("run-record.schema.json")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
        raise ValueError("timestamp must be in UTC (ISO 8601 with Z or +00:00)")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    # A field with an alias is accepted by its alias only: a record with ``yield_`` beside
    # ``yield`` is invalid. Models with aliased fields derive from ``AliasOnlyModel`` (pydantic
    # 2.13's JSON mode ignores this config); the others skip that per-row cost.
    model_config = STRICT_ALIAS_CONFIG


class ProposalBlock(AliasOnlyModel):
    """The proposal agents vote on; each attribute is in [0, 1]."""

    risk: Share
    yield_: Share = Field(alias="yield")
    complexity: Share


class Count(_Strict):
    """Head count of yes and no votes."""

    yes: NonNegativeInt
    no: NonNegativeInt


class Stake(_Strict):
    """Stake-weighted yes and no totals."""

    yes: Annotated[float, Field(ge=0)]
    no: Annotated[float, Field(ge=0)]


class Weighted(_Strict):
    """Stake-weighted tallies over the votes cast, before and after the influence phase."""

    initial: Stake
    final: Stake
    total_stake: Annotated[float, Field(ge=0)] = Field(
        description="Stake of every agent, voters or not."
    )


class Votes(_Strict):
    """Tallies over the votes cast: head counts initial and final, stake-weighted, the outcome."""

    initial: Count
    final: Count
    weighted: Weighted
    passed: bool = Field(
        description="Quorum met and final stake-weighted yes exceeds final stake-weighted no."
    )
    passed_initial: bool = Field(description="The same test on the round-0 votes.")


class Turnout(_Strict):
    """Who voted: votes and stake cast, and the quorum."""

    votes_cast: NonNegativeInt = Field(description="Agents that voted.")
    stake_cast: Annotated[float, Field(ge=0)] = Field(description="Stake of the agents that voted.")
    quorum: Share = Field(description="Share of the total stake that must vote for a pass.")
    quorum_met: bool = Field(description="stake_cast >= quorum × votes.weighted.total_stake.")


class Cascade(_Strict):
    """How the influence rounds ended."""

    ending: Ending
    converged_round: NonNegativeInt | None = Field(
        description="Ending converged: the last round that changed a vote (0: none did); else null."
    )
    period: Annotated[int, Field(ge=2)] | None = Field(
        description="Ending cycle: the period of the cycle; else null."
    )


class Concentration(_Strict):
    """Concentration of the voting power cast (the stakes of the agents that voted; with
    delegation, their voting power)."""

    gini: Share = Field(description="Gini coefficient (0 when nobody voted).")
    nakamoto: NonNegativeInt = Field(
        description="Fewest voters holding at least half the stake cast (0 when nobody voted)."
    )


class Flips(_Strict):
    """Vote changes during the influence rounds (an agent may flip more than once)."""

    total: NonNegativeInt = Field(description="Flip events over all rounds.")
    yes_to_no: NonNegativeInt
    no_to_yes: NonNegativeInt
    per_round: list[NonNegativeInt] = Field(description="Flip events in rounds 1..cascade_rounds.")
    whale_signal_follow_events: NonNegativeInt = Field(
        description="Agent-rounds in which an agent followed the whale majority against its vote."
    )


class PowerConcentration(_Strict):
    """Concentration of one set of voting powers."""

    top10_share: Share = Field(description="Share held by the 10 largest (1 with 10 or fewer).")
    nakamoto: NonNegativeInt = Field(description="Fewest holders of at least half (0 if none).")
    gini: Share


class DelegationRecord(_Strict):
    """Delegation totals of a run (docs/model.md 11.2); the block is present exactly when
    params.delegation_rate > 0."""

    delegates: NonNegativeInt = Field(
        description="Agents that are delegates (the largest holders)."
    )
    active_delegates: NonNegativeInt = Field(description="Delegates that voted.")
    delegators: NonNegativeInt = Field(description="Agents that delegated to a delegate.")
    overrides: NonNegativeInt = Field(description="Delegators that voted themselves instead.")
    delegated_stake: Annotated[float, Field(ge=0)] = Field(description="Stake of the delegators.")
    overridden_stake: Annotated[float, Field(ge=0)] = Field(
        description="Stake of the delegators that overrode."
    )
    delegated_power_cast: Annotated[float, Field(ge=0)] = Field(
        description="Delegated power of the delegates that voted (part of turnout.stake_cast)."
    )
    votes_cast_without: NonNegativeInt = Field(
        description="Agents that would have voted without delegation, each for itself."
    )
    stake_cast_without: Annotated[float, Field(ge=0)] = Field(
        description="Their stake: the stake cast without delegation."
    )
    with_delegation: PowerConcentration = Field(description="Of the voting power cast.")
    without_delegation: PowerConcentration = Field(
        description="Of the stake cast without delegation."
    )


class AgentRecord(_Strict):
    """One agent's attributes and votes."""

    id: NonNegativeInt
    archetype: Archetype
    stake: Annotated[float, Field(ge=0)]
    risk_tolerance: Share
    conformity: Share
    threshold: Share
    degree: NonNegativeInt
    initial_vote: bool
    final_vote: bool
    flip_count: NonNegativeInt
    flip_round: Annotated[int, Field(ge=1)] | None = Field(
        description="Round of the agent's first flip, or null if it never flipped."
    )
    participated: bool = Field(description="The agent voted (abstainers never flip).")
    utility: float | None = Field(
        description="Round-0 utility (initial_vote is utility > 0); null in migrated records."
    )
    whale_signal_follows: NonNegativeInt | None = Field(
        description="Rounds in which the agent followed the whale majority against its vote; "
        "null in migrated records."
    )
    # delegation (docs/model.md 11.2): present exactly when the run delegates
    delegate: NonNegativeInt | None = Field(
        None,
        description="Delegation: the agent whose vote carries this agent's power (its own id "
        "when it did not delegate).",
    )
    delegated_power: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="Delegation: stake of the agent's delegators that did not override.",
    )
    voting_power: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="Delegation: the power its vote carries: its stake (0 when delegated and "
        "not overridden) plus delegated_power.",
    )
    overrode: bool | None = Field(
        None,
        description="Delegation: a delegator that voted itself with its own stake.",
    )
    bribed: bool | None = Field(
        None,
        description="Governance attack only (absent otherwise): a vote buyer bought the agent, "
        "which votes for the target from round 0 and never flips.",
    )


class AgentRecordsRef(_Strict):
    """Where the per-agent records of this run are."""

    mode: AgentRecords
    path: str | None = Field(
        None, description="Parquet side file, relative to the JSONL file (mode parquet)."
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    count: NonNegativeInt


class TracesRef(_Strict):
    """Where the flip trace of this run is: a Parquet side file of one row per flip event."""

    path: str = Field(description="Parquet side file, relative to the JSONL file.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    count: NonNegativeInt = Field(description="Rows of the trace: flip events (flips.total).")


class LargestBloc(_Strict):
    """The whale bloc, or independent whale, with the largest stake cast."""

    members: PositiveInt = Field(description="Whales in it (1: an independent whale).")
    voters: PositiveInt = Field(description="Its members that voted.")
    stake_cast: Annotated[float, Field(ge=0)] = Field(description="Stake of its voting members.")
    initial_vote: bool = Field(description="Its round-0 vote.")
    final_vote: bool = Field(description="Its vote after the influence rounds.")
    switches: NonNegativeInt = Field(description="Influence rounds in which it changed its vote.")


class CoalitionRecord(_Strict):
    """What the run's whale coalitions did (docs/model.md, section 11.1)."""

    rule: CoalitionRule = Field(description="How a bloc decides (params.coalition_rule).")
    blocs: NonNegativeInt = Field(description="Blocs of two or more whales.")
    members: NonNegativeInt = Field(description="Whales in blocs.")
    voting_blocs: NonNegativeInt = Field(description="Blocs with at least one voting member.")
    overruled: NonNegativeInt = Field(
        description="Voting members whose own round-0 vote (utility > 0) differs from their "
        "bloc's round-0 vote."
    )
    overruled_stake: Annotated[float, Field(ge=0)] = Field(
        description="Stake of the overruled members."
    )
    switches: NonNegativeInt = Field(
        description="Bloc switches over the influence rounds (a bloc changing side in a round "
        "counts once)."
    )
    largest: LargestBloc | None = Field(
        description="The bloc or independent whale with the largest stake cast; null when no "
        "whale voted."
    )


NonNegativeFloat = Annotated[float, Field(ge=0)]


class AttackRecord(_Strict):
    """A governance attack (docs/model.md, section 11.3): what the attacker spent and whether it
    flipped the outcome. Voting power is in tokens; the holders are the run's agents."""

    target: Literal["pass", "fail"] = Field(
        description="The outcome the attacker wants (an auto target resolved)."
    )
    passed_without_attack: bool = Field(
        description="votes.passed of the same run (same draws) without the attack."
    )
    quorum_met_without_attack: bool = Field(
        description="turnout.quorum_met of the same run without the attack."
    )
    succeeded: bool = Field(
        description="The attack flipped the outcome: votes.passed is the target and "
        "passed_without_attack is not."
    )
    holders_stake: NonNegativeFloat = Field(
        description="Total voting power of the holders (the agents): the unit of the budget."
    )
    budget: NonNegativeFloat = Field(
        description="Tokens the attacker may pay for votes: params.attack_budget × holders_stake."
    )
    spent: NonNegativeFloat = Field(description="Tokens paid for the holders bought (<= budget).")
    bribed: NonNegativeInt = Field(description="Holders bought (per-agent bribed true).")
    bribed_abstainers: NonNegativeInt = Field(
        description="Bought holders that would not have voted."
    )
    bribed_stake: NonNegativeFloat = Field(description="Voting power of the holders bought.")
    borrowed_power: NonNegativeFloat = Field(
        description="Voting power borrowed for the vote only (flash loan), cast for the target."
    )
    sybils: NonNegativeInt = Field(description="Sybil accounts (params.attack_sybils).")
    sybil_stake: NonNegativeFloat = Field(description="Voting power of each sybil account.")
    sybil_edges: NonNegativeInt = Field(description="Links between sybils and holders.")


class MevRecord(_Strict):
    """MEV-aware voting (params.mev_share > 0): the run against its honest counterfactual, the
    same run with every extractable value zero (docs/model.md 11.4)."""

    extractors: NonNegativeInt = Field(description="Agents with extractable value.")
    extractors_voting: NonNegativeInt = Field(description="Extractors that voted.")
    utility_spread: Annotated[float, Field(ge=0)] = Field(
        description="Standard deviation of every agent's honest utility (mev_value's unit)."
    )
    value_scale: Annotated[float, Field(ge=0)] = Field(
        description="params.mev_value × utility_spread: the mean value, in utility units."
    )
    votes_changed: NonNegativeInt = Field(
        description="Voters whose round-0 vote differs from their honest one."
    )
    stake_changed: Annotated[float, Field(ge=0)] = Field(description="Their stake.")
    passed_honest: bool = Field(description="The honest counterfactual passed.")
    yes_stake_honest: Annotated[float, Field(ge=0)] = Field(
        description="Final stake-weighted yes of the honest counterfactual."
    )
    outcome_changed_by_mev: bool = Field(description="votes.passed differs from passed_honest.")
    welfare_pass: Annotated[float, Field(ge=-1, le=1)] = Field(
        description="The voters' honest welfare of a pass, sum(stake × utility) / "
        "sum(stake × |utility|); a failure is worth 0."
    )
    welfare_loss: Annotated[float, Field(ge=-1, le=1)] = Field(
        description="Welfare of the honest outcome minus that of the realised one."
    )
    welfare_regret: Share = Field(
        description="Welfare of the better outcome minus that of the realised one."
    )


class TraceStats(_Strict):
    """Cascade trees of the run's flip trace (written with the trace; docs/model.md 11.5)."""

    cascades: NonNegativeInt = Field(description="Cascade trees: flips without a parent flip.")
    whale_signal_cascades: NonNegativeInt = Field(
        description="Trees rooted at a whale follower's flip."
    )
    size_counts: list[tuple[PositiveInt, PositiveInt]] = Field(
        description="[size, trees of that size] pairs, sizes increasing (size: flips in a tree)."
    )
    depth_counts: list[NonNegativeInt] = Field(
        description="Trees of depth 0, 1, ... up to the deepest (depth: generations below the "
        "root)."
    )
    influencers: NonNegativeInt = Field(description="Agents that triggered at least one flip.")
    top_influence: Annotated[float, Field(ge=0)] = Field(
        description="Most flips triggered by one agent (each flip's credit shared equally among "
        "its candidate parents)."
    )
    changed_stake: Annotated[float, Field(ge=0)] = Field(
        description="Stake of the voters whose final vote differs from their round-0 vote."
    )
    whale_signal_stake: Annotated[float, Field(ge=0)] = Field(
        description="The part of changed_stake whose last flip descends from a whale-signal flip."
    )
    whale_signal_share: Share | None = Field(
        description="whale_signal_stake / changed_stake; null when no final vote changed."
    )
    whale_signal_decisive: bool = Field(
        description="The outcome with the whale-driven voters back at their round-0 votes "
        "differs from votes.passed."
    )


OPTIONAL_BLOCKS: tuple[str, ...] = ("coalitions", "delegation", "attack", "mev", "trace_stats")
"""Top-level blocks of research scenarios: written only when the scenario is on, so the record of
a run without scenarios is byte for byte what it was before they existed."""

AGENT_DELEGATION_FIELDS: tuple[str, ...] = (
    "delegate",
    "delegated_power",
    "voting_power",
    "overrode",
)
"""Per-agent fields of delegation: written only when the run delegates (its ``delegation`` block
is there)."""


class RunRecord(_Strict):
    """A v0.6 run record."""

    schema_version: Literal["0.6"]
    run_id: UUID4
    timestamp: UtcDatetime
    seed: NonNegativeInt = Field(description="The seed the run's generator was made from.")
    base_seed: NonNegativeInt = Field(description="The --seed (or sweep seed) it derives from.")
    run_index: NonNegativeInt = Field(
        description="The run's index: its position in its sweep's plan (point-major), or for "
        "govsim runs the SeedSequence child index that gave `seed`."
    )
    code_version: str
    params: SimParams
    rules: RuleSet = Field(description="The run's rule set (params.rules).")
    schedule: Schedule = Field(description="The run's update schedule (params.schedule).")
    calibration: Calibration = Field(
        description="The run's population preset (params.calibration)."
    )
    proposal: ProposalBlock
    turnout: Turnout
    votes: Votes
    outcome_changed_by_cascade: bool = Field(
        description="votes.passed differs from votes.passed_initial."
    )
    concentration: Concentration | None = Field(
        description="Of the voting power cast; null in records migrated without per-agent stakes."
    )
    flips: Flips
    influence_model: str
    cascade_rounds: NonNegativeInt = Field(description="Influence rounds actually run.")
    cascade: Cascade
    agents_flipped_total: NonNegativeInt = Field(description="Agents that flipped at least once.")
    agent_records: AgentRecordsRef
    agents: list[AgentRecord] | None = Field(
        None, description="Per-agent records when agent_records.mode is inline."
    )
    traces: TracesRef | None = Field(
        None, description="The run's flip trace (--traces parquet); null when none was written."
    )
    coalitions: CoalitionRecord | None = Field(
        None,
        description="Whale coalitions (params.coalition_rule not none); absent when they are off.",
    )

    delegation: DelegationRecord | None = Field(
        None,
        description="Delegation totals when the run delegates (params.delegation_rate > 0); "
        "absent otherwise.",
    )

    attack: AttackRecord | None = Field(
        None,
        description="The run's governance attack; absent when the run has none.",
    )

    mev: MevRecord | None = Field(
        None, description="MEV-aware voting; left out when params.mev_share is 0."
    )
    trace_stats: TraceStats | None = Field(
        None, description="Cascade trees of the flip trace; left out when no trace was written."
    )

    # Scenario blocks (``OPTIONAL_BLOCKS``) are left out when the scenario is off. An ``exclude``
    # keeps pydantic-core's direct JSON path (a wrap serializer would build every inline agent as a
    # Python dict first: twice the time of a large record's dump).
    def model_dump(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``BaseModel.model_dump``, without the scenario blocks of scenarios that are off."""
        return super().model_dump(*args, **self._without_absent_blocks(kwargs))

    def model_dump_json(self, *args: Any, **kwargs: Any) -> str:
        """``BaseModel.model_dump_json``, without the scenario blocks of scenarios that are off."""
        return super().model_dump_json(*args, **self._without_absent_blocks(kwargs))

    def _without_absent_blocks(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        absent: dict[str, Any] = {
            name: True for name in OPTIONAL_BLOCKS if getattr(self, name) is None
        }
        if self.agents is not None:
            fields = set(AGENT_DELEGATION_FIELDS) if self.delegation is None else set()
            if self.attack is None:
                fields.add("bribed")
            if fields:
                absent["agents"] = {"__all__": fields}
        if not absent:
            return kwargs
        exclude = kwargs.get("exclude")
        if exclude is None:
            exclude = absent
        elif isinstance(exclude, dict):
            exclude = {**absent, **exclude}
        else:
            exclude = {**absent, **dict.fromkeys(exclude, True)}
        return {**kwargs, "exclude": exclude}


def json_schema() -> dict[str, object]:
    """The JSON Schema of a run record, generated from the pydantic model."""
    schema = RunRecord.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://govsim.io/schemas/run-record-{SCHEMA_VERSION}.json"
    return schema


def render_json_schema() -> str:
    """The checked-in text of the JSON Schema."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m simulator.records.schema [--write]``: print or write the JSON Schema."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        write_atomic(SCHEMA_PATH, render_json_schema().encode())
        print(f"wrote {SCHEMA_PATH}")
    else:
        sys.stdout.write(render_json_schema())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
