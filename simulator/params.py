"""Simulation parameters: the one definition shared by the CLI, run records and sweeps.

Every field here is a simulator parameter a sweep may vary (by its snake_case name). A run is a
pure function of ``(SimParams, seed)``.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError


class InfluenceModel(StrEnum):
    """Random graph family of the influence network."""

    ERDOS_RENYI = "erdos_renyi"
    SMALL_WORLD = "small_world"


class AgentRecords(StrEnum):
    """Where per-agent records go: inline in the JSONL line, a Parquet side file, or nowhere."""

    INLINE = "inline"
    PARQUET = "parquet"
    NONE = "none"


class Traces(StrEnum):
    """Whether a run writes its flip trace (every flip event) to a Parquet side file."""

    NONE = "none"
    PARQUET = "parquet"


class Archetype(StrEnum):
    """Agent archetypes; the integer code of each is its position in ``ARCHETYPES``."""

    OPTIMIZER = "optimizer"
    REPUTATION_SEEKER = "reputation_seeker"
    CONTRARIAN = "contrarian"
    INSTITUTIONAL = "institutional"
    RETAIL = "retail"
    WHALE = "whale"


ARCHETYPES: tuple[Archetype, ...] = tuple(Archetype)


class Calibration(StrEnum):
    """Named v0.5 population presets calibrated against on-chain governance (docs/model.md)."""

    NONE = "none"
    COMPOUND = "compound"
    UNISWAP = "uniswap"


DEFAULT_DENSITY = 0.2


class RuleSet(StrEnum):
    """Which model rules a run follows: the seed's v0.4 rules or the v0.5 cascade rules and
    population (docs/model.md, sections 6 and 7)."""

    V0_4 = "v0.4"
    V0_5 = "v0.5"


class Schedule(StrEnum):
    """Which agents update in an influence round (rules v0.5; v0.4 is always synchronous)."""

    SYNCHRONOUS = "synchronous"
    """Every agent updates from the previous round's votes."""
    RANDOM_FRACTION = "random_fraction"
    """Each agent that would flip does so with probability ``update_fraction``."""


class CoalitionRule(StrEnum):
    """How a whale coalition (bloc) decides its vote (docs/model.md, section 11.1)."""

    NONE = "none"
    """No coalitions: every whale votes on its own (the scenario is off)."""
    STAKE_MAJORITY = "stake_majority"
    """The bloc votes as the stake-weighted majority of its voting members."""
    LEADER = "leader"
    """The bloc votes as its largest-stake voting member does."""


class CoalitionRevision(StrEnum):
    """When a whale bloc may change the vote it decided in round 0 (docs/model.md, 11.1)."""

    EVERY_ROUND = "every_round"
    """Each influence round the bloc applies its rule again to what its members would vote."""
    NEVER = "never"
    """The round-0 decision binds: the bloc and its members never change their vote."""


class DelegationMode(StrEnum):
    """How a delegating holder picks its delegate (docs/model.md, section 11.2)."""

    PREFERENTIAL = "preferential"
    """With probability proportional to the delegate's power so far, to the power ``a``."""
    SIMILARITY = "similarity"
    """The delegate whose preferences are closest to the holder's own."""


class AttackTarget(StrEnum):
    """The outcome a governance attacker wants (docs/model.md, section 11.3); none: no attack."""

    NONE = "none"
    AUTO = "auto"
    """The opposite of the outcome the same run gives without the attack."""
    PASS = "pass"
    FAIL = "fail"


class MevDistribution(StrEnum):
    """Law of an extractor's extractable value, in units of its mean (docs/model.md 11.4)."""

    CONSTANT = "constant"
    """Every extractor gets the mean."""
    LOGNORMAL = "lognormal"
    """exp(Normal(-1/2, 1)): mean 1, median 0.61, 99th percentile 6.2."""
    PARETO = "pareto"
    """Classical Pareto with tail index 1.5 and minimum 1/3: mean 1, infinite variance."""


class MevTargeting(StrEnum):
    """Who can extract value from a proposal (docs/model.md 11.4)."""

    UNIFORM = "uniform"
    """Any agent alike (searchers: anyone can run a bot)."""
    STAKE = "stake"
    """In proportion to stake (insiders, validators and large holders with positions at stake)."""


DEFAULT_RULES = RuleSet.V0_5
ROUND_CAP = 1000
"""Default ``cascade_rounds`` under rules v0.5: run the cascade to its end."""
V05_MEAN_DEGREE = 10.0
"""Default mean degree under rules v0.5 when neither network_density nor mean_degree is given."""
V05_SCHEDULE = Schedule.RANDOM_FRACTION
DEFAULT_UPDATE_FRACTION = 0.5
MAX_EDGES = 2**30
"""Largest expected edge count of an influence network; more is a parameter error.

A run needs about 64 bytes per edge at its peak (``simulator.memory``), so the limit is a network
of about 70 GB: larger than any machine this runs on is likely to give one run. Below it, whether
a run fits is a matter of the machine's memory, which ``govsim`` checks before it starts.
"""


def lattice_k(mean_degree: float, n: int) -> int:
    """Ring-lattice degree: the even number nearest ``mean_degree`` (halves up), at most n - 1."""
    k = 2 * math.floor(mean_degree / 2.0 + 0.5)
    top = n - 1 if (n - 1) % 2 == 0 else n - 2
    return max(0, min(k, top))


class ArchetypeMix(BaseModel):
    """Relative weights of the non-whale archetypes; they share ``1 - whale_ratio``."""

    # Each weight is a finite number >= 0, at least one is positive, and their sum is finite (two
    # weights of 1e308 add up to inf, which would make every share 0 or NaN).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    optimizer: float = Field(0.20, ge=0)
    reputation_seeker: float = Field(0.20, ge=0)
    contrarian: float = Field(0.10, ge=0)
    institutional: float = Field(0.15, ge=0)
    retail: float = Field(0.35, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        total = sum(self.model_dump().values())
        if total <= 0:
            raise ValueError("archetype_mix: at least one weight must be positive")
        if not math.isfinite(total):
            raise ValueError(
                f"archetype_mix: the weights add up to {total}; their sum must be finite"
            )
        return self

    def shares(self) -> dict[str, float]:
        """Normalised shares of the non-whale population (they sum to 1)."""
        weights = self.model_dump()
        total = sum(weights.values())
        return {name: w / total for name, w in weights.items()}


class SimParams(BaseModel):
    """Every parameter of one simulation run except its seed."""

    # Numbers are finite (nan and inf are refused), and the influence network they describe has
    # at most MAX_EDGES expected edges: a valid SimParams always names a run that can be built.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    agents: int = Field(50, ge=1, le=50_000_000, description="Number of agents N.")
    conformity_threshold: float = Field(
        0.6, ge=0, le=1, description="Minimum conformity for an agent to follow the whale signal."
    )
    whale_ratio: float = Field(0.15, ge=0, le=1, description="Share of agents that are whales.")
    influence_model: InfluenceModel = Field(
        InfluenceModel.ERDOS_RENYI, description="Influence network family."
    )
    network_density: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Edge probability (Erdos-Renyi) or k/(N-1) (small world). "
        "Default 0.2 when mean_degree is not given.",
    )
    mean_degree: float | None = Field(
        None, gt=0, description="Expected degree; alternative to network_density for large N."
    )
    rewire_prob: float = Field(0.1, ge=0, le=1, description="Small-world rewiring probability.")
    cascade_rounds: int = Field(
        1,
        ge=1,
        le=10_000,
        description="Maximum influence rounds; stops early when the cascade ends. "
        f"Default 1 under rules v0.4, {ROUND_CAP} under v0.5.",
    )
    rules: RuleSet = Field(DEFAULT_RULES, description="Model rules: v0.4 (the seed's) or v0.5.")
    schedule: Schedule = Field(
        Schedule.SYNCHRONOUS,
        description="Which agents update each round (v0.5 only). "
        f"Default synchronous under v0.4, {V05_SCHEDULE.value} under v0.5.",
    )
    update_fraction: float = Field(
        DEFAULT_UPDATE_FRACTION,
        gt=0,
        le=1,
        description="Probability that an agent which would flip updates in a round "
        "(schedule random_fraction).",
    )
    archetype_mix: ArchetypeMix = Field(default_factory=ArchetypeMix)
    # v0.5 population (turnout, stakes, proposals); used only when rules is v0.5
    calibration: Calibration = Field(
        Calibration.NONE,
        description="v0.5 population preset: none (the v0.5 defaults), compound or uniswap.",
    )
    stake_tail: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Pareto tail index of voting power (v0.5); default from the calibration.",
    )
    proposal_favourability: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Chance that a proposal lies on the favourable side of each dimension "
        "(v0.5); default from the calibration.",
    )
    quorum: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of total stake that must vote for a proposal to pass (v0.5); "
        "default from the calibration.",
    )

    # whale coalitions (docs/model.md, section 11.1); off while coalition_rule is none
    coalition_rule: CoalitionRule = Field(
        CoalitionRule.NONE,
        description="Whale coalitions: none (off), stake_majority or leader (how a bloc of "
        "whales decides its common vote).",
    )
    coalition_size: int = Field(
        0,
        ge=0,
        le=50_000_000,
        description="Most whales in one bloc (blocs are consecutive in preference order); "
        "0: no limit, 1: every whale on its own.",
    )
    coalition_span: float = Field(
        1.0,
        ge=0.001,
        le=1,
        description="Width of the preference cells: whales whose risk tolerances fall in "
        "different cells of this width never share a bloc.",
    )
    coalition_revision: CoalitionRevision = Field(
        CoalitionRevision.EVERY_ROUND,
        description="When a bloc may change its round-0 vote: every_round (its rule applied to "
        "what its members would vote) or never.",
    )
    # research scenario: delegation (docs/model.md, section 11.2); off at delegation_rate 0
    delegation_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the holders that are not delegates who delegate their voting "
        "power to a delegate (0: no delegation).",
    )
    delegation_mode: DelegationMode = Field(
        DelegationMode.PREFERENTIAL,
        description="How a holder picks its delegate: preferential (by the delegates' power) "
        "or similarity (the closest preferences).",
    )
    delegate_share: float = Field(
        0.01,
        gt=0,
        le=1,
        description="Share of the agents that are delegates: the largest holders.",
    )
    delegation_attachment: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Preferential mode: a delegate is picked with probability proportional to "
        "its power so far to this exponent (0 uniform, 1 proportional).",
    )
    delegation_override: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Probability that a delegator who votes and disagrees with its delegate "
        "(or whose delegate abstains) votes itself with its own power.",
    )
    # governance attack (docs/model.md, section 11.3); off while attack_target is none
    attack_target: AttackTarget = Field(
        AttackTarget.NONE,
        description="Outcome the attacker wants: pass, fail, auto (the opposite of the run's "
        "outcome without the attack) or none (no attack).",
    )
    attack_budget: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Bribe budget as a share of the holders' total voting power; a holder's "
        "price is its voting power times 1 + how strongly it prefers the other side.",
    )
    attack_borrowed_share: float = Field(
        0.0,
        ge=0,
        le=4,
        description="Voting power the attacker borrows for the vote only (flash loan), as a "
        "share of the holders' total voting power.",
    )
    attack_sybils: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="Sybil accounts of negligible stake that vote with the attacker and join "
        "the influence network.",
    )

    # MEV-aware voting (docs/model.md 11.4): on when mev_share > 0
    mev_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of agents who can extract value from the proposal (MEV-aware "
        "voting; 0: off).",
    )
    mev_value: float = Field(
        1.0,
        ge=0,
        le=1000,
        description="Mean extractable value of an extractor, in units of the run's utility "
        "spread (the standard deviation of the agents' honest utilities).",
    )
    mev_distribution: MevDistribution = Field(
        MevDistribution.LOGNORMAL,
        description="Law of the extractable value: constant, lognormal or pareto (mean 1).",
    )
    mev_targeting: MevTargeting = Field(
        MevTargeting.STAKE,
        description="Who the extractors are: uniform (any agent) or stake (weighted by stake).",
    )
    mev_against_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the extractors whose value is lost, not gained, if it passes.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.network_density is not None and self.mean_degree is not None:
            raise ValueError("give either network_density or mean_degree, not both")
        self._check_coalitions()
        on = self.scenarios_on()
        if len(on) > 1 and tuple(on) not in COMBINED_SCENARIOS:
            raise PydanticCustomError(
                "scenarios",
                "{path}: {reason}",
                {
                    "path": on[1],
                    "reason": f"{on[0]} is on already, and of the research scenarios a run "
                    "combines only delegation_rate with attack_target (docs/model.md, "
                    "section 11: other combinations are not modelled)",
                },
            )
        if self.attack_target is AttackTarget.NONE:
            for name in ATTACK_RESOURCES:
                if getattr(self, name) != type(self).model_fields[name].default:
                    raise PydanticCustomError(
                        "attack_off",
                        "{path}: {reason}",
                        {
                            "path": name,
                            "reason": "needs attack_target auto, pass or fail (it is none)",
                        },
                    )
        if self.rules is RuleSet.V0_5:
            self._v05_defaults()
            self._check_delegation()
            self._check_network_size()
            return self
        if self.schedule is not Schedule.SYNCHRONOUS or (
            self.update_fraction != DEFAULT_UPDATE_FRACTION
        ):
            raise ValueError(
                "rules v0.4 updates synchronously; schedule and update_fraction need rules v0.5"
            )
        for name in (*POPULATION_FIELDS, *SCENARIO_FIELDS):
            if getattr(self, name) != type(self).model_fields[name].default:
                raise ValueError(f"{name}: only used with rules v0.5 (rules is v0.4)")
        self._check_network_size()
        return self

    def _check_coalitions(self) -> None:
        if self.coalition_rule is not CoalitionRule.NONE:
            return
        for name in ("coalition_size", "coalition_span", "coalition_revision"):
            if getattr(self, name) != type(self).model_fields[name].default:
                raise PydanticCustomError(
                    "coalitions_off",
                    "{path}: {reason}",
                    {
                        "path": name,
                        "reason": f"{getattr(self, name)} needs coalition_rule stake_majority or "
                        "leader (coalition_rule is none: coalitions are off)",
                    },
                )

    def _check_delegation(self) -> None:
        """Delegation settings that contradict each other (a rate of 0 is the scenario's off
        switch: the other fields may keep any value then, so a sweep may cross them with it).

        The one rule fails wherever ``delegation_attachment`` is off its default, which a swept
        range's smallest or largest value then is, so a sweep's corners catch it.
        """
        if (
            self.delegation_mode is not DelegationMode.PREFERENTIAL
            and self.delegation_attachment
            != type(self).model_fields["delegation_attachment"].default
        ):
            raise PydanticCustomError(
                "delegation",
                "{path}: {reason}",
                {
                    "path": "delegation_attachment",
                    "reason": f"{self.delegation_attachment} is only used with delegation_mode "
                    f"preferential (delegation_mode is {self.delegation_mode.value})",
                },
            )

    def _check_network_size(self) -> None:
        reason = self.network_size_problem()
        if reason is not None:
            raise PydanticCustomError(
                "network_size", "{path}: {reason}", {"path": "network", "reason": reason}
            )

    def network_size_problem(self) -> str | None:
        """Why the influence network is too large to build (over ``MAX_EDGES``), or None."""
        edges = self.expected_edges()
        if edges <= MAX_EDGES:
            return None
        return (
            f"{self.agents} agents at mean degree {self.expected_degree():.4g} means about "
            f"{edges:.2g} edges, over the limit of {MAX_EDGES:.2g}; set mean_degree "
            "(--mean-degree) or a smaller network_density (--network-density)"
        )

    def _v05_defaults(self) -> None:
        """Fill, for fields not given, the v0.5 defaults (docs/model.md, section 1).

        They stay out of ``model_fields_set``: a default is not a setting, so a sweep may still
        vary these fields.
        """
        given = self.model_fields_set
        defaults: dict[str, Any] = {"cascade_rounds": ROUND_CAP, "schedule": V05_SCHEDULE}
        if self.network_density is None and self.mean_degree is None:
            defaults["mean_degree"] = V05_MEAN_DEGREE
        for name, value in defaults.items():
            if name not in given:
                object.__setattr__(self, name, value)  # frozen model, still being validated

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added after schema 0.4 are left out where that loses nothing, so a v0.4 run's
        parameters serialize as before they existed except for ``rules``, which is always
        written (the default rule set has changed once and may change again): under v0.4 the
        other rule-set and population fields (which hold their defaults); under v0.5 the
        population fields at their defaults. Scenario fields (``SCENARIO_FIELDS``) at their defaults
        (the scenario off) are always left out, so a run without scenarios serializes, and hashes,
        as before scenarios existed. A run record also states ``rules`` on its own (and the
        validator checks that its parameters agree)."""
        data: dict[str, Any] = handler(self)
        dropped = (
            *(V04_OMITTED if self.rules is RuleSet.V0_4 else POPULATION_FIELDS),
            *SCENARIO_FIELDS,
        )
        for name in dropped:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return data

    def scenarios_on(self) -> list[str]:
        """The research scenarios this run switches on, each named by its switch parameter."""
        switches = {
            "coalition_rule": self.coalition_rule is not CoalitionRule.NONE,
            "delegation_rate": self.delegation_rate > 0,
            "attack_target": self.attack_target is not AttackTarget.NONE,
            "mev_share": self.mev_share > 0,
        }
        return [name for name, on in switches.items() if on]

    def expected_degree(self) -> float:
        """Mean degree implied by ``network_density`` or ``mean_degree``."""
        if self.mean_degree is not None:
            return min(self.mean_degree, float(self.agents - 1))
        density = DEFAULT_DENSITY if self.network_density is None else self.network_density
        return density * (self.agents - 1)

    def expected_edges(self) -> float:
        """Expected number of undirected edges of the influence network."""
        n = self.agents
        if self.influence_model is InfluenceModel.ERDOS_RENYI:
            return self.expected_degree() * n / 2
        return n * lattice_k(self.expected_degree(), n) / 2


POPULATION_FIELDS: tuple[str, ...] = (
    "calibration",
    "stake_tail",
    "proposal_favourability",
    "quorum",
)
"""The v0.5 population parameters: they must keep their defaults under rules v0.4."""

COALITION_FIELDS: tuple[str, ...] = (
    "coalition_rule",
    "coalition_size",
    "coalition_span",
    "coalition_revision",
)
"""The whale-coalition scenario's parameters (docs/model.md, section 11.1)."""


def delegate_count(delegate_share: float, agents: int) -> int:
    """Number of delegates: ``delegate_share · N`` rounded to nearest (halves up), at least 1."""
    return max(1, min(agents, math.floor(delegate_share * agents + 0.5)))


DELEGATION_FIELDS: tuple[str, ...] = (
    "delegation_rate",
    "delegation_mode",
    "delegate_share",
    "delegation_attachment",
    "delegation_override",
)
"""Parameters of the delegation scenario (docs/model.md, section 11.2)."""


ATTACK_RESOURCES: tuple[str, ...] = ("attack_budget", "attack_borrowed_share", "attack_sybils")
"""What a governance attacker spends; each needs ``attack_target`` other than none."""

ATTACK_FIELDS: tuple[str, ...] = ("attack_target", *ATTACK_RESOURCES)
"""Parameters of the governance-attack scenario (docs/model.md, section 11.3)."""

MEV_FIELDS: tuple[str, ...] = (
    "mev_share",
    "mev_value",
    "mev_distribution",
    "mev_targeting",
    "mev_against_share",
)
"""MEV-aware voting (docs/model.md 11.4). The scenario is on when ``mev_share`` > 0; the other
fields do nothing while it is 0 (a sweep may cross them with ``mev_share`` 0; ``govsim`` refuses
them without ``--mev-share``)."""

COMBINED_SCENARIOS: frozenset[tuple[str, ...]] = frozenset({("delegation_rate", "attack_target")})
"""The research scenarios one run may combine, each named by its switch in ``scenarios_on``
order: an attack on a vote with delegation (docs/model.md, section 11.3)."""

SCENARIO_FIELDS: tuple[str, ...] = (
    *COALITION_FIELDS,
    *DELEGATION_FIELDS,
    *ATTACK_FIELDS,
    *MEV_FIELDS,
)
"""Parameters of the research scenarios (docs/model.md, section 11). Each scenario's fields
default to "off"; they need rules v0.5, and at their defaults they are left out of the serialized
parameters, so runs without scenarios keep their records and spec hashes. Each scenario appends
its fields here."""

V04_OMITTED: tuple[str, ...] = ("schedule", "update_fraction", *POPULATION_FIELDS)
"""Parameters added after record schema 0.4 that a v0.4 run leaves out of its serialized form."""
