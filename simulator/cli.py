"""``govsim`` / ``python -m simulator``: run simulations from the shell (the seed's flags).

Without ``--output`` each run's summary is printed; with it, every run's record is appended to the
JSONL file as soon as the run ends. Bad input gets one line naming the flag, the value and what is
allowed, and exit status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from tqdm import tqdm

import simulator
from simulator.atomic import Terminated, sigterm_raises
from simulator.errors import RecordError, SimulatorError
from simulator.memory import memory_problem
from simulator.messages import (
    ErrorText,
    Interval,
    Location,
    field_interval,
    flag_hint,
    plain_message,
)
from simulator.params import (
    ARCHETYPES,
    DEFAULT_DENSITY,
    DEFAULT_RULES,
    DEFAULT_UPDATE_FRACTION,
    MEV_FIELDS,
    POPULATION_FIELDS,
    ROUND_CAP,
    SCENARIO_FIELDS,
    V05_SCHEDULE,
    AgentRecords,
    Archetype,
    ArchetypeMix,
    AttackTarget,
    Calibration,
    CoalitionRevision,
    CoalitionRule,
    DelegationMode,
    InfluenceModel,
    MevDistribution,
    MevTargeting,
    RuleSet,
    Schedule,
    SimParams,
    Traces,
)
from simulator.records.building import run_records
from simulator.records.io import append_records
from simulator.records.schema import RunRecord
from simulator.seeding import BaseSeed

__all__ = ["UsageError", "govsim_parser", "main", "parse_params", "run_summary"]

PROG = "govsim"
RUNS = Interval(1)
SEED = field_interval(FieldInfo.from_annotation(BaseSeed))
MIX_NAMES = tuple(a.value for a in ARCHETYPES if a is not Archetype.WHALE)

# SimParams field -> flag, for errors
FLAGS = {
    "agents": "--agents",
    "conformity_threshold": "--conformity-threshold",
    "whale_ratio": "--whale-ratio",
    "influence_model": "--influence-model",
    "network_density": "--network-density",
    "mean_degree": "--mean-degree",
    "rewire_prob": "--rewire-prob",
    "cascade_rounds": "--cascade-rounds",
    "rules": "--rules",
    "schedule": "--schedule",
    "update_fraction": "--update-fraction",
    "archetype_mix": "--archetype-mix",
    "calibration": "--calibration",
    "stake_tail": "--stake-tail",
    "proposal_favourability": "--proposal-favourability",
    "quorum": "--quorum",
    "coalition_rule": "--coalition-rule",
    "coalition_size": "--coalition-size",
    "coalition_span": "--coalition-span",
    "coalition_revision": "--coalition-revision",
    "delegation_rate": "--delegation-rate",
    "delegation_mode": "--delegation-mode",
    "delegate_share": "--delegate-share",
    "delegation_attachment": "--delegation-attachment",
    "delegation_override": "--delegation-override",
    "attack_target": "--attack-target",
    "attack_budget": "--attack-budget",
    "attack_borrowed_share": "--attack-borrowed-share",
    "attack_sybils": "--attack-sybils",
    "mev_share": "--mev-share",
    "mev_value": "--mev-value",
    "mev_distribution": "--mev-distribution",
    "mev_targeting": "--mev-targeting",
    "mev_against_share": "--mev-against-share",
}


class UsageError(SimulatorError):
    """A command-line flag has a bad value; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message + flag_hint(self, message))


def govsim_parser() -> argparse.ArgumentParser:
    """The argument parser; values stay strings here and are checked by ``parse_params``."""
    p = _Parser(
        prog=PROG,
        description="Run governance cascade simulations and write JSONL run records (schema 0.5).",
    )
    p.add_argument("--agents", default="50", help="number of agents N (default: 50)")
    p.add_argument("--runs", default="1", help="number of runs (default: 1)")
    p.add_argument("--seed", default="42", help="base seed; run i uses run_seed(seed, i) (42)")
    p.add_argument(
        "--conformity-threshold",
        default="0.6",
        help="minimum conformity to follow the whale signal (default: 0.6)",
    )
    p.add_argument("--whale-ratio", default="0.15", help="share of whales (default: 0.15)")
    p.add_argument(
        "--influence-model",
        default=InfluenceModel.ERDOS_RENYI.value,
        help="erdos_renyi (default) or small_world",
    )
    p.add_argument(
        "--network-density",
        default=None,
        help=f"edge probability, or k/(N-1) for small_world (default: {DEFAULT_DENSITY} "
        "under --rules v0.4 unless --mean-degree is given)",
    )
    p.add_argument(
        "--mean-degree",
        default=None,
        help="expected degree instead of a density (default under --rules v0.5: 10)",
    )
    p.add_argument("--rewire-prob", default="0.1", help="small-world rewiring prob. (0.1)")
    p.add_argument(
        "--cascade-rounds",
        default=None,
        help="maximum influence rounds; stops early when the cascade ends "
        f"(default: 1 under --rules v0.4, {ROUND_CAP} under v0.5)",
    )
    p.add_argument(
        "--rules",
        default=None,
        help="model rules: v0.4 or v0.5 (cascade: no flips into the local minority; "
        f"population: concentrated stakes, turnout, quorum) (default: {DEFAULT_RULES.value})",
    )
    p.add_argument(
        "--schedule",
        default=None,
        help="update schedule under --rules v0.5: synchronous or random_fraction "
        f"(default: {V05_SCHEDULE.value})",
    )
    p.add_argument(
        "--update-fraction",
        default=None,
        help="random_fraction schedule: probability that an agent which would flip does "
        f"(default: {DEFAULT_UPDATE_FRACTION})",
    )
    p.add_argument(
        "--archetype-mix",
        default=None,
        help="weights of the non-whale archetypes, e.g. optimizer=0.2,retail=0.5 "
        "(unlisted ones get 0; default: optimizer=0.2,reputation_seeker=0.2,contrarian=0.1,"
        "institutional=0.15,retail=0.35)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        help="v0.5 population preset: none (default), compound or uniswap (needs --rules v0.5)",
    )
    p.add_argument(
        "--stake-tail",
        default=None,
        help="Pareto tail index of voting power in (0, 1) (v0.5; default from the calibration)",
    )
    p.add_argument(
        "--proposal-favourability",
        default=None,
        help="chance a proposal is on the favourable side of each dimension (v0.5; default "
        "from the calibration)",
    )
    p.add_argument(
        "--quorum",
        default=None,
        help="share of total stake that must vote for a pass (v0.5; default from the calibration)",
    )
    p.add_argument(
        "--coalition-rule",
        default=None,
        help="whale coalitions (v0.5): none (default: off), stake_majority (a bloc votes as the "
        "stake majority of its voting members) or leader (as its largest voting member)",
    )
    p.add_argument(
        "--coalition-size",
        default=None,
        help="most whales in one bloc, consecutive in preference order (0: no limit, the "
        "default; 1: every whale on its own)",
    )
    p.add_argument(
        "--coalition-span",
        default=None,
        help="width of the preference cells in [0.001, 1]: whales whose risk tolerances fall in "
        "different cells never share a bloc (default: 1)",
    )
    p.add_argument(
        "--coalition-revision",
        default=None,
        help="when a bloc may change its round-0 vote: every_round (default) or never",
    )
    p.add_argument(
        "--delegation-rate",
        default=None,
        help="share of the holders that are not delegates who delegate their voting power "
        "(v0.5; default 0: no delegation)",
    )
    p.add_argument(
        "--delegation-mode",
        default=None,
        help="how a holder picks its delegate: preferential (default; by the delegates' power) "
        "or similarity (the closest preferences)",
    )
    p.add_argument(
        "--delegate-share",
        default=None,
        help="share of the agents that are delegates, the largest holders (default: 0.01)",
    )
    p.add_argument(
        "--delegation-attachment",
        default=None,
        help="preferential mode: exponent a of the delegates' power in the choice (default: 1)",
    )
    p.add_argument(
        "--delegation-override",
        default=None,
        help="probability that a delegator who votes and disagrees with its delegate votes "
        "itself (default: 0)",
    )
    p.add_argument(
        "--attack-target",
        default=None,
        help="governance attack (v0.5): the outcome the attacker wants, pass, fail or auto (the "
        "opposite of the run's outcome without the attack); none (default) is no attack",
    )
    p.add_argument(
        "--attack-budget",
        default=None,
        help="bribe budget as a share of the holders' total voting power, in [0, 10] (default: 0)",
    )
    p.add_argument(
        "--attack-borrowed-share",
        default=None,
        help="voting power borrowed for the vote only (flash loan), as a share of the holders' "
        "total, in [0, 4] (default: 0)",
    )
    p.add_argument(
        "--attack-sybils",
        default=None,
        help="sybil accounts that vote with the attacker and join the network (default: 0)",
    )
    p.add_argument(
        "--mev-share",
        default=None,
        help="MEV-aware voting: share of agents who can extract value from the proposal "
        "(v0.5; default 0: off)",
    )
    p.add_argument(
        "--mev-value",
        default=None,
        help="mean extractable value, in units of the spread of honest utilities (default 1)",
    )
    p.add_argument(
        "--mev-distribution",
        default=None,
        help="law of the extractable value: constant, lognormal (default) or pareto",
    )
    p.add_argument(
        "--mev-targeting",
        default=None,
        help="who extracts: uniform (any agent) or stake (weighted by stake; default)",
    )
    p.add_argument(
        "--mev-against-share",
        default=None,
        help="share of extractors who lose their value if the proposal passes (default 0)",
    )
    p.add_argument(
        "--agent-records",
        default=AgentRecords.INLINE.value,
        help="per-agent records: inline (default), parquet (side file) or none",
    )
    p.add_argument(
        "--traces",
        default=Traces.NONE.value,
        help="flip traces: none (default) or parquet (a side file of every flip: agent, round, "
        "from and to vote, cause)",
    )
    p.add_argument("--output", default=None, help="JSONL file to append run records to")
    p.add_argument("--version", action="version", version=f"%(prog)s {simulator.__version__}")
    return p


def _quoted(raw: str) -> str:
    """A flag's text as a quoted string, cut to 60 characters."""
    return repr(raw if len(raw) <= 60 else raw[:57] + "...")


def _int(flag: str, raw: str, allowed: Interval) -> int:
    try:
        value = int(raw)
    except ValueError:  # also an integer of more digits than Python converts
        raise UsageError(f"{flag}: {_quoted(raw)} is not an integer") from None
    if not allowed.floor <= value <= allowed.ceiling:
        raise UsageError(f"{flag}: {value} is outside {allowed}")
    return value


def _mix(raw: str) -> dict[str, Any]:
    weights: dict[str, Any] = dict.fromkeys(MIX_NAMES, 0.0)
    seen: set[str] = set()
    for item in raw.split(","):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not name:
            raise UsageError(f"--archetype-mix: {item!r} is not NAME=WEIGHT")
        if name not in weights:
            raise UsageError(
                f"--archetype-mix: {name!r} is not one of {', '.join(MIX_NAMES)} "
                "(whales come from --whale-ratio)"
            )
        if name in seen:
            raise UsageError(f"--archetype-mix: {name} is given twice")
        seen.add(name)
        weights[name] = value
    return weights


_RANGE_KINDS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})


def _flag(loc: Location) -> str:
    """The flag of an error location: ``archetype_mix.retail`` -> ``--archetype-mix``."""
    return FLAGS.get(str(loc[0]), str(loc[0])) if loc else ""


def _flag_reason(err: ErrorDetails, loc: Location) -> str | None:
    """A parameter error in terms of the flag's value."""
    if not loc:
        return None
    field, sub = str(loc[0]), (str(loc[1]) if len(loc) > 1 else None)
    value = err.get("input")
    text = value if isinstance(value, str) else repr(value)
    kind = err["type"]
    if kind in _RANGE_KINDS:
        info = ArchetypeMix.model_fields[sub] if sub else SimParams.model_fields[field]
        what = f"{sub}={text}" if sub else text
        return f"{what} is outside {field_interval(info)}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{text!r} is not an integer"
    if kind == "finite_number":
        return f"{f'{sub}=' if sub else ''}{text} is not a finite number"
    if kind in ("float_parsing", "float_type"):
        return f"{text!r} is not a number"
    if kind == "enum":
        return f"{text!r} is not one of {', '.join(m.value for m in InfluenceModel)}"
    return plain_message(err).removeprefix(f"{field}: ")


_TEXT = ErrorText(root="parameters", location=_flag, reason=_flag_reason)
"""How the command line words parameter errors: ``--flag: reason``."""


def _choice(
    flag: str,
    raw: str | None,
    enum: type[RuleSet]
    | type[Schedule]
    | type[Calibration]
    | type[AgentRecords]
    | type[Traces]
    | type[CoalitionRule]
    | type[CoalitionRevision]
    | type[DelegationMode]
    | type[AttackTarget]
    | type[MevDistribution]
    | type[MevTargeting],
) -> str | None:
    """``raw`` if it names a member of ``enum`` (or is None), else a UsageError naming ``flag``."""
    if raw is not None and raw not in {m.value for m in enum}:
        raise UsageError(f"{flag}: {raw!r} is not one of {', '.join(m.value for m in enum)}")
    return raw


def parse_params(args: argparse.Namespace) -> SimParams:
    """SimParams from parsed flags, or UsageError naming the offending flag.

    Flags left out take SimParams' defaults, some of which depend on ``--rules``.
    """
    if args.network_density is not None and args.mean_degree is not None:
        raise UsageError("--mean-degree: not allowed with --network-density (give one)")
    rules = _choice("--rules", args.rules, RuleSet)
    if RuleSet(rules or DEFAULT_RULES) is RuleSet.V0_4:
        for flag, value in (
            ("--schedule", args.schedule),
            ("--update-fraction", args.update_fraction),
        ):
            if value is not None:
                raise UsageError(f"{flag}: {value!r} needs --rules v0.5 (v0.4 is synchronous)")
    raw: dict[str, Any] = {
        "agents": args.agents,
        "conformity_threshold": args.conformity_threshold,
        "whale_ratio": args.whale_ratio,
        "influence_model": args.influence_model,
        "rewire_prob": args.rewire_prob,
    }
    for name, value in (
        ("cascade_rounds", args.cascade_rounds),
        ("rules", rules),
        ("schedule", _choice("--schedule", args.schedule, Schedule)),
        ("update_fraction", args.update_fraction),
    ):
        if value is not None:
            raw[name] = value
    if args.mean_degree is not None:
        raw["mean_degree"] = args.mean_degree
    elif args.network_density is not None:
        raw["network_density"] = args.network_density
    elif RuleSet(rules or DEFAULT_RULES) is RuleSet.V0_4:
        raw["network_density"] = DEFAULT_DENSITY
    if args.archetype_mix is not None:
        raw["archetype_mix"] = _mix(args.archetype_mix)
    _choice("--calibration", args.calibration, Calibration)
    _choice("--delegation-mode", args.delegation_mode, DelegationMode)
    _choice("--coalition-rule", args.coalition_rule, CoalitionRule)
    _choice("--coalition-revision", args.coalition_revision, CoalitionRevision)
    _choice("--attack-target", args.attack_target, AttackTarget)
    _choice("--mev-distribution", args.mev_distribution, MevDistribution)
    _choice("--mev-targeting", args.mev_targeting, MevTargeting)
    if _is_zero(args.mev_share):  # MEV-aware voting is off: its other flags would do nothing
        for name in MEV_FIELDS[1:]:
            if getattr(args, name) is not None:
                raise UsageError(f"{FLAGS[name]}: only used with --mev-share > 0")
    for name in (*POPULATION_FIELDS, *SCENARIO_FIELDS):
        if getattr(args, name) is not None:
            if RuleSet(rules or DEFAULT_RULES) is not RuleSet.V0_5:
                raise UsageError(f"{FLAGS[name]}: only used with --rules v0.5")
            raw[name] = getattr(args, name)
    try:
        return SimParams.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(_TEXT.first(exc)) from None


def _is_zero(raw: str | None) -> bool:
    """The flag is absent or a number equal to 0 (not a number: the parameters say so later)."""
    try:
        return raw is None or float(raw) == 0.0
    except ValueError:
        return False


def _check_output(output: Path) -> None:
    """Refuse, before any run, an ``--output`` that is a directory or lies below a file."""
    if output.is_dir():
        raise UsageError(
            f"--output: {str(output)!r} is a directory; give a JSONL file to append to"
        )
    parent = output.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--output: {str(output)!r}: {str(parent)!r} is not a directory")


def run_summary(record: RunRecord, position: str) -> str:
    """A readable multi-line summary of one run record."""
    v, f, p, t = record.votes, record.flips, record.proposal, record.turnout
    w = v.weighted
    outcome = "PASSED" if v.passed else "FAILED"
    before = "passed" if v.passed_initial else "failed"
    return "\n".join(
        [
            f"run {position}  seed {record.seed}  agents {record.params.agents}  "
            f"network {record.influence_model}  rounds {record.cascade_rounds}",
            f"  proposal   risk {p.risk:.3f}  yield {p.yield_:.3f}  complexity {p.complexity:.3f}",
            f"  votes      initial yes {v.initial.yes} / no {v.initial.no}   "
            f"final yes {v.final.yes} / no {v.final.no}",
            f"  stake      initial yes {w.initial.yes:,.1f} / no {w.initial.no:,.1f}   "
            f"final yes {w.final.yes:,.1f} / no {w.final.no:,.1f}   total {w.total_stake:,.1f}",
            f"  flips      {f.total} (yes->no {f.yes_to_no}, no->yes {f.no_to_yes}), "
            f"per round {f.per_round}, whale-signal follows {f.whale_signal_follow_events}, "
            f"agents flipped {record.agents_flipped_total}",
            f"  cascade    rules {record.rules.value} ({record.schedule.value}), "
            f"ended {_ending(record)}",
            f"  turnout    {t.votes_cast} of {record.params.agents} voted, stake cast "
            f"{t.stake_cast:,.1f}, quorum {t.quorum:g} {'met' if t.quorum_met else 'not met'}",
            f"  outcome    {outcome} (stake-weighted over votes cast; before influence: {before}"
            f"{'; changed by the cascade' if record.outcome_changed_by_cascade else ''})",
            *_coalition_lines(record),
            *_delegation_lines(record),
            *_attack_lines(record),
            *_mev_summary(record),
        ]
    )


def _coalition_lines(record: RunRecord) -> list[str]:
    """The whale-coalition line of a run summary (none when coalitions are off)."""
    c = record.coalitions
    if c is None:
        return []
    line = (
        f"  coalitions {c.rule.value}: {c.blocs} blocs of {c.members} whales, {c.overruled} "
        f"voting members overruled in round 0, {c.switches} bloc switches"
    )
    big = c.largest
    if big is not None:
        share = big.stake_cast / record.turnout.stake_cast
        vote = {True: "yes", False: "no"}
        line += (
            f"; largest: {big.members} whales ({big.voters} voting, {share:.1%} of the stake "
            f"cast), voted {vote[big.initial_vote]} -> {vote[big.final_vote]}"
        )
    return [line]


def _delegation_lines(record: RunRecord) -> list[str]:
    d = record.delegation
    if d is None:
        return []
    w, wo = d.with_delegation, d.without_delegation
    return [
        f"  delegation {d.delegators} delegated to {d.delegates} delegates ({d.active_delegates} "
        f"voted), {d.overrides} overrode; power cast: top-10 share {w.top10_share:.1%} "
        f"(without delegation {wo.top10_share:.1%}), Nakamoto {w.nakamoto} ({wo.nakamoto})"
    ]


def _attack_lines(record: RunRecord) -> list[str]:
    """The governance attack of a run, if it has one."""
    a = record.attack
    if a is None:
        return []
    share = a.holders_stake or 1.0
    without = "passed" if a.passed_without_attack else "failed"
    return [
        f"  attack     target {a.target} (without the attack: {without}); "
        f"{'SUCCEEDED' if a.succeeded else 'did not flip the outcome'}",
        f"             bought {a.bribed} holders ({a.bribed_abstainers} abstainers, "
        f"{a.bribed_stake / share:.2%} of the voting power) for {a.spent / share:.2%} of a "
        f"budget of {a.budget / share:.2%}; borrowed {a.borrowed_power / share:.2%}; "
        f"{a.sybils} sybils with {a.sybil_edges} links",
    ]


def _mev_summary(record: RunRecord) -> list[str]:
    """The MEV line of a run's summary (none when the scenario is off)."""
    m = record.mev
    if m is None:
        return []
    honest = "PASSED" if m.passed_honest else "FAILED"
    return [
        f"  mev        {m.extractors} extractors ({m.extractors_voting} voted), "
        f"{m.votes_changed} votes changed; honest outcome {honest}"
        f"{' (changed by the extractable value)' if m.outcome_changed_by_mev else ''}, "
        f"welfare loss {m.welfare_loss:.3f}"
    ]


def _ending(record: RunRecord) -> str:
    c = record.cascade
    if c.converged_round is not None:
        return f"converged (last change in round {c.converged_round})"
    if c.period is not None:
        return f"in a cycle of period {c.period}"
    return "at the round cap"


def _run(argv: Sequence[str] | None) -> int:
    args = govsim_parser().parse_args(argv)
    runs = _int("--runs", args.runs, RUNS)
    seed = _int("--seed", args.seed, SEED)
    params = parse_params(args)
    _choice("--agent-records", args.agent_records, AgentRecords)
    _choice("--traces", args.traces, Traces)
    mode, traces = AgentRecords(args.agent_records), Traces(args.traces)
    output = None if args.output is None else Path(args.output)
    for flag, parquet in (
        ("--agent-records", mode is AgentRecords.PARQUET),
        ("--traces", traces is Traces.PARQUET),
    ):
        if parquet and output is None:
            raise UsageError(f"{flag}: parquet needs --output (the side files sit beside it)")
    if output is not None:
        _check_output(output)
    problem = memory_problem(params, mode if output is not None else AgentRecords.NONE)
    if problem is not None:
        raise UsageError(f"parameters: {problem}")
    records = run_records(
        params, base_seed=seed, runs=runs, agent_records=mode, traces=traces, output=output
    )
    show = runs > 1 and sys.stderr.isatty()
    with tqdm(total=runs, unit="run", file=sys.stderr, disable=not show) as bar:
        for i, record in enumerate(records, start=1):
            if output is None:
                print(run_summary(record, f"{i}/{runs}"))
            else:
                try:
                    append_records(output, [record])
                except RecordError as exc:
                    raise UsageError(f"--output: {exc}") from None
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    raise UsageError(f"--output: cannot write {str(output)!r}: {reason}") from None
            bar.update()
    if output is not None:
        print(f"{PROG}: appended {runs} record(s) to {output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 bad input, 1 an I/O error, 143 SIGTERM)."""
    try:
        with sigterm_raises() as termination:  # a kill unwinds: no temporary file, no partial line
            try:
                return _run(argv)
            except Exception:
                if termination.requested:  # what a C callback made of Terminated
                    raise Terminated("SIGTERM received") from None
                raise
    except (UsageError, SimulatorError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `govsim | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. a full disk: --output keeps only complete lines
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except MemoryError:
        # The up-front estimate let the run start, but an allocation failed all the same.
        print(f"{PROG}: error: out of memory: {_describe(argv)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        return 143


def _describe(argv: Sequence[str] | None) -> str:
    """The run's size in the words of its flags, for an out-of-memory message."""
    try:
        params = parse_params(govsim_parser().parse_args(argv))
    except (UsageError, SimulatorError):
        return "the run did not fit in memory"
    return (
        f"{params.agents} agents at mean degree {params.expected_degree():.4g} (about "
        f"{params.expected_edges():.2g} edges) did not fit; use fewer agents (--agents) or a "
        "smaller mean degree (--mean-degree, --network-density)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
