"""What a results table was made from: the spec's hash, the code and record schema versions.

A table of runs outlives the store it was read from: it is written to Parquet, loaded into a
DataFrame, concatenated with other sweeps. Each carries its :class:`Provenance`, so the numbers
can be traced back to the spec and code that produced them: in a DataFrame's ``attrs`` (as plain
data) and in the Arrow schema's metadata under ``govsim.provenance`` (as JSON), which Parquet
files keep. The values come from what was read, never from this process: the code versions
are the manifests' (one per task), the schema versions the records'.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

__all__ = ["METADATA_KEY", "Provenance"]

METADATA_KEY = b"govsim.provenance"
"""The Arrow schema metadata key holding the provenance as JSON."""


class Provenance(BaseModel):
    """Where a results table came from (one sweep, as read from its store)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sweep: str = Field(description="metadata.name of the sweep.")
    spec_hash: str = Field(description="spec_hash() of the spec; every task read states it.")
    code_versions: tuple[str, ...] = Field(
        description="The distinct code versions (govsim) of the tasks read, from their manifests."
    )
    schema_versions: tuple[str, ...] = Field(
        description="The distinct record schema versions of the runs as stored (older records "
        "are lifted to the current schema before they become rows)."
    )
    results_uri: str = Field(description="The sweep's results folder: <output uri>/<name>/.")
    tasks: NonNegativeInt = Field(description="Tasks of the sweep.")
    tasks_read: NonNegativeInt = Field(description="Tasks done and read (the rest are missing).")
    runs: NonNegativeInt = Field(description="Runs read: the table's rows.")

    def attrs(self) -> dict[str, Any]:
        """As plain data, for ``DataFrame.attrs`` (lists for the tuples)."""
        return self.model_dump(mode="json")

    def metadata(self) -> dict[bytes, bytes]:
        """As Arrow schema metadata: ``{b"govsim.provenance": JSON}``."""
        return {METADATA_KEY: self.model_dump_json().encode()}

    @classmethod
    def from_metadata(cls, metadata: dict[bytes, bytes] | None) -> Provenance | None:
        """The provenance in an Arrow schema's metadata (a Parquet file's), or None."""
        raw = (metadata or {}).get(METADATA_KEY)
        return None if raw is None else cls.model_validate_json(raw)
