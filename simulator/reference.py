"""A naive pure-Python statement of the model's rules over a networkx graph.

The engine (:mod:`simulator.model`) is vectorized and therefore hard to read against docs/model.md;
this module says the same rules agent by agent, neighbour by neighbour, the way a reader would
re-implement them. Tests require both to give identical votes and flips for the same seed, and the
benchmark reports how much faster the engine is. Randomness is shared, not restated: proposal,
agents, network and (rules v0.5) who votes come from the same generators as the engine's, and the
network is converted to a ``networkx.Graph`` from the same sparse matrix. Slow on purpose; for
tests and benchmarks only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import sparse

from simulator.agents import Agents, draw_agents
from simulator.cascade_tree import CascadeForest
from simulator.coalition import SCENARIO as COALITIONS
from simulator.coalition import Blocs
from simulator.errors import ParameterError
from simulator.model import OPTIMIZER_HURDLE, Ending, Influence, RunResult
from simulator.network import build_network
from simulator.params import (
    ARCHETYPES,
    DEFAULT_UPDATE_FRACTION,
    Archetype,
    AttackTarget,
    CoalitionRevision,
    CoalitionRule,
    RuleSet,
    Schedule,
    SimParams,
)
from simulator.population import (
    PREFERENCES,
    draw_participation,
    draw_population,
    resolve_population,
)
from simulator.proposal import DIMENSIONS, Proposal, draw_proposal, draw_vetted_proposal
from simulator.seeding import make_rng, scenario_rng
from simulator.trace import CAUSES, Cause, Trace

__all__ = [
    "ReferenceInfluence",
    "reference_align_votes",
    "reference_blocs",
    "reference_cascade_forest",
    "reference_influence",
    "reference_initial_votes",
    "reference_population_utilities",
    "reference_simulate",
    "reference_threshold_cascade",
    "reference_utilities",
    "to_networkx",
]


def to_networkx(adjacency: sparse.sparray | sparse.spmatrix) -> nx.Graph:
    """The undirected graph of a symmetric adjacency matrix (nodes 0..n-1)."""
    return nx.from_scipy_sparse_array(sparse.csr_array(adjacency))


def reference_initial_votes(agents: Agents, proposal: Proposal) -> list[bool]:
    """Round-0 votes, one agent at a time."""
    return [u > 0.0 for u in reference_utilities(agents, proposal)]


def reference_utilities(agents: Agents, proposal: Proposal) -> list[float]:
    """Round-0 (v0.4) utilities, one agent at a time."""
    r, y, c = proposal.risk, proposal.yield_, proposal.complexity
    appeal = (y + 1.0 - r) / 2.0
    out = []
    for code, rho, eps in zip(
        agents.archetype.tolist(),
        agents.risk_tolerance.tolist(),
        agents.noise.tolist(),
        strict=True,
    ):
        kind = ARCHETYPES[code]
        if kind is Archetype.OPTIMIZER:
            u = y - (1.0 - rho) * r - OPTIMIZER_HURDLE
        elif kind is Archetype.REPUTATION_SEEKER:
            u = (appeal - 0.5) + (1.0 - rho) * (0.5 - c)
        elif kind is Archetype.CONTRARIAN:
            u = -(y - (1.0 - rho) * r - OPTIMIZER_HURDLE)
        elif kind is Archetype.INSTITUTIONAL:
            u = y - (1.0 - rho) * r - 0.5 * c
        elif kind is Archetype.RETAIL:
            u = y - (1.0 - rho) * r - OPTIMIZER_HURDLE + eps
        else:
            u = (y - 0.5) + (rho - 0.5) * r
        out.append(u)
    return out


def reference_population_utilities(agents: Agents, proposal: Proposal) -> list[float]:
    """v0.5 utilities, one agent at a time: preference-weighted proposal, hurdle, risk, noise."""
    z = [2.0 * x - 1.0 for x in (getattr(proposal, _field(d)) for d in DIMENSIONS)]
    out = []
    for code, rho, eps in zip(
        agents.archetype.tolist(),
        agents.risk_tolerance.tolist(),
        agents.noise.tolist(),
        strict=True,
    ):
        pref = PREFERENCES[ARCHETYPES[code]]
        weighted = 0.0
        for w, zd in zip(pref.weights, z, strict=True):
            weighted += w * zd
        out.append(((weighted - pref.hurdle) + (rho - 0.5) * z[0]) + eps)
    return out


def _field(dimension: str) -> str:
    return "yield_" if dimension == "yield" else dimension


def reference_blocs(agents: Agents, *, span: float, size: int) -> list[int]:
    """Whale coalitions, whale by whale: the bloc of every agent (-1: none).

    Whales in order of risk tolerance (then id); a whale joins the previous whale's group when
    both lie in the same cell ``floor(rho / span)`` and the group has fewer than ``size`` whales
    (``size`` 0: no limit). Groups of two or more are blocs, numbered in that order.
    """
    kind = [ARCHETYPES[c] for c in agents.archetype.tolist()]
    rho = agents.risk_tolerance.tolist()
    whales = sorted((rho[i], i) for i in range(len(kind)) if kind[i] is Archetype.WHALE)
    groups: list[list[int]] = []
    previous_cell = None
    for r, i in whales:
        cell = math.floor(r / span)
        if groups and cell == previous_cell and (size == 0 or len(groups[-1]) < size):
            groups[-1].append(i)
        else:
            groups.append([i])
        previous_cell = cell
    bloc = [-1] * len(kind)
    for number, group in enumerate(g for g in groups if len(g) >= 2):
        for i in group:
            bloc[i] = number
    return bloc


def _leader(members: list[int], stake: list[float]) -> int:
    """The member with the largest stake; equal stakes: the lowest id."""
    return min(members, key=lambda i: (-stake[i], i))


def _bloc_decides(
    rule: CoalitionRule,
    members: list[int],
    stake: list[float],
    yes: Sequence[bool] | Mapping[int, bool],
) -> bool:
    """A bloc's vote from its members' votes ``yes``: stake majority (tie: the leader's) or
    the leader's."""
    leader_vote = yes[_leader(members, stake)]
    if rule is CoalitionRule.LEADER:
        return leader_vote
    for_ = sum(stake[i] for i in members if yes[i])
    against = sum(stake[i] for i in members if not yes[i])
    return leader_vote if for_ == against else for_ > against


def _members(bloc: list[int], voted: list[bool]) -> dict[int, list[int]]:
    """Each bloc's voting members, in id order (blocs without one are left out)."""
    out: dict[int, list[int]] = {}
    for i, b in enumerate(bloc):
        if b >= 0 and voted[i]:
            out.setdefault(b, []).append(i)
    return dict(sorted(out.items()))


def reference_align_votes(
    bloc: list[int],
    rule: CoalitionRule,
    stake: list[float],
    voted: list[bool],
    votes: list[bool],
) -> list[bool]:
    """Round 0 with whale coalitions: each voting member casts its bloc's vote."""
    out = list(votes)
    for members in _members(bloc, voted).values():
        decided = _bloc_decides(rule, members, stake, votes)
        for i in members:
            out[i] = decided
    return out


@dataclass(frozen=True)
class ReferenceInfluence:
    """Outcome of the reference influence phase, as plain lists."""

    final_votes: list[bool]
    flip_count: list[int]
    flip_round: list[int]
    flips_per_round: list[int]
    yes_to_no: int
    no_to_yes: int
    whale_signal_followers: int
    whale_follows: list[int]
    ending: Ending
    period: int
    trace: list[tuple[int, int, bool, Cause]]
    """Every flip as (agent, round, vote before it, cause), in round order, then agent order."""
    bloc_switches: list[int] | None = None
    """Rounds in which each bloc changed its vote (whale coalitions)."""

    def as_trace(self) -> Trace:
        """The flips as the engine's :class:`simulator.trace.Trace`."""
        if not self.trace:
            return Trace.empty()
        agent, round_, before, cause = zip(*self.trace, strict=True)
        return Trace(
            agent=np.array(agent, dtype=np.int32),
            round=np.array(round_, dtype=np.int32),
            from_vote=np.array(before, dtype=np.bool_),
            cause=np.array([CAUSES.index(c) for c in cause], dtype=np.int8),
        )


def reference_influence(
    graph: nx.Graph,
    agents: Agents,
    votes: list[bool],
    *,
    conformity_threshold: float,
    max_rounds: int,
    rules: RuleSet = RuleSet.V0_4,
    schedule: Schedule = Schedule.SYNCHRONOUS,
    update_fraction: float = DEFAULT_UPDATE_FRACTION,
    rng: np.random.Generator | None = None,
    participated: list[bool] | None = None,
    bloc: list[int] | None = None,
    coalition_rule: CoalitionRule = CoalitionRule.NONE,
    bloc_rng: np.random.Generator | None = None,
    coalition_revision: CoalitionRevision = CoalitionRevision.EVERY_ROUND,
) -> ReferenceInfluence:
    """Influence rounds, one agent and one neighbour at a time (same rules as the engine).

    Rules v0.5: a share must exceed both the threshold and 1/2, and a contrarian that has flipped
    once never flips again. Schedule random_fraction: the agents that would flip, in agent order,
    get one ``rng.random`` draw each and flip when it is below ``update_fraction``. Synchronous
    v0.5 stops when the votes equal those of two rounds before and differ from the last round's.
    With ``participated``, abstainers never flip and are nobody's neighbour: they show no vote.
    Every flip is traced: caused by the whale signal when the agent followed the whale majority,
    else by its neighbours.

    With ``bloc`` (whale coalitions): a follower counts each bloc among its whale neighbours once,
    with the stake of all the bloc's voters; a member the rules would flip is leaving its bloc's
    vote, and the bloc switches (all its voters flip) when ``coalition_rule`` says so (under
    random_fraction: when its ``bloc_rng`` draw, one per bloc that would switch in bloc order,
    is below ``update_fraction``); with ``coalition_revision`` never, no bloc switches. Members
    never flip on their own.
    """
    v05 = rules is RuleSet.V0_5
    randomised = schedule is Schedule.RANDOM_FRACTION
    kind = [ARCHETYPES[c] for c in agents.archetype.tolist()]
    stake = agents.stake.tolist()
    conformity = agents.conformity.tolist()
    threshold = agents.threshold.tolist()
    n = len(kind)
    voted = [True] * n if participated is None else list(participated)
    votes = list(votes)
    flip_count = [0] * n
    flip_round = [0] * n
    whale_follows = [0] * n
    per_round: list[int] = []
    yes_to_no = no_to_yes = followed = 0
    ending, period = Ending.ROUND_CAP, 0
    trace: list[tuple[int, int, bool, Cause]] = []
    history = [list(votes)]
    blocs = _members(bloc, voted) if bloc is not None else {}
    switches = [0] * (max(bloc, default=-1) + 1 if bloc is not None else 0)
    for t in range(1, max_rounds + 1):
        new = list(votes)
        whale_signal = [False] * n
        for i in range(n):
            if not voted[i]:
                continue
            neighbours = [j for j in graph.adj[i] if voted[j]]
            degree = len(neighbours)
            if degree == 0:
                continue
            whales = [j for j in neighbours if kind[j] is Archetype.WHALE]
            if (
                conformity[i] >= conformity_threshold
                and whales
                and kind[i] not in (Archetype.WHALE, Archetype.CONTRARIAN)
            ):
                yes_stake, no_stake = _whale_signal(whales, votes, stake, bloc, blocs)
                if yes_stake != no_stake:
                    new[i] = yes_stake > no_stake
                    whale_signal[i] = new[i] != votes[i]
                continue
            if v05 and kind[i] is Archetype.CONTRARIAN and flip_count[i] > 0:
                continue  # a contrarian dissents once
            agreeing = sum(1 for j in neighbours if votes[j] == votes[i])
            tested = agreeing if kind[i] is Archetype.CONTRARIAN else degree - agreeing
            share = tested / degree
            if share > threshold[i] and (not v05 or share > 0.5):
                new[i] = not votes[i]
        switching = []
        for b, members in blocs.items():
            leaving = {i: new[i] != votes[i] for i in members}
            for i in members:
                new[i] = votes[i]  # members never flip on their own
            revising = coalition_revision is CoalitionRevision.EVERY_ROUND
            if revising and _bloc_decides(coalition_rule, members, stake, leaving):
                switching.append(b)
        if randomised:
            assert rng is not None, "schedule random_fraction needs rng"
            would = [i for i in range(n) if new[i] != votes[i]]
            if not would and not switching:
                per_round.append(0)
                ending, period = Ending.CONVERGED, 1
                break
            draws = rng.random(len(would)).tolist()
            for i, u in zip(would, draws, strict=True):
                if not u < update_fraction:
                    new[i] = votes[i]
            if switching:
                assert bloc_rng is not None, "random_fraction with blocs needs bloc_rng"
                kept = bloc_rng.random(len(switching)).tolist()
                switching = [b for b, u in zip(switching, kept, strict=True) if u < update_fraction]
        for b in switching:
            switches[b] += 1
            for i in blocs[b]:
                new[i] = not votes[i]
        for i in range(n):
            if whale_signal[i] and new[i] != votes[i]:
                followed += 1
                whale_follows[i] += 1
        flips = 0
        for i in range(n):
            if new[i] != votes[i]:
                flips += 1
                cause = Cause.WHALE_SIGNAL if whale_signal[i] else Cause.NEIGHBOURS
                trace.append((i, t, votes[i], cause))
                flip_count[i] += 1
                if flip_round[i] == 0:
                    flip_round[i] = t
                if votes[i]:
                    yes_to_no += 1
                else:
                    no_to_yes += 1
        per_round.append(flips)
        votes = new
        history = [*history[-2:], list(votes)]
        if flips == 0 and not randomised:
            ending, period = Ending.CONVERGED, 1
            break
        if v05 and not randomised and len(history) >= 3 and votes == history[-3]:
            ending, period = Ending.CYCLE, 2
            break
    return ReferenceInfluence(
        final_votes=votes,
        flip_count=flip_count,
        flip_round=flip_round,
        flips_per_round=per_round,
        yes_to_no=yes_to_no,
        no_to_yes=no_to_yes,
        whale_signal_followers=followed,
        whale_follows=whale_follows,
        ending=ending,
        period=period,
        trace=trace,
        bloc_switches=switches if bloc is not None else None,
    )


def _whale_signal(
    whales: list[int],
    votes: list[bool],
    stake: list[float],
    bloc: list[int] | None,
    blocs: dict[int, list[int]],
) -> tuple[float, float]:
    """Yes and no stake a follower sees among its voting whale neighbours ``whales``: each
    independent whale with its stake, each bloc once with the stake of all its voters."""
    yes_stake = no_stake = 0.0
    seen: set[int] = set()
    for j in whales:
        b = -1 if bloc is None else bloc[j]
        if b in seen:
            continue
        weight = stake[j]
        if b >= 0:
            seen.add(b)
            weight = sum(stake[m] for m in blocs[b])
        if votes[j]:
            yes_stake += weight
        else:
            no_stake += weight
    return yes_stake, no_stake


def reference_threshold_cascade(
    graph: nx.Graph, thresholds: list[float], active: list[bool], max_rounds: int | None = None
) -> tuple[list[bool], list[int]]:
    """Watts threshold cascade, node by node: (final active flags, new activations per round)."""
    state = list(active)
    per_round: list[int] = []
    while max_rounds is None or len(per_round) < max_rounds:
        new = []
        for i in graph.nodes:
            if state[i]:
                continue
            neighbours = list(graph.adj[i])
            if neighbours and sum(state[j] for j in neighbours) / len(neighbours) >= thresholds[i]:
                new.append(i)
        per_round.append(len(new))
        for i in new:
            state[i] = True
        if not new:
            break
    return state, per_round


def reference_simulate(params: SimParams, seed: int, *, trace: bool = False) -> RunResult:
    """A whole run with the reference rules (draws shared with the engine); ``trace`` keeps
    the flips in ``influence.trace``, as the engine's ``simulate`` does."""
    if params.attack_target is not AttackTarget.NONE:
        # the attack's influence rounds are checked against the reference in tests of attack.py
        raise ParameterError("attack_target: the reference restates runs without attack only")
    if params.mev_share > 0:
        raise ParameterError("mev_share: the reference restates the rules without extractors")
    rng = make_rng(seed)
    if params.rules is RuleSet.V0_5:
        population = resolve_population(params)
        proposal = draw_vetted_proposal(rng, population.favourability)
        agents = draw_population(params, population, rng)
        adjacency = build_network(params, rng)
        participated = draw_participation(agents, rng).tolist()
        utility = reference_population_utilities(agents, proposal)
        votes0 = [u > 0.0 for u in utility]
    else:
        proposal = draw_proposal(rng)
        agents = draw_agents(params, rng)
        adjacency = build_network(params, rng)
        participated = [True] * params.agents
        utility = reference_utilities(agents, proposal)
        votes0 = [u > 0.0 for u in utility]
    bloc = None
    if params.coalition_rule is not CoalitionRule.NONE:
        bloc = reference_blocs(agents, span=params.coalition_span, size=params.coalition_size)
        stake = agents.stake.tolist()
        votes0 = reference_align_votes(bloc, params.coalition_rule, stake, participated, votes0)
    graph = to_networkx(adjacency)
    out = reference_influence(
        graph,
        agents,
        votes0,
        conformity_threshold=params.conformity_threshold,
        max_rounds=params.cascade_rounds,
        rules=params.rules,
        schedule=params.schedule,
        update_fraction=params.update_fraction,
        rng=rng,
        participated=participated,
        bloc=bloc,
        coalition_rule=params.coalition_rule,
        bloc_rng=scenario_rng(seed, COALITIONS),
        coalition_revision=params.coalition_revision,
    )
    flips = out.as_trace() if trace else None
    return RunResult(
        params=params,
        seed=seed,
        agents=agents,
        proposal=proposal,
        degree=np.array([graph.degree[i] for i in range(params.agents)], dtype=np.int32),
        initial_votes=np.array(votes0, dtype=bool),
        influence=Influence(
            final_votes=np.array(out.final_votes, dtype=bool),
            flip_count=np.array(out.flip_count, dtype=np.int32),
            flip_round=np.array(out.flip_round, dtype=np.int32),
            flips_per_round=np.array(out.flips_per_round, dtype=np.int64),
            yes_to_no=out.yes_to_no,
            no_to_yes=out.no_to_yes,
            whale_follows=np.array(out.whale_follows, dtype=np.int32),
            ending=out.ending,
            period=out.period,
            trace=flips,
            bloc_switches=(
                None if out.bloc_switches is None else np.array(out.bloc_switches, dtype=np.int32)
            ),
        ),
        participated=np.array(participated, dtype=bool),
        utility=np.array(utility, dtype=np.float64),
        blocs=None if bloc is None else _blocs(bloc, params),
        cascades=None if flips is None else reference_cascade_forest(graph, flips, agents),
    )


def _blocs(bloc: list[int], params: SimParams) -> Blocs:
    count = max(bloc, default=-1) + 1
    bloc_ids = np.array(bloc, dtype=np.int32)
    return Blocs(bloc_ids, count, params.coalition_rule, params.coalition_revision)


def reference_cascade_forest(graph: nx.Graph, trace: Trace, agents: Agents) -> CascadeForest:
    """The cascade trees of a trace (docs/model.md 11.5), event by event, as a networkx forest.

    For each flip, look at every neighbour (only whales for a whale-signal flip), find the
    neighbour's latest flip before the event's round, and keep it as a candidate when it put
    the neighbour on the trigger side (the new vote; a contrarian's threshold flip: the old one).
    The latest candidate (lowest agent id on a tie) is the tree parent; each candidate gets an
    equal share of the credit. Roots, depths and tree paths come from the ``networkx.DiGraph`` of
    parent -> child edges.
    """
    rows = list(
        zip(
            trace.agent.tolist(),
            trace.round.tolist(),
            trace.from_vote.tolist(),
            [CAUSES[c] for c in trace.cause.tolist()],
            strict=True,
        )
    )
    flips_of: dict[int, list[int]] = {}
    for e, (agent, *_) in enumerate(rows):
        flips_of.setdefault(agent, []).append(e)
    codes = agents.archetype.tolist()
    tree = nx.DiGraph()
    tree.add_nodes_from(range(len(rows)))
    influence = [0.0] * len(agents)
    counts = []
    for e, (agent, rnd, from_vote, cause) in enumerate(rows):
        whale_signal = cause is Cause.WHALE_SIGNAL
        contrarian = ARCHETYPES[codes[agent]] is Archetype.CONTRARIAN and not whale_signal
        trigger = from_vote if contrarian else not from_vote
        found = []
        for nb in graph.neighbors(agent):
            if whale_signal and ARCHETYPES[codes[nb]] is not Archetype.WHALE:
                continue
            before = [f for f in flips_of.get(nb, []) if rows[f][1] < rnd]
            if before and (not rows[before[-1]][2]) == trigger:
                found.append(before[-1])
        counts.append(len(found))
        for f in found:
            influence[rows[f][0]] += 1.0 / len(found)
        if found:
            best = max(found, key=lambda f: (rows[f][1], -rows[f][0]))
            tree.add_edge(best, e)
    parent, root, depth, driven = [], [], [], []
    for e in range(len(rows)):
        up = list(tree.predecessors(e))
        parent.append(up[0] if up else -1)
        top = next(r for r in nx.ancestors(tree, e) | {e} if tree.in_degree(r) == 0)
        path = nx.shortest_path(tree, top, e)
        root.append(top)
        depth.append(len(path) - 1)
        driven.append(any(rows[f][3] is Cause.WHALE_SIGNAL for f in path))
    return CascadeForest(
        parent=np.asarray(parent, dtype=np.int64),
        candidates=np.asarray(counts, dtype=np.int32),
        root=np.asarray(root, dtype=np.int64),
        depth=np.asarray(depth, dtype=np.int32),
        whale_driven=np.asarray(driven, dtype=bool),
        influence=np.asarray(influence),
    )
