"""Rules of the per-agent rows of a run record, inline or in a Parquet side file.

Each row must be possible on its own (an id inside ``[0, agents)`` and unique, a flip count whose
parity explains the change of vote, a first-flip round that is null exactly when the agent never
flipped, an abstainer that never flipped, a round-0 vote that is its utility's sign) and the rows
together must add up to the run's tallies (votes and stakes cast, flips, whale-signal follows,
degrees).
Rows are checked in column batches, so a million-agent side file is checked without a million
Python objects. A side file is not validated by pydantic, so its column kinds, nulls and value
ranges are checked here against what ``AgentRecord`` (``simulator.records.schema``) allows; they
are derived from that model, never restated.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic.fields import FieldInfo

from simulator.errors import RecordError
from simulator.messages import Interval, field_interval
from simulator.params import Archetype
from simulator.records.coalition_checks import CoalitionRows
from simulator.records.delegation_rows import DELEGATION_COLUMNS, DelegationRows
from simulator.records.io import file_sha256, read_parquet_batches, resolve_side_file
from simulator.records.schema import AgentRecord, RunRecord

__all__ = [
    "AGENT_COLUMNS",
    "COLUMN_KINDS",
    "COLUMN_RANGES",
    "MAX_ROWS_REPORTED",
    "NULLABLE_COLUMNS",
    "SCENARIO_COLUMNS",
    "AgentColumns",
    "agent_column_batches",
    "arrow_kind",
    "check_inline_agents",
    "check_side_file",
    "row_problems",
    "stakes_agree",
]

MAX_ROWS_REPORTED = 3
"""Offending agents listed per rule; the rest are counted."""
REL_TOL = 1e-9
"""Relative tolerance of stake sums (float64 sums of up to 10^7 stakes stay far inside it)."""
ABS_TOL = 1e-9
"""Absolute tolerance of stake sums, for runs whose total stake is zero."""
_INT_LIMIT = 1 << 62


def _base_type(info: FieldInfo) -> tuple[type, bool]:
    """A field's value type without ``None`` and ``Annotated``, and whether it may be null."""
    annotation = info.annotation
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        (annotation,) = args
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    assert isinstance(annotation, type), annotation
    return annotation, nullable


def _kind(value_type: type) -> str:
    """The column kind of a value type: integer, float, boolean or string."""
    if issubclass(value_type, bool):
        return "boolean"
    if issubclass(value_type, int) and not issubclass(value_type, Enum):
        return "integer"
    if issubclass(value_type, float):
        return "float"
    return "string"


_FIELDS = {name: _base_type(info) for name, info in AgentRecord.model_fields.items()}

AGENT_COLUMNS: tuple[str, ...] = tuple(AgentRecord.model_fields)
"""Columns of a Parquet side file: the fields of a per-agent record, in order."""
SCENARIO_COLUMNS: tuple[tuple[str, ...], ...] = (DELEGATION_COLUMNS, ("bribed",))
"""Groups of columns a research scenario adds: a side file (and an inline record) has all of a
group or none of it, and never null in them."""
_OPTIONAL = frozenset(name for group in SCENARIO_COLUMNS for name in group)
COLUMN_KINDS: dict[str, str] = {name: _kind(t) for name, (t, _) in _FIELDS.items()}
"""Kind of each column: integer, float, boolean or string (an enum's value)."""
NULLABLE_COLUMNS: frozenset[str] = frozenset(
    name for name, (_, null) in _FIELDS.items() if null and name not in _OPTIONAL
)
"""Columns that may hold null."""
COLUMN_RANGES: dict[str, Interval] = {
    name: field_interval(info)
    for name, info in AgentRecord.model_fields.items()
    if COLUMN_KINDS[name] in ("integer", "float")
}
"""Allowed interval of each numeric column."""
PRE_05_COLUMNS: dict[str, object] = {
    "participated": True,
    "utility": None,
    "whale_signal_follows": None,
}
"""Columns a side file written for a schema 0.4 record lacks, and what they read as: the record
migrated to 0.5 keeps the file (and its hash) as it is."""
_CHOICES: dict[str, tuple[str, ...]] = {
    name: tuple(str(m.value) for m in t) for name, (t, _) in _FIELDS.items() if issubclass(t, Enum)
}


@dataclass(frozen=True)
class AgentColumns:
    """A batch of per-agent records as arrays; ``flip_round`` is 0 where the record has null."""

    id: np.ndarray
    stake: np.ndarray
    degree: np.ndarray
    initial_vote: np.ndarray
    final_vote: np.ndarray
    flip_count: np.ndarray
    flip_round: np.ndarray
    participated: np.ndarray
    utility: np.ndarray
    """float64; NaN where the record has null."""
    whale_follows: np.ndarray
    """int64; -1 where the record has null."""
    whale: np.ndarray
    """bool: the agent is a whale."""
    risk_tolerance: np.ndarray
    bribed: np.ndarray
    """bool; false where the record has null or no such column."""
    bribed_given: int
    """Rows that give ``bribed`` (not null)."""
    delegate: np.ndarray | None = None
    """Delegation columns (None when the rows have none): int64; -1 where a row lacks it."""
    delegated_power: np.ndarray | None = None
    """float64; NaN where a row lacks it."""
    voting_power: np.ndarray | None = None
    """float64; NaN where a row lacks it."""
    overrode: np.ndarray | None = None
    """bool; False where a row lacks it."""

    @classmethod
    def from_records(cls, agents: list[AgentRecord]) -> AgentColumns:
        """Columns of inline per-agent records."""

        def ints(values: list[int]) -> np.ndarray:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:  # beyond int64: clip; such values break a rule anyway
                return np.array([min(v, _INT_LIMIT) for v in values], dtype=np.int64)

        return cls(
            id=ints([a.id for a in agents]),
            stake=np.array([a.stake for a in agents], dtype=np.float64),
            degree=ints([a.degree for a in agents]),
            initial_vote=np.array([a.initial_vote for a in agents], dtype=np.bool_),
            final_vote=np.array([a.final_vote for a in agents], dtype=np.bool_),
            flip_count=ints([a.flip_count for a in agents]),
            flip_round=ints([a.flip_round or 0 for a in agents]),
            participated=np.array([a.participated for a in agents], dtype=np.bool_),
            utility=np.array(
                [math.nan if a.utility is None else a.utility for a in agents], dtype=np.float64
            ),
            whale_follows=ints(
                [-1 if a.whale_signal_follows is None else a.whale_signal_follows for a in agents]
            ),
            whale=np.array([a.archetype is Archetype.WHALE for a in agents], dtype=np.bool_),
            risk_tolerance=np.array([a.risk_tolerance for a in agents], dtype=np.float64),
            **_inline_delegation(agents, ints),
            bribed=np.array([bool(a.bribed) for a in agents], dtype=np.bool_),
            bribed_given=sum(a.bribed is not None for a in agents),
        )

    @classmethod
    def from_batch(cls, batch: pa.RecordBatch) -> AgentColumns:
        """Columns of a Parquet batch; nulls become 0 or false (the range checks report them)."""

        def ints(name: str) -> np.ndarray:
            values = _numpy(batch.column(name), fill=0)
            return np.clip(values, -_INT_LIMIT, _INT_LIMIT).astype(np.int64)

        def bools(name: str) -> np.ndarray:
            return _numpy(batch.column(name), fill=False).astype(np.bool_)

        rows = batch.num_rows
        names = set(batch.schema.names)

        def column(name: str, fill: float | int, absent: float | int) -> np.ndarray:
            if name not in names:
                return np.full(rows, absent)
            return _numpy(batch.column(name), fill=fill)

        return cls(
            id=ints("id"),
            stake=_numpy(batch.column("stake"), fill=0.0).astype(np.float64),
            degree=ints("degree"),
            initial_vote=bools("initial_vote"),
            final_vote=bools("final_vote"),
            flip_count=ints("flip_count"),
            flip_round=ints("flip_round"),
            participated=column("participated", False, True).astype(np.bool_),
            utility=column("utility", math.nan, math.nan).astype(np.float64),
            whale_follows=np.clip(column("whale_signal_follows", -1, -1), -1, _INT_LIMIT).astype(
                np.int64
            ),
            whale=_numpy(
                pc.equal(pc.cast(batch.column("archetype"), pa.string()), Archetype.WHALE.value),
                fill=False,
            ).astype(np.bool_),
            risk_tolerance=_numpy(batch.column("risk_tolerance"), fill=0.0).astype(np.float64),
            **_batch_delegation(batch, names),
            bribed=column("bribed", False, False).astype(np.bool_),
            bribed_given=rows - batch.column("bribed").null_count if "bribed" in names else 0,
        )


def _inline_delegation(
    agents: list[AgentRecord], ints: Callable[[list[int]], np.ndarray]
) -> dict[str, np.ndarray]:
    """The delegation columns of inline records, if any row has one (gaps: -1, NaN, False)."""
    if all(getattr(a, c) is None for a in agents for c in DELEGATION_COLUMNS):
        return {}

    def floats(name: str) -> np.ndarray:
        values = [getattr(a, name) for a in agents]
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    whole = [all(getattr(a, c) is not None for c in DELEGATION_COLUMNS) for a in agents]
    return {  # a row lacking any of them reads as lacking its delegate (-1), which is reported
        "delegate": ints(
            [
                -1 if a.delegate is None or not ok else a.delegate
                for a, ok in zip(agents, whole, strict=True)
            ]
        ),
        "delegated_power": floats("delegated_power"),
        "voting_power": floats("voting_power"),
        "overrode": np.array([bool(a.overrode) for a in agents], dtype=np.bool_),
    }


def _batch_delegation(batch: pa.RecordBatch, names: set[str]) -> dict[str, np.ndarray]:
    """The delegation columns of a Parquet batch, if it has them all."""
    if not all(c in names for c in DELEGATION_COLUMNS):
        return {}
    return {
        "delegate": np.clip(_numpy(batch.column("delegate"), fill=-1), -1, _INT_LIMIT).astype(
            np.int64
        ),
        "delegated_power": _numpy(batch.column("delegated_power"), fill=math.nan).astype(
            np.float64
        ),
        "voting_power": _numpy(batch.column("voting_power"), fill=math.nan).astype(np.float64),
        "overrode": _numpy(batch.column("overrode"), fill=False).astype(np.bool_),
    }


def row_problems(
    label: Callable[[int], str], mask: np.ndarray, offset: int, say: Callable[[int], str]
) -> list[str]:
    """Messages for the first offending rows of one rule, and a count of the rest."""
    bad = np.flatnonzero(mask)
    out = [f"{label(offset + int(i))}.{say(int(i))}" for i in bad[:MAX_ROWS_REPORTED]]
    if len(bad) > MAX_ROWS_REPORTED:
        out[-1] += f" (and {len(bad) - MAX_ROWS_REPORTED} more rows)"
    return out


class _AgentTally:
    """Row rules and running sums over batches of per-agent records of one run."""

    def __init__(self, record: RunRecord, label: Callable[[int], str]) -> None:
        self.record = record
        self.label = label
        self.n = record.params.agents
        self.rounds = record.cascade_rounds
        self.seen = np.zeros(self.n, dtype=np.bool_)
        self.rows = 0
        self.voters = 0
        self.whale_sum = 0
        self.whale_unknown = 0
        self.flip_sum = 0
        self.flipped = 0
        self.yes_initial = 0
        self.yes_final = 0
        self.degree_sum = 0
        self.stakes: dict[str, list[float]] = {
            k: [] for k in ("total", "initial.yes", "initial.no", "final.yes", "final.no")
        }
        self.first_flips = np.zeros(self.rounds + 1, dtype=np.int64)
        self.problems: list[str] = []
        # whale coalitions: a member's round-0 vote is its bloc's, checked once all rows are in
        self.coalitions = None if record.coalitions is None else CoalitionRows(record)
        self.delegation = DelegationRows(record, label)
        attack = record.attack
        self.sybils = 0 if attack is None else attack.sybils
        self.bribed = self.bribed_given = 0
        self.bribed_stake: list[float] = []

    def _bribed_rows(self, c: AgentColumns, offset: int) -> list[str]:
        """A bought agent votes, for the attacker's target from round 0, and never flips."""
        attack = self.record.attack
        if attack is None:
            return []
        target = attack.target == "pass"
        lab = self.label
        p = row_problems(
            lab,
            c.bribed & ~c.participated,
            offset,
            lambda i: "participated: false, but the agent is bribed (a bought agent votes)",
        )
        p += row_problems(
            lab,
            c.bribed & (c.initial_vote != target),
            offset,
            lambda i: (
                f"initial_vote: {_json(c.initial_vote[i])}, but the agent is bribed and the "
                f"attack's target is {attack.target}"
            ),
        )
        p += row_problems(
            lab,
            c.bribed & (c.flip_count > 0),
            offset,
            lambda i: f"flip_count: {c.flip_count[i]}, but the agent is bribed (it never flips)",
        )
        return p

    def add(self, c: AgentColumns, offset: int) -> None:
        """Check one batch row by row and add it to the sums."""
        p, lab, n, rounds = self.problems, self.label, self.n, self.rounds
        ids = c.id
        out = (ids < 0) | (ids >= n)
        p += row_problems(lab, out, offset, lambda i: f"id: {ids[i]} is outside [0, {n})")
        where = np.flatnonzero(~out)
        inside = ids[where]
        dup = np.zeros(len(ids), dtype=np.bool_)
        dup[where] = self.seen[inside] | ~_first_occurrence(inside)
        p += row_problems(lab, dup, offset, lambda i: f"id: {ids[i]} appears more than once")
        self.seen[inside] = True

        finite = np.isfinite(c.stake)
        p += row_problems(lab, ~finite, offset, lambda i: f"stake: {c.stake[i]} is not finite")
        changed = c.initial_vote != c.final_vote
        parity = changed != (c.flip_count % 2 == 1)
        p += row_problems(
            lab,
            parity,
            offset,
            lambda i: (
                f"flip_count: {c.flip_count[i]} flips cannot turn initial_vote "
                f"{_json(c.initial_vote[i])} into final_vote {_json(c.final_vote[i])} "
                "(each flip toggles the vote)"
            ),
        )
        never = c.flip_count == 0
        p += row_problems(
            lab,
            never != (c.flip_round == 0),
            offset,
            lambda i: (
                f"flip_round: {_round(c.flip_round[i])} disagrees with flip_count "
                f"{c.flip_count[i]} (null exactly when the agent never flipped)"
            ),
        )
        p += row_problems(
            lab,
            c.flip_round > rounds,
            offset,
            lambda i: f"flip_round: {c.flip_round[i]} exceeds cascade_rounds = {rounds}",
        )
        p += row_problems(
            lab,
            c.flip_count > rounds,
            offset,
            lambda i: (
                f"flip_count: {c.flip_count[i]} exceeds cascade_rounds = {rounds} "
                "(at most one flip per round)"
            ),
        )
        abstained = ~c.participated
        p += row_problems(
            lab,
            abstained & (c.flip_count > 0),
            offset,
            lambda i: (
                f"flip_count: {c.flip_count[i]}, but the agent did not vote (abstainers never flip)"
            ),
        )
        known = ~np.isnan(c.utility)
        if self.coalitions is not None:
            known &= ~c.whale
            self.coalitions.add(
                offset,
                whale=c.whale,
                ids=ids,
                risk_tolerance=c.risk_tolerance,
                stake=c.stake,
                participated=c.participated,
                utility=c.utility,
                initial_vote=c.initial_vote,
                final_vote=c.final_vote,
                flip_count=c.flip_count,
            )
        known &= ~c.bribed  # a bought vote is the attacker's target
        p += row_problems(
            lab,
            known & ((c.utility > 0) != c.initial_vote),
            offset,
            lambda i: (
                f"initial_vote: {_json(c.initial_vote[i])}, but utility {c.utility[i]} "
                "(the round-0 vote is yes exactly when the utility is positive)"
            ),
        )
        p += row_problems(
            lab,
            c.whale_follows > c.flip_count,
            offset,
            lambda i: (
                f"whale_signal_follows: {c.whale_follows[i]} exceeds flip_count "
                f"{c.flip_count[i]} (following the whales against one's vote is a flip)"
            ),
        )
        most = n - 1 + self.sybils
        p += row_problems(
            lab,
            c.degree > most,
            offset,
            lambda i: (
                f"degree: {c.degree[i]} exceeds params.agents - 1 = {n - 1}"
                + (f" plus attack.sybils = {self.sybils}" if self.sybils else "")
            ),
        )
        p += self._bribed_rows(c, offset)

        self.rows += len(ids)
        self.voters += int(np.count_nonzero(c.participated))
        self.whale_unknown += int(np.count_nonzero(c.whale_follows < 0))
        self.whale_sum += int(c.whale_follows[c.whale_follows >= 0].sum())
        self.flip_sum += int(c.flip_count.sum())
        self.flipped += int(np.count_nonzero(~never))
        voted = c.participated
        self.yes_initial += int(np.count_nonzero(c.initial_vote & voted))
        self.yes_final += int(np.count_nonzero(c.final_vote & voted))
        self.degree_sum += int(c.degree.sum())
        self.bribed += int(np.count_nonzero(c.bribed))
        self.bribed_given += c.bribed_given
        stake = np.where(finite, c.stake, 0.0)
        self.stakes["total"].append(float(stake.sum()))
        # votes weigh by voting power: the stake, or with delegation the voting_power column
        power = stake if c.voting_power is None else np.nan_to_num(c.voting_power, posinf=0.0)
        self.bribed_stake.append(float(power[c.bribed].sum()))
        self.stakes["initial.yes"].append(float(power[c.initial_vote & voted].sum()))
        self.stakes["initial.no"].append(float(power[~c.initial_vote & voted].sum()))
        self.stakes["final.yes"].append(float(power[c.final_vote & voted].sum()))
        self.stakes["final.no"].append(float(power[~c.final_vote & voted].sum()))
        p += self.delegation.add(c, offset)
        first = np.clip(c.flip_round, 0, rounds)
        self.first_flips += np.bincount(first, minlength=rounds + 1)[: rounds + 1]

    def _attacker(self) -> None:
        """Add the attacker's own votes (sybils, borrowed power) to the sums, as the run-level
        tallies count them, and compare the bought agents with the ``attack`` block."""
        a, p = self.record.attack, self.problems
        if a is None:
            if self.bribed_given:
                p.append(f"agents: {self.bribed_given} rows give bribed, but the run has no attack")
            return
        if self.bribed_given != self.rows:
            p.append(
                f"agents: {self.rows - self.bribed_given} rows lack bribed, but the run has an "
                "attack (every row gives it)"
            )
        extra_votes = a.sybils + (1 if a.borrowed_power > 0 else 0)
        extra_stake = a.borrowed_power + a.sybils * a.sybil_stake
        side = "yes" if a.target == "pass" else "no"
        self.voters += extra_votes
        if side == "yes":
            self.yes_initial += extra_votes
            self.yes_final += extra_votes
        for key in ("total", f"initial.{side}", f"final.{side}"):
            self.stakes[key].append(extra_stake)
        self.degree_sum += a.sybil_edges  # each link is in one holder's row and one sybil's
        if self.bribed != a.bribed:
            p.append(f"attack.bribed: {a.bribed}, but {self.bribed} agents have bribed true")
        bought = math.fsum(self.bribed_stake)
        if not stakes_agree(bought, a.bribed_stake):
            p.append(
                f"attack.bribed_stake: {a.bribed_stake}, but the voting power of the bribed "
                f"agents sums to {bought}"
            )

    def finish(self) -> list[str]:
        """Row problems plus the disagreements between the sums and the record's tallies."""
        self._attacker()
        r, p = self.record, self.problems
        if self.flip_sum != r.flips.total:
            p.append(
                f"flips.total: {r.flips.total}, but the per-agent flip_count values sum to "
                f"{self.flip_sum}"
            )
        if self.flipped != r.agents_flipped_total:
            p.append(
                f"agents_flipped_total: {r.agents_flipped_total}, but {self.flipped} agents have "
                "flip_count > 0"
            )
        if self.voters != r.turnout.votes_cast:
            p.append(
                f"turnout.votes_cast: {r.turnout.votes_cast}, but {self.voters} agents have "
                "participated true"
            )
        if not self.whale_unknown and self.whale_sum != r.flips.whale_signal_follow_events:
            p.append(
                f"flips.whale_signal_follow_events: {r.flips.whale_signal_follow_events}, but the "
                f"per-agent whale_signal_follows values sum to {self.whale_sum}"
            )
        for phase, yes in (("initial", self.yes_initial), ("final", self.yes_final)):
            count = getattr(r.votes, phase)
            if yes != count.yes:
                p.append(f"votes.{phase}.yes: {count.yes}, but {yes} voters have {phase}_vote true")
            if self.voters - yes != count.no:
                p.append(
                    f"votes.{phase}.no: {count.no}, but {self.voters - yes} voters have "
                    f"{phase}_vote false"
                )
        w = r.votes.weighted
        total = math.fsum(self.stakes["total"])
        if not stakes_agree(total, w.total_stake):
            p.append(f"votes.weighted.total_stake: {w.total_stake}, but the stakes sum to {total}")
        for key, parts in self.stakes.items():
            if key == "total":
                continue
            phase, side = key.split(".")
            recorded = getattr(getattr(w, phase), side)
            summed = math.fsum(parts)
            if not stakes_agree(summed, recorded):
                vote = "true" if side == "yes" else "false"
                what = "voting powers" if self.delegation.present else "stakes"
                p.append(
                    f"votes.weighted.{key}: {recorded}, but the {what} of voters with "
                    f"{phase}_vote {vote} sum to {summed}"
                )
        if self.coalitions is not None:
            p += self.coalitions.finish(self.label)
        if self.degree_sum % 2:
            p.append(
                f"agents: degrees sum to {self.degree_sum}, an odd number (each edge of the "
                "undirected network adds 2)"
            )
        if len(r.flips.per_round) == self.rounds:
            for k, flips in enumerate(r.flips.per_round):
                first = int(self.first_flips[k + 1])
                if first > flips:
                    p.append(
                        f"flips.per_round.{k}: {flips} flips in round {k + 1}, but {first} agents "
                        "flipped for the first time in that round"
                    )
        return p + self.delegation.finish()


def _first_occurrence(values: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each value."""
    first = np.zeros(len(values), dtype=np.bool_)
    _, index = np.unique(values, return_index=True)
    first[index] = True
    return first


def _json(value: object) -> str:
    return "true" if value is True or value is np.True_ else "false"


def _round(value: int) -> str:
    return "null" if value == 0 else str(value)


def stakes_agree(a: float, b: float) -> bool:
    """Whether two stake sums agree within ``REL_TOL`` and ``ABS_TOL``."""
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def check_inline_agents(r: RunRecord) -> list[str]:
    """Row rules and sums of a record's inline per-agent records (``agents``)."""
    assert r.agents is not None
    tally = _AgentTally(r, lambda i: f"agents.{i}")
    tally.add(AgentColumns.from_records(r.agents), 0)
    return tally.finish()


def check_side_file(r: RunRecord, base_dir: Path) -> list[str]:
    """Hash, columns, row rules and sums of a record's Parquet side file."""
    ref = r.agent_records
    assert ref.path is not None
    try:
        full = resolve_side_file(base_dir, ref.path)
    except RecordError as exc:
        return [f"agent_records.path: {exc}"]
    if not full.is_file():
        return [f"agent_records.path: side file {str(full)!r} does not exist"]
    p: list[str] = []
    digest = file_sha256(full)
    if digest != ref.sha256:
        p.append(f"agent_records.sha256: {ref.sha256}, but {ref.path} hashes to {digest}")
    try:
        schema, rows, _ = read_parquet_batches(full, AGENT_COLUMNS)
        present = _readable(schema)
        schema, rows, batches = read_parquet_batches(full, present)
    except (pa.ArrowException, OSError) as exc:
        return [*p, f"agent_records.path: {ref.path} is not a Parquet file ({exc})"]
    columns = _check_columns(schema)
    if columns:
        return p + columns
    if "bribed" in schema.names and r.attack is None:
        p.append("agent_records.path column bribed: present, but the run has no attack")
    if "bribed" not in schema.names and r.attack is not None:
        p.append("agent_records.path column bribed: missing, but the run has an attack")
    if rows != ref.count:
        p.append(f"agent_records.count: {ref.count}, but {ref.path} has {rows} rows")
    tally = _AgentTally(r, _side_row)
    offset = 0
    for batch in batches:
        p += _check_batch(batch, offset)
        tally.add(AgentColumns.from_batch(batch), offset)
        offset += batch.num_rows
    return p + tally.finish()


def agent_column_batches(r: RunRecord, base_dir: Path | None) -> Iterator[AgentColumns] | None:
    """A record's per-agent records as column batches, or None when it has none to read.

    None also when the side file cannot be read as per-agent records (missing, not Parquet, wrong
    columns): :func:`check_side_file` reports that; other rules then have nothing to compare to.
    """
    if r.agents is not None:
        return iter([AgentColumns.from_records(r.agents)])
    path = r.agent_records.path
    if path is None or base_dir is None or Path(path).is_absolute():
        return None
    full = base_dir / path
    try:
        schema, _, _ = read_parquet_batches(full, AGENT_COLUMNS)
        present = _readable(schema)
        schema, _, batches = read_parquet_batches(full, present)
    except (pa.ArrowException, OSError):
        return None
    if _check_columns(schema):
        return None
    return (AgentColumns.from_batch(batch) for batch in batches)


def _readable(schema: pa.Schema) -> list[str]:
    """The columns to read from a side file: every column but absent pre-0.5 and scenario ones
    (a missing required column is read, and reported, as missing)."""
    return [c for c in AGENT_COLUMNS if c in schema.names or c not in (*PRE_05_COLUMNS, *_OPTIONAL)]


def _side_row(i: int) -> str:
    return f"agent_records.path row {i}"


def arrow_kind(t: pa.DataType) -> str:
    """The column kind of an Arrow type (a dictionary's value type): see ``COLUMN_KINDS``."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    return str(t)


def _check_columns(schema: pa.Schema) -> list[str]:
    p: list[str] = []
    names = set(schema.names)
    where = "agent_records.path column"
    old = not any(c in names for c in PRE_05_COLUMNS)  # a side file of a 0.4 record
    absent = {c for group in SCENARIO_COLUMNS if not names & set(group) for c in group}
    p += [
        f"{where} {c}: missing column"
        for c in AGENT_COLUMNS
        if c not in names and not (old and c in PRE_05_COLUMNS) and c not in absent
    ]
    p += [f"{where} {c}: unknown column" for c in schema.names if c not in COLUMN_KINDS]
    for c in AGENT_COLUMNS:
        if c in names and arrow_kind(schema.field(c).type) != COLUMN_KINDS[c]:
            p.append(f"{where} {c}: wrong type: {schema.field(c).type}, expected {COLUMN_KINDS[c]}")
    return p


def _check_batch(batch: pa.RecordBatch, offset: int) -> list[str]:
    """Nulls, choices and value ranges the pydantic model enforces for inline records."""
    p: list[str] = []
    present = [name for name in AGENT_COLUMNS if name in batch.schema.names]
    for name in present:
        col = batch.column(name)
        if name not in NULLABLE_COLUMNS and col.null_count:
            mask = pc.is_null(col).to_numpy(zero_copy_only=False)
            p += row_problems(_side_row, mask, offset, partial(_null_message, name))
    for name, choices in _CHOICES.items():
        values = pc.cast(batch.column(name), pa.string())
        known = pc.is_in(values, value_set=pa.array(choices))
        mask = ~pc.fill_null(known, True).to_numpy(zero_copy_only=False)
        p += row_problems(_side_row, mask, offset, partial(_choice_message, name, values))
    for name, interval in COLUMN_RANGES.items():
        if name not in present:
            continue
        col = batch.column(name)
        values = _numpy(col, fill=0)
        bad = ~((values >= interval.floor) & (values <= interval.ceiling))
        if interval.low_open:
            bad |= values == interval.floor
        if interval.high_open:
            bad |= values == interval.ceiling
        if col.null_count:  # nulls are reported above, or allowed
            bad &= ~pc.is_null(col).to_numpy(zero_copy_only=False)
        p += row_problems(_side_row, bad, offset, partial(_range_message, name, values, interval))
    return p


def _null_message(name: str, i: int) -> str:
    return f"{name}: null is not allowed"


def _choice_message(name: str, values: pa.Array, i: int) -> str:
    return f"{name}: {values[i].as_py()!r} is not an {name}"


def _range_message(name: str, values: np.ndarray, interval: Interval, i: int) -> str:
    return f"{name}: {values[i]} is outside {interval}"


def _numpy(col: pa.Array, *, fill: float | int) -> np.ndarray:
    if col.null_count:
        col = pc.fill_null(col, pa.scalar(fill, col.type))
    return np.asarray(col.to_numpy(zero_copy_only=False))
