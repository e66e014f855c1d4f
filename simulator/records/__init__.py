"""Run records: the schema, building records from a run, reading and writing them, validation
against the consistency rules, legacy shapes and migration."""

from simulator.records.schema import SCHEMA_VERSION, RunRecord

__all__ = ["SCHEMA_VERSION", "RunRecord"]
