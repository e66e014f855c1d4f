"""Rules of a run's flip trace: the Parquet side file of every flip, checked against its record.

A trace (``--traces parquet``, :mod:`simulator.trace`) claims to be every flip of the run, so it
must add up to what the record counts: its rows are the record's flip events round by round and
direction by direction, its whale-signal rows are the whale-signal follows, and its distinct agents
are the agents that flipped. Each agent's rows must be a consistent history: every flip leaves the
vote the previous flip took. Where the run also kept per-agent records (inline or in their own side
file), each agent's rows must give its ``flip_count``, ``flip_round`` and
``whale_signal_follows``, start from its round-0 vote and end at its final vote.

Rows are read in batches of ``BATCH_ROWS`` with a few per-agent arrays beside them, so a long trace
of a ten-million-agent run is checked in bounded memory. That needs the order the engine writes:
rows in round order and, within a round, in agent order (which also says that an agent flips at
most once a round).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulator.errors import RecordError
from simulator.records.agent_rows import (
    MAX_ROWS_REPORTED,
    AgentColumns,
    arrow_kind,
    row_problems,
)
from simulator.records.io import (
    TRACE_COLUMNS,
    file_sha256,
    read_parquet_batches,
    resolve_side_file,
)
from simulator.records.schema import RunRecord
from simulator.trace import CAUSES, Cause

__all__ = ["TRACE_KINDS", "check_trace", "check_trace_file", "check_trace_ref"]

TRACE_KINDS: dict[str, str] = {
    "run": "integer",
    "agent": "integer",
    "round": "integer",
    "from_vote": "boolean",
    "to_vote": "boolean",
    "cause": "string",
}
"""Kind of each column of a trace side file (``simulator.records.io.TRACE_COLUMNS``)."""
assert tuple(TRACE_KINDS) == TRACE_COLUMNS
_CAUSE_NAMES = tuple(c.value for c in CAUSES)


def check_trace_ref(r: RunRecord) -> list[str]:
    """Rules of the record's ``traces`` reference that need no file: one row per flip event."""
    ref = r.traces
    if ref is None:
        return []
    p: list[str] = []
    if ref.count != r.flips.total:
        p.append(f"traces.count: {ref.count}, expected flips.total = {r.flips.total}")
    if Path(ref.path).is_absolute():
        p.append(f"traces.path: {ref.path!r} must be relative to the JSONL file")
    return p


def check_trace_file(
    r: RunRecord, base_dir: Path, agents: Iterator[AgentColumns] | None = None
) -> list[str]:
    """The record's trace side file: where it is, its hash, then :func:`check_trace`."""
    ref = r.traces
    assert ref is not None
    try:
        full = resolve_side_file(base_dir, ref.path)
    except RecordError as exc:
        return [] if Path(ref.path).is_absolute() else [f"traces.path: {exc}"]
    if not full.is_file():
        return [f"traces.path: trace file {str(full)!r} does not exist"]
    p: list[str] = []
    digest = file_sha256(full)
    if digest != ref.sha256:
        p.append(f"traces.sha256: {ref.sha256}, but {ref.path} hashes to {digest}")
    return p + check_trace(r, full, agents)


def check_trace(
    r: RunRecord, source: Path | bytes | memoryview, agents: Iterator[AgentColumns] | None = None
) -> list[str]:
    """Columns, rows and sums of a trace (a Parquet file, or its bytes) against record ``r``.

    ``agents`` are the run's per-agent records, when it kept them, to compare each agent's rows
    with. The sweep worker passes the bytes it is about to store.
    """
    ref = r.traces
    assert ref is not None
    try:
        opened = source if isinstance(source, Path) else pa.BufferReader(source)
        schema, rows, batches = read_parquet_batches(opened, TRACE_COLUMNS)
    except (pa.ArrowException, OSError) as exc:
        return [f"traces.path: {ref.path} is not a Parquet file ({exc})"]
    columns = _check_columns(schema)
    if columns:
        return columns
    p: list[str] = []
    if rows != ref.count:
        p.append(f"traces.count: {ref.count}, but {ref.path} has {rows} rows")
    tally = _TraceTally(r)
    offset = 0
    try:
        for batch in batches:
            tally.add(batch, offset)
            offset += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        return [*p, f"traces.path: {ref.path} could not be read ({exc})"]
    p += tally.finish()
    if agents is not None:
        try:
            for columns_batch in agents:
                p += tally.compare(columns_batch)
        except (pa.ArrowException, OSError):
            pass  # the per-agent side file's own check reports it
    return p


def _check_columns(schema: pa.Schema) -> list[str]:
    where = "traces.path column"
    names = set(schema.names)
    p = [f"{where} {c}: missing column" for c in TRACE_COLUMNS if c not in names]
    p += [f"{where} {c}: unknown column" for c in schema.names if c not in TRACE_KINDS]
    for c in TRACE_COLUMNS:
        if c in names and arrow_kind(schema.field(c).type) != TRACE_KINDS[c]:
            p.append(f"{where} {c}: wrong type: {schema.field(c).type}, expected {TRACE_KINDS[c]}")
    return p


def _row(i: int) -> str:
    return f"traces.path row {i}"


def _values(col: pa.Array, fill: int | bool) -> tuple[np.ndarray, np.ndarray]:
    """A column as numpy with nulls filled, and its null mask."""
    nulls = np.zeros(len(col), dtype=np.bool_)
    if col.null_count:
        nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
        col = pc.fill_null(col, pa.scalar(fill, col.type))
    return np.asarray(col.to_numpy(zero_copy_only=False)), nulls


def _null(name: str, i: int) -> str:
    return f"{name}: null is not allowed"


def _vote(value: object) -> str:
    return "true" if value else "false"


class _TraceTally:
    """Row rules and running per-agent and per-round sums over the batches of one trace."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.n = n = record.params.agents
        self.rounds = record.cascade_rounds
        # per agent (int32: at most one flip a round, and rounds are at most 10^4)
        self.count = np.zeros(n, dtype=np.int32)
        self.whale = np.zeros(n, dtype=np.int32)
        self.first_round = np.zeros(n, dtype=np.int32)
        self.first_from = np.zeros(n, dtype=np.bool_)
        self.last_round = np.zeros(n, dtype=np.int32)
        self.last_to = np.zeros(n, dtype=np.bool_)
        self.per_round = np.zeros(self.rounds + 1, dtype=np.int64)
        self.rows = self.from_yes = self.whale_rows = 0
        self.last_key = -1
        self.ordered = True
        self.problems: list[str] = []

    def add(self, batch: pa.RecordBatch, offset: int) -> None:
        """Check one batch row by row and add it to the sums."""
        p, r, n, rounds = self.problems, self.record, self.n, self.rounds
        run, run_null = _values(batch.column("run"), 0)
        agent, agent_null = _values(batch.column("agent"), -1)
        rnd, round_null = _values(batch.column("round"), 0)
        before, before_null = _values(batch.column("from_vote"), False)
        after, after_null = _values(batch.column("to_vote"), False)
        cause_text = pc.cast(batch.column("cause"), pa.string())
        whale = pc.fill_null(pc.equal(cause_text, Cause.WHALE_SIGNAL.value), False)
        whale = whale.to_numpy(zero_copy_only=False)
        known = pc.fill_null(pc.is_in(cause_text, value_set=pa.array(_CAUSE_NAMES)), False)
        known = known.to_numpy(zero_copy_only=False)
        agent = agent.astype(np.int64)
        rnd = rnd.astype(np.int64)
        before, after = before.astype(np.bool_), after.astype(np.bool_)
        for name, nulls in (
            ("run", run_null),
            ("agent", agent_null),
            ("round", round_null),
            ("from_vote", before_null),
            ("to_vote", after_null),
        ):
            p += row_problems(_row, nulls, offset, partial(_null, name))
        p += row_problems(
            _row,
            ~run_null & (run != r.run_index),
            offset,
            lambda i: f"run: {run[i]}, expected run_index = {r.run_index}",
        )
        agent_ok = ~agent_null & (agent >= 0) & (agent < n)
        p += row_problems(
            _row,
            ~agent_null & ~agent_ok,
            offset,
            lambda i: f"agent: {agent[i]} is outside [0, {n})",
        )
        round_ok = ~round_null & (rnd >= 1) & (rnd <= rounds)
        p += row_problems(
            _row,
            ~round_null & ~round_ok,
            offset,
            lambda i: f"round: {rnd[i]} is outside [1, cascade_rounds = {rounds}]",
        )
        votes_ok = ~before_null & ~after_null
        same = votes_ok & (before == after)
        p += row_problems(
            _row,
            same,
            offset,
            lambda i: f"to_vote: {_vote(after[i])} equals from_vote (a flip changes the vote)",
        )
        p += row_problems(
            _row,
            ~known,
            offset,
            lambda i: f"cause: {cause_text[i].as_py()!r} is not one of {', '.join(_CAUSE_NAMES)}",
        )
        valid = agent_ok & round_ok & votes_ok & ~same & known
        self._check_order(agent, rnd, valid, offset)

        self.rows += len(agent)
        self.from_yes += int(np.count_nonzero(before & votes_ok))
        self.whale_rows += int(np.count_nonzero(whale))
        self.per_round += np.bincount(rnd[round_ok], minlength=rounds + 1)[: rounds + 1]
        self._add_agents(agent, rnd, before, after, whale, valid, offset)

    def _check_order(
        self, agent: np.ndarray, rnd: np.ndarray, valid: np.ndarray, offset: int
    ) -> None:
        """Rows in round order, then agent order: (round, agent) strictly increasing."""
        where = np.flatnonzero(valid)
        if not len(where):
            return
        keys = rnd[where] * (self.n + 1) + agent[where]
        previous = np.concatenate([[self.last_key], keys[:-1]])
        bad = keys <= previous
        if bad.any():
            self.ordered = False
            mask = np.zeros(len(agent), dtype=np.bool_)
            mask[where[bad]] = True
            self.problems += row_problems(
                _row,
                mask,
                offset,
                lambda i: (
                    f"round: agent {agent[i]} in round {rnd[i]} comes after a row it may not "
                    "follow (rows are in round order, then agent order, one row per agent and "
                    "round)"
                ),
            )
        self.last_key = int(keys[-1])

    def _add_agents(
        self,
        agent: np.ndarray,
        rnd: np.ndarray,
        before: np.ndarray,
        after: np.ndarray,
        whale: np.ndarray,
        valid: np.ndarray,
        offset: int,
    ) -> None:
        """Per-agent counts, and each agent's flips alternating from one row to its next."""
        pos = np.flatnonzero(valid)
        order = np.argsort(agent[pos], kind="stable")  # each agent's rows stay in round order
        pos = pos[order]
        a, t, f, to = agent[pos], rnd[pos], before[pos], after[pos]
        np.add.at(self.count, a, 1)
        np.add.at(self.whale, a[whale[pos]], 1)
        if not len(a):
            return
        start = np.concatenate([[True], a[1:] != a[:-1]])
        end = np.concatenate([a[1:] != a[:-1], [True]])
        earlier = self.last_round[a] > 0  # the agent has rows in an earlier batch
        prev_to = np.concatenate([[False], to[:-1]])
        prev_round = np.concatenate([[0], t[:-1]])
        prev_to[start] = self.last_to[a[start]]
        prev_round[start] = self.last_round[a[start]]
        if self.ordered:
            broken = (~start | earlier) & (f != prev_to)
            mask = np.zeros(len(agent), dtype=np.bool_)
            mask[pos[broken]] = True
            back = np.empty(len(agent), dtype=np.int64)
            back[pos] = np.arange(len(pos))
            self.problems += row_problems(
                _row,
                mask,
                offset,
                lambda i: (
                    f"from_vote: {_vote(before[i])}, but agent {agent[i]}'s flip in round "
                    f"{prev_round[back[i]]} left it at {_vote(prev_to[back[i]])}"
                ),
            )
        first = start & ~earlier
        self.first_round[a[first]] = t[first]
        self.first_from[a[first]] = f[first]
        self.last_round[a[end]] = t[end]
        self.last_to[a[end]] = to[end]

    def finish(self) -> list[str]:
        """Row problems plus the disagreements between the trace's sums and the record."""
        r, p = self.record, self.problems
        f = r.flips
        if self.rows != f.total:
            p.append(f"flips.total: {f.total}, but the trace has {self.rows} rows")
        no_to_yes = self.rows - self.from_yes
        for name, recorded, traced, vote in (
            ("yes_to_no", f.yes_to_no, self.from_yes, "true"),
            ("no_to_yes", f.no_to_yes, no_to_yes, "false"),
        ):
            if recorded != traced:
                p.append(f"flips.{name}: {recorded}, but {traced} trace rows have from_vote {vote}")
        if self.whale_rows != f.whale_signal_follow_events:
            p.append(
                f"flips.whale_signal_follow_events: {f.whale_signal_follow_events}, but "
                f"{self.whale_rows} trace rows have cause whale_signal"
            )
        if len(f.per_round) == self.rounds:
            wrong = [
                k for k, flips in enumerate(f.per_round) if flips != int(self.per_round[k + 1])
            ]
            for k in wrong[:MAX_ROWS_REPORTED]:
                p.append(
                    f"flips.per_round.{k}: {f.per_round[k]}, but the trace has "
                    f"{self.per_round[k + 1]} rows in round {k + 1}"
                )
        flipped = int(np.count_nonzero(self.count))
        if flipped != r.agents_flipped_total:
            p.append(
                f"agents_flipped_total: {r.agents_flipped_total}, but {flipped} agents have rows "
                "in the trace"
            )
        return p

    def compare(self, c: AgentColumns) -> list[str]:
        """Disagreements between a batch of per-agent records and the agents' trace rows."""
        inside = (c.id >= 0) & (c.id < self.n)
        ids = np.where(inside, c.id, 0)
        count = self.count[ids]
        flipped = inside & (count > 0)
        checks = [
            (
                inside & (c.flip_count != count),
                lambda i: f"{count[i]} flips in the trace, but its flip_count is {c.flip_count[i]}",
            ),
            (
                inside & (c.flip_round != self.first_round[ids]),
                lambda i: (
                    (
                        f"first flip in round {self.first_round[ids[i]]} in the trace"
                        if self.first_round[ids[i]]
                        else "no flip in the trace"
                    )
                    + f", but its flip_round is {c.flip_round[i] or 'null'}"
                ),
            ),
            (
                inside & (c.whale_follows >= 0) & (c.whale_follows != self.whale[ids]),
                lambda i: (
                    f"{self.whale[ids[i]]} whale_signal rows in the trace, but its "
                    f"whale_signal_follows is {c.whale_follows[i]}"
                ),
            ),
        ]
        if self.ordered:
            checks += [
                (
                    flipped & (c.initial_vote != self.first_from[ids]),
                    lambda i: (
                        f"its first trace row has from_vote {_vote(self.first_from[ids[i]])}, "
                        f"but its initial_vote is {_vote(c.initial_vote[i])}"
                    ),
                ),
                (
                    flipped & (c.final_vote != self.last_to[ids]),
                    lambda i: (
                        f"its last trace row has to_vote {_vote(self.last_to[ids[i]])}, but its "
                        f"final_vote is {_vote(c.final_vote[i])}"
                    ),
                ),
            ]
        p: list[str] = []
        for mask, say in checks:
            bad = np.flatnonzero(mask)
            out = [f"traces.path agent {c.id[i]}: {say(int(i))}" for i in bad[:MAX_ROWS_REPORTED]]
            if len(bad) > MAX_ROWS_REPORTED:
                out[-1] += f" (and {len(bad) - MAX_ROWS_REPORTED} more agents)"
            p += out
        return p
