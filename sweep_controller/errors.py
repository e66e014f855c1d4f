"""One exception hierarchy for sweeps: spec, storage (retryable or permanent) and task errors.

Callers decide whether to retry by type alone: only `TransientStorageError` is worth retrying; a
`SpecError` or `PermanentStorageError` will fail the same way every time. `StoreUnreachable`, the
transient error of a store that does not answer at all, is what the local runner's circuit breaker
counts.
"""


class SweepError(Exception):
    """Base class of every error the sweep controller raises on purpose."""


class SpecError(SweepError, ValueError):
    """A sweep spec is malformed, names an unknown parameter or leaves a range (permanent)."""


class SpecDeprecationWarning(DeprecationWarning):
    """A sweep spec uses a deprecated key that still works (``sweepctl`` prints one line)."""


class StorageError(SweepError):
    """Reading or writing results storage failed."""


class TransientStorageError(StorageError):
    """A storage failure that may succeed on retry (timeouts, throttling, 5xx, resets)."""


class StoreUnreachable(TransientStorageError):
    """The store does not answer at all: connection refused or reset, connect or read timeout."""


class LeaseContended(TransientStorageError):
    """Every try at taking the next generation of a lease lost a race to another taker."""


class PermanentStorageError(StorageError):
    """A storage failure that will not succeed on retry (bad URI, missing bucket, access denied)."""


class FlagError(SweepError, ValueError):
    """A command-line argument cannot be used as given (an output path, a flag value); permanent."""


class MissingExtra(SweepError):
    """A feature needs an optional extra (``govsim[s3]``, ...) that is not installed (permanent)."""


class TaskError(SweepError):
    """A task index is out of range or a task cannot be executed as specified."""


class KeyNotFound(PermanentStorageError):
    """A store has no object under the requested key."""


class OutputConflict(TaskError):
    """The output prefix already holds results of a sweep with another spec hash (permanent)."""


class TaskInterrupted(SweepError):
    """A task stopped early on request (SIGTERM, Ctrl-C); it left no partial object (retryable)."""


class ResultsError(SweepError):
    """Results in the store are missing, corrupt or inconsistent with the spec."""


class AnalysisError(SweepError, ValueError):
    """A sweep's design or size does not allow the analysis asked for (a grid, too few samples)."""


class ClusterError(SweepError):
    """A Kubernetes cluster refused a ``sweepctl`` request (not found, forbidden, no CRD)."""


class ClusterUnreachable(ClusterError):
    """The cluster's API server did not answer, or answered 429/5xx (worth retrying)."""


class KubeconfigError(FlagError):
    """No usable kubeconfig: missing file, unknown context, unreadable content (permanent)."""


class IncompleteResultsWarning(UserWarning):
    """Some tasks of a sweep are not done; the results read hold the others (``load_results``)."""
