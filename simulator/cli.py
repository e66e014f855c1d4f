"""``govsim`` / ``python -m simulator``: run simulations from the shell (the seed's flags).

Without ``--output`` each run's summary is printed; with it, every run's record is appended to the
JSONL file as soon as the run ends. Bad input gets one line naming the flag, the value and what is
allowed, and exit status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from tqdm import tqdm

import simulator
from simulator.errors import RecordError, SimulatorError
from simulator.params import (
    ARCHETYPES,
    DEFAULT_DENSITY,
    POPULATION_FIELDS,
    AgentRecords,
    Archetype,
    ArchetypeMix,
    Calibration,
    InfluenceModel,
    RuleSet,
    SimParams,
)
from simulator.records.record import append_records, run_records
from simulator.records.schema import RunRecord

__all__ = ["UsageError", "build_parser", "main", "parse_params", "summary"]

PROG = "govsim"
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
    "archetype_mix": "--archetype-mix",
    "rules": "--rules",
    "calibration": "--calibration",
    "stake_tail": "--stake-tail",
    "proposal_favourability": "--proposal-favourability",
    "quorum": "--quorum",
}


class UsageError(SimulatorError):
    """A command-line flag has a bad value; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; values stay strings here and are checked by ``parse_params``."""
    p = _Parser(
        prog=PROG,
        description="Run governance cascade simulations and write v0.4 JSONL run records.",
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
        "unless --mean-degree is given)",
    )
    p.add_argument("--mean-degree", default=None, help="expected degree instead of a density")
    p.add_argument("--rewire-prob", default="0.1", help="small-world rewiring prob. (0.1)")
    p.add_argument(
        "--cascade-rounds",
        default="1",
        help="maximum influence rounds; stops early when no agent flips (default: 1)",
    )
    p.add_argument(
        "--archetype-mix",
        default=None,
        help="weights of the non-whale archetypes, e.g. optimizer=0.2,retail=0.5 "
        "(unlisted ones get 0; default: optimizer=0.2,reputation_seeker=0.2,contrarian=0.1,"
        "institutional=0.15,retail=0.35)",
    )
    p.add_argument(
        "--rules", default=RuleSet.V0_4.value, help="model rules: v0.4 (default) or v0.5"
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
        "--agent-records",
        default=AgentRecords.INLINE.value,
        help="per-agent records: inline (default), parquet (side file) or none",
    )
    p.add_argument("--output", default=None, help="JSONL file to append run records to")
    p.add_argument("--version", action="version", version=f"%(prog)s {simulator.__version__}")
    return p


def _int(flag: str, raw: str, low: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{flag}: {raw!r} is not an integer") from None
    if value < low:
        raise UsageError(f"{flag}: {value} is outside [{low}, inf)")
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


def _bounds(field: str, sub: str | None) -> str:
    info = SimParams.model_fields[field]
    if sub is not None:
        info = ArchetypeMix.model_fields[sub]
    lo = hi = None
    lo_open = hi_open = False
    for m in info.metadata:
        for attr, is_low, is_open in (("ge", 1, 0), ("gt", 1, 1), ("le", 0, 0), ("lt", 0, 1)):
            bound = getattr(m, attr, None)
            if bound is None:
                continue
            if is_low:
                lo, lo_open = bound, bool(is_open)
            else:
                hi, hi_open = bound, bool(is_open)
    left = "(" if lo is None or lo_open else "["
    right = ")" if hi is None or hi_open else "]"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def _explain(exc: ValidationError) -> str:
    """One line for the first pydantic error, naming the flag."""
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"]]
    if not loc:
        return err["msg"]
    field, sub = loc[0], (loc[1] if len(loc) > 1 else None)
    flag = FLAGS.get(field, field)
    value = err.get("input")
    shown = value if isinstance(value, str) else repr(value)
    kind = err["type"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        what = f"{sub}={shown}" if sub else shown
        return f"{flag}: {what} is outside {_bounds(field, sub)}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{flag}: {shown!r} is not an integer"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{flag}: {shown!r} is not a number"
    if kind == "enum":
        return f"{flag}: {shown!r} is not one of {', '.join(m.value for m in InfluenceModel)}"
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix(f"{field}: ")
    return f"{flag}: {message}"


def parse_params(args: argparse.Namespace) -> SimParams:
    """SimParams from parsed flags, or UsageError naming the offending flag."""
    if args.network_density is not None and args.mean_degree is not None:
        raise UsageError("--mean-degree: not allowed with --network-density (give one)")
    raw: dict[str, Any] = {
        "agents": args.agents,
        "conformity_threshold": args.conformity_threshold,
        "whale_ratio": args.whale_ratio,
        "influence_model": args.influence_model,
        "rewire_prob": args.rewire_prob,
        "cascade_rounds": args.cascade_rounds,
    }
    if args.mean_degree is not None:
        raw["mean_degree"] = args.mean_degree
    else:
        raw["network_density"] = (
            DEFAULT_DENSITY if args.network_density is None else args.network_density
        )
    if args.archetype_mix is not None:
        raw["archetype_mix"] = _mix(args.archetype_mix)
    for flag, enum in (("rules", RuleSet), ("calibration", Calibration)):
        value = getattr(args, flag)
        if value is not None and value not in {m.value for m in enum}:
            choices = ", ".join(m.value for m in enum)
            raise UsageError(f"--{flag}: {value!r} is not one of {choices}")
    raw["rules"] = args.rules
    for name in POPULATION_FIELDS:
        if getattr(args, name) is not None:
            if args.rules != RuleSet.V0_5.value:
                raise UsageError(f"{FLAGS[name]}: only used with --rules v0.5")
            raw[name] = getattr(args, name)
    try:
        params = SimParams.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(_explain(exc)) from None
    for name in (
        "conformity_threshold",
        "whale_ratio",
        "rewire_prob",
        "mean_degree",
        "stake_tail",
        "proposal_favourability",
        "quorum",
    ):
        value = getattr(params, name)
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{FLAGS[name]}: {value} is not a finite number")
    return params


def summary(record: RunRecord, position: str) -> str:
    """A readable multi-line summary of one run record."""
    v, f, p = record.votes, record.flips, record.proposal
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
            f"per round {f.per_round}, whale-signal follows {f.whale_signal_followers}, "
            f"agents flipped {record.agents_flipped_total}",
            f"  outcome    {outcome} (stake-weighted; before influence: {before})",
        ]
    )


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    runs = _int("--runs", args.runs, 1)
    seed = _int("--seed", args.seed, 0)
    params = parse_params(args)
    try:
        mode = AgentRecords(args.agent_records)
    except ValueError:
        choices = ", ".join(m.value for m in AgentRecords)
        raise UsageError(
            f"--agent-records: {args.agent_records!r} is not one of {choices}"
        ) from None
    output = None if args.output is None else Path(args.output)
    if mode is AgentRecords.PARQUET and output is None:
        raise UsageError("--agent-records: parquet needs --output (the side files sit beside it)")
    records = run_records(params, base_seed=seed, runs=runs, agent_records=mode, output=output)
    show = runs > 1 and sys.stderr.isatty()
    with tqdm(total=runs, unit="run", file=sys.stderr, disable=not show) as bar:
        for i, record in enumerate(records, start=1):
            if output is None:
                print(summary(record, f"{i}/{runs}"))
            else:
                try:
                    append_records(output, [record])
                except RecordError as exc:
                    raise UsageError(f"--output: {exc}") from None
            bar.update()
    if output is not None:
        print(f"{PROG}: appended {runs} record(s) to {output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    try:
        return _run(argv)
    except (UsageError, SimulatorError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `govsim | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
