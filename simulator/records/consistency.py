"""Consistency rules of a v0.4 run record: the invariants its field types cannot express.

A record can be well-typed and still impossible: head counts that do not add up to the number of
agents, flip totals that disagree with the per-round or per-agent flips, stake-weighted tallies that
do not sum to the total stake. ``check_consistency`` lists every such disagreement as a one-line
message that names the field path. Per-agent records are checked in column batches, inline or from
the Parquet side file, so a million-agent run is checked without a million Python objects at once.
The rules are listed in docs/schema.md.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.params import ARCHETYPES, AgentRecords
from simulator.records.schema import AgentRecord, RunRecord, Stake

REL_TOL = 1e-9
"""Relative tolerance of stake sums (float64 sums of up to 10^7 stakes stay far inside it)."""
ABS_TOL = 1e-9
"""Absolute tolerance of stake sums, for runs whose total stake is zero."""
MAX_ROWS_REPORTED = 3
"""Offending agents listed per rule; the rest are counted."""
BATCH_ROWS = 1 << 16
"""Rows per batch when reading a Parquet side file."""
AGENT_COLUMNS: tuple[str, ...] = tuple(AgentRecord.model_fields)
"""Columns of a Parquet side file: the fields of a per-agent record, in order."""
_INT_LIMIT = 1 << 62


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
        )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _rows(
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

    def add(self, c: AgentColumns, offset: int) -> None:
        """Check one batch row by row and add it to the sums."""
        p, lab, n, rounds = self.problems, self.label, self.n, self.rounds
        ids = c.id
        out = (ids < 0) | (ids >= n)
        p += _rows(lab, out, offset, lambda i: f"id: {ids[i]} is outside [0, {n})")
        where = np.flatnonzero(~out)
        inside = ids[where]
        dup = np.zeros(len(ids), dtype=np.bool_)
        dup[where] = self.seen[inside] | ~_first_occurrence(inside)
        p += _rows(lab, dup, offset, lambda i: f"id: {ids[i]} appears more than once")
        self.seen[inside] = True

        finite = np.isfinite(c.stake)
        p += _rows(lab, ~finite, offset, lambda i: f"stake: {c.stake[i]} is not finite")
        changed = c.initial_vote != c.final_vote
        parity = changed != (c.flip_count % 2 == 1)
        p += _rows(
            lab,
            parity,
            offset,
            lambda i: (
                f"flip_count: {c.flip_count[i]} flips cannot turn initial_vote "
                f"{_js(c.initial_vote[i])} into final_vote {_js(c.final_vote[i])} "
                "(each flip toggles the vote)"
            ),
        )
        never = c.flip_count == 0
        p += _rows(
            lab,
            never != (c.flip_round == 0),
            offset,
            lambda i: (
                f"flip_round: {_round(c.flip_round[i])} disagrees with flip_count "
                f"{c.flip_count[i]} (null exactly when the agent never flipped)"
            ),
        )
        p += _rows(
            lab,
            c.flip_round > rounds,
            offset,
            lambda i: f"flip_round: {c.flip_round[i]} exceeds cascade_rounds = {rounds}",
        )
        p += _rows(
            lab,
            c.flip_count > rounds,
            offset,
            lambda i: (
                f"flip_count: {c.flip_count[i]} exceeds cascade_rounds = {rounds} "
                "(at most one flip per round)"
            ),
        )
        p += _rows(
            lab,
            c.degree > n - 1,
            offset,
            lambda i: f"degree: {c.degree[i]} exceeds params.agents - 1 = {n - 1}",
        )

        self.rows += len(ids)
        self.flip_sum += int(c.flip_count.sum())
        self.flipped += int(np.count_nonzero(~never))
        self.yes_initial += int(np.count_nonzero(c.initial_vote))
        self.yes_final += int(np.count_nonzero(c.final_vote))
        self.degree_sum += int(c.degree.sum())
        stake = np.where(finite, c.stake, 0.0)
        self.stakes["total"].append(float(stake.sum()))
        self.stakes["initial.yes"].append(float(stake[c.initial_vote].sum()))
        self.stakes["initial.no"].append(float(stake[~c.initial_vote].sum()))
        self.stakes["final.yes"].append(float(stake[c.final_vote].sum()))
        self.stakes["final.no"].append(float(stake[~c.final_vote].sum()))
        first = np.clip(c.flip_round, 0, rounds)
        self.first_flips += np.bincount(first, minlength=rounds + 1)[: rounds + 1]

    def finish(self) -> list[str]:
        """Row problems plus the disagreements between the sums and the record's tallies."""
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
        for phase, yes in (("initial", self.yes_initial), ("final", self.yes_final)):
            count = getattr(r.votes, phase)
            if yes != count.yes:
                p.append(f"votes.{phase}.yes: {count.yes}, but {yes} agents have {phase}_vote true")
            if self.rows - yes != count.no:
                p.append(
                    f"votes.{phase}.no: {count.no}, but {self.rows - yes} agents have "
                    f"{phase}_vote false"
                )
        w = r.votes.weighted
        total = math.fsum(self.stakes["total"])
        if not _close(total, w.total_stake):
            p.append(f"votes.weighted.total_stake: {w.total_stake}, but the stakes sum to {total}")
        for key, parts in self.stakes.items():
            if key == "total":
                continue
            phase, side = key.split(".")
            recorded = getattr(getattr(w, phase), side)
            summed = math.fsum(parts)
            if not _close(summed, recorded):
                vote = "true" if side == "yes" else "false"
                p.append(
                    f"votes.weighted.{key}: {recorded}, but the stakes of agents with "
                    f"{phase}_vote {vote} sum to {summed}"
                )
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
        return p


def _first_occurrence(values: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each value."""
    first = np.zeros(len(values), dtype=np.bool_)
    _, index = np.unique(values, return_index=True)
    first[index] = True
    return first


def _js(value: object) -> str:
    return "true" if value is True or value is np.True_ else "false"


def _round(value: int) -> str:
    return "null" if value == 0 else str(value)


def check_consistency(record: RunRecord, *, base_dir: Path | None = None) -> list[str]:
    """Every disagreement between the tallies of a well-typed record; empty when consistent.

    ``base_dir`` is the directory of the JSONL file the record came from; Parquet side files are
    resolved against it. Without it, the side file of a ``parquet`` record is not opened.
    """
    problems = _check_tallies(record)
    problems += _check_agent_records(record, base_dir)
    return problems


def _check_tallies(r: RunRecord) -> list[str]:
    p: list[str] = []
    n, v, f = r.params.agents, r.votes, r.flips
    for phase in ("initial", "final"):
        c = getattr(v, phase)
        if c.yes + c.no != n:
            p.append(
                f"votes.{phase}: yes + no = {c.yes} + {c.no} = {c.yes + c.no}, expected "
                f"params.agents = {n}"
            )
    if f.yes_to_no + f.no_to_yes != f.total:
        p.append(
            f"flips.total: {f.total}, but flips.yes_to_no + flips.no_to_yes = "
            f"{f.yes_to_no} + {f.no_to_yes} = {f.yes_to_no + f.no_to_yes}"
        )
    if sum(f.per_round) != f.total:
        p.append(f"flips.total: {f.total}, but sum(flips.per_round) = {sum(f.per_round)}")
    net = v.final.yes - v.initial.yes
    if f.no_to_yes - f.yes_to_no != net:
        p.append(
            f"flips: no_to_yes - yes_to_no = {f.no_to_yes - f.yes_to_no}, but votes.final.yes - "
            f"votes.initial.yes = {net}"
        )
    p += _check_rounds(r)
    if r.agents_flipped_total > n:
        p.append(f"agents_flipped_total: {r.agents_flipped_total} exceeds params.agents = {n}")
    if r.agents_flipped_total > f.total:
        p.append(
            f"agents_flipped_total: {r.agents_flipped_total} exceeds flips.total = {f.total} "
            "(each of those agents flipped at least once)"
        )
    if f.total > r.agents_flipped_total * r.cascade_rounds:
        p.append(
            f"flips.total: {f.total} exceeds agents_flipped_total × cascade_rounds = "
            f"{r.agents_flipped_total} × {r.cascade_rounds} (at most one flip per agent and round)"
        )
    if f.whale_signal_followers > f.total:
        p.append(
            f"flips.whale_signal_followers: {f.whale_signal_followers} exceeds flips.total = "
            f"{f.total} (following the whales against one's vote is a flip)"
        )
    p += _check_weighted(r)
    if r.influence_model != r.params.influence_model.value:
        p.append(
            f"influence_model: {r.influence_model!r}, but params.influence_model = "
            f"{r.params.influence_model.value!r}"
        )
    if r.params.mean_degree is not None and not math.isfinite(r.params.mean_degree):
        p.append(f"params.mean_degree: {r.params.mean_degree} is not finite")
    return p


def _check_rounds(r: RunRecord) -> list[str]:
    p: list[str] = []
    per_round, rounds, limit = r.flips.per_round, r.cascade_rounds, r.params.cascade_rounds
    if len(per_round) != rounds:
        p.append(f"flips.per_round: {len(per_round)} entries, expected cascade_rounds = {rounds}")
    if rounds > limit:
        p.append(f"cascade_rounds: {rounds} exceeds params.cascade_rounds = {limit}")
    for k, flips in enumerate(per_round[:-1]):
        if flips == 0:
            p.append(
                f"flips.per_round.{k}: round {k + 1} had no flips but the cascade went on "
                "(it stops after the first round without flips)"
            )
    if rounds < limit and per_round and per_round[-1] != 0:
        p.append(
            f"cascade_rounds: {rounds} < params.cascade_rounds = {limit}, but round {rounds} had "
            f"{per_round[-1]} flips (the cascade stops early only after a round without flips)"
        )
    for k, flips in enumerate(per_round):
        if flips > r.params.agents:
            p.append(f"flips.per_round.{k}: {flips} exceeds params.agents = {r.params.agents}")
    return p


def _check_weighted(r: RunRecord) -> list[str]:
    p: list[str] = []
    w = r.votes.weighted
    values = {
        "votes.weighted.total_stake": w.total_stake,
        "votes.weighted.initial.yes": w.initial.yes,
        "votes.weighted.initial.no": w.initial.no,
        "votes.weighted.final.yes": w.final.yes,
        "votes.weighted.final.no": w.final.no,
    }
    infinite = [name for name, value in values.items() if not math.isfinite(value)]
    for name in infinite:
        p.append(f"{name}: {values[name]} is not finite")
    if infinite:
        return p
    for phase in ("initial", "final"):
        s: Stake = getattr(w, phase)
        if not _close(s.yes + s.no, w.total_stake):
            p.append(
                f"votes.weighted.{phase}: yes + no = {s.yes} + {s.no} = {s.yes + s.no}, expected "
                f"votes.weighted.total_stake = {w.total_stake}"
            )
    for name, phase in (("passed", "final"), ("passed_initial", "initial")):
        s = getattr(w, phase)
        expected = s.yes > s.no
        if getattr(r.votes, name) != expected:
            relation = ">" if expected else "<="
            p.append(
                f"votes.{name}: {_js(getattr(r.votes, name))}, but votes.weighted.{phase}.yes "
                f"{s.yes} {relation} votes.weighted.{phase}.no {s.no}"
            )
    return p


def _check_agent_records(r: RunRecord, base_dir: Path | None) -> list[str]:
    ref, n = r.agent_records, r.params.agents
    p: list[str] = []
    if ref.mode is not AgentRecords.INLINE and r.agents is not None:
        p.append(f"agents: must be null when agent_records.mode is {ref.mode.value}")
    if ref.mode is not AgentRecords.PARQUET:
        for name in ("path", "sha256"):
            if getattr(ref, name) is not None:
                p.append(f"agent_records.{name}: must be null when mode is {ref.mode.value}")
    if ref.mode is AgentRecords.NONE:
        if ref.count != 0:
            p.append(f"agent_records.count: {ref.count}, expected 0 when mode is none")
        return p
    if ref.count != n:
        p.append(f"agent_records.count: {ref.count}, expected params.agents = {n}")
    if ref.mode is AgentRecords.INLINE:
        if r.agents is None:
            return [*p, "agents: missing, but agent_records.mode is inline"]
        if len(r.agents) != ref.count:
            p.append(f"agents: {len(r.agents)} records, but agent_records.count = {ref.count}")
        tally = _AgentTally(r, lambda i: f"agents.{i}")
        tally.add(AgentColumns.from_records(r.agents), 0)
        return p + tally.finish()
    for name in ("path", "sha256"):
        if getattr(ref, name) is None:
            p.append(f"agent_records.{name}: missing, but mode is parquet")
    if ref.path is not None and ref.sha256 is not None and base_dir is not None:
        p += _check_side_file(r, base_dir)
    return p


def _check_side_file(r: RunRecord, base_dir: Path) -> list[str]:
    """Hash, columns, row rules and sums of a Parquet side file."""
    ref = r.agent_records
    assert ref.path is not None
    rel = Path(ref.path)
    if rel.is_absolute():
        return [f"agent_records.path: {ref.path!r} must be relative to the JSONL file"]
    full = base_dir / rel
    if not full.is_file():
        return [f"agent_records.path: side file {str(full)!r} does not exist"]
    p: list[str] = []
    with full.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    if digest != ref.sha256:
        p.append(f"agent_records.sha256: {ref.sha256}, but {ref.path} hashes to {digest}")
    try:
        table = pq.ParquetFile(full)
    except (pa.ArrowException, OSError) as exc:
        return [*p, f"agent_records.path: {ref.path} is not a Parquet file ({exc})"]
    columns = _check_columns(table.schema_arrow)
    if columns:
        return p + columns
    rows = table.metadata.num_rows
    if rows != ref.count:
        p.append(f"agent_records.count: {ref.count}, but {ref.path} has {rows} rows")
    tally = _AgentTally(r, lambda i: f"agent_records.path row {i}")
    offset = 0
    for batch in table.iter_batches(batch_size=BATCH_ROWS, columns=list(AGENT_COLUMNS)):
        p += _check_batch(batch, offset)
        tally.add(_columns(batch), offset)
        offset += batch.num_rows
    return p + tally.finish()


_KIND = {
    "id": "integer",
    "archetype": "string",
    "stake": "float",
    "risk_tolerance": "float",
    "conformity": "float",
    "threshold": "float",
    "degree": "integer",
    "initial_vote": "boolean",
    "final_vote": "boolean",
    "flip_count": "integer",
    "flip_round": "integer",
}


def _kind(t: pa.DataType) -> str:
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
    p += [f"agent_records.path column {c}: missing column" for c in AGENT_COLUMNS if c not in names]
    p += [f"agent_records.path column {c}: unknown column" for c in schema.names if c not in _KIND]
    for c in AGENT_COLUMNS:
        if c in names and _kind(schema.field(c).type) != _KIND[c]:
            p.append(
                f"agent_records.path column {c}: wrong type: {schema.field(c).type}, expected "
                f"{_KIND[c]}"
            )
    return p


def _check_batch(batch: pa.RecordBatch, offset: int) -> list[str]:
    """Nulls and value ranges the pydantic model enforces for inline records."""
    p: list[str] = []

    def label(i: int) -> str:
        return f"agent_records.path row {i}"

    for name in AGENT_COLUMNS:
        col = batch.column(name)
        if name != "flip_round" and col.null_count:
            mask = pc.is_null(col).to_numpy(zero_copy_only=False)
            p += _rows(label, mask, offset, partial(_null_message, name))
    arche = pc.cast(batch.column("archetype"), pa.string())
    known = pc.is_in(arche, value_set=pa.array([a.value for a in ARCHETYPES]))
    mask = ~pc.fill_null(known, True).to_numpy(zero_copy_only=False)
    p += _rows(
        label, mask, offset, lambda i: f"archetype: {arche[i].as_py()!r} is not an archetype"
    )
    ranges = {
        "stake": (0.0, math.inf),
        "risk_tolerance": (0.0, 1.0),
        "conformity": (0.0, 1.0),
        "threshold": (0.0, 1.0),
        "id": (0, math.inf),
        "degree": (0, math.inf),
        "flip_count": (0, math.inf),
        "flip_round": (1, math.inf),
    }
    for name, (lo, hi) in ranges.items():
        values = _numpy(batch.column(name), fill=lo)
        bad = ~((values >= lo) & (values <= hi))
        shown = "[{}, {}]".format(lo, "inf" if hi == math.inf else hi)
        p += _rows(label, bad, offset, partial(_range_message, name, values, shown))
    return p


def _null_message(name: str, i: int) -> str:
    return f"{name}: null is not allowed"


def _range_message(name: str, values: np.ndarray, shown: str, i: int) -> str:
    return f"{name}: {values[i]} is outside {shown}"


def _numpy(col: pa.Array, *, fill: float | int) -> np.ndarray:
    if col.null_count:
        col = pc.fill_null(col, pa.scalar(fill, col.type))
    return np.asarray(col.to_numpy(zero_copy_only=False))


def _columns(batch: pa.RecordBatch) -> AgentColumns:
    def ints(name: str) -> np.ndarray:
        values = _numpy(batch.column(name), fill=0)
        return np.clip(values, -_INT_LIMIT, _INT_LIMIT).astype(np.int64)

    def bools(name: str) -> np.ndarray:
        return _numpy(batch.column(name), fill=False).astype(np.bool_)

    return AgentColumns(
        id=ints("id"),
        stake=_numpy(batch.column("stake"), fill=0.0).astype(np.float64),
        degree=ints("degree"),
        initial_vote=bools("initial_vote"),
        final_vote=bools("final_vote"),
        flip_count=ints("flip_count"),
        flip_round=ints("flip_round"),
    )
