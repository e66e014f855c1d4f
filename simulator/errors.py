"""One exception hierarchy for the simulator."""


class SimulatorError(Exception):
    """Base class of every error the simulator raises on purpose."""


class ParameterError(SimulatorError, ValueError):
    """A simulation parameter is missing, malformed or out of range."""


class RecordError(SimulatorError, ValueError):
    """A run record does not satisfy the v0.4 schema or its internal consistency rules."""


class MigrationError(SimulatorError, ValueError):
    """A legacy record cannot be migrated to the current schema."""
