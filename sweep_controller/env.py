"""Names of the environment variables that pass settings between the parts of a sweep.

The controller writes them into a worker pod's spec and the worker, the stores and the metrics
read them; keeping the names here, in a module without dependencies, lets the pure Kubernetes
object builders name them without importing boto3 or prometheus_client.
"""

PUSHGATEWAY_ENV = "PUSHGATEWAY_URL"
"""Pushgateway base URL for batch workers (``--pushgateway`` overrides it)."""
ADDRESSING_ENV = "GOVSIM_S3_ADDRESSING"
"""S3 addressing style: ``path`` or ``virtual`` (default: what botocore chooses)."""
INDEX_ENV = "JOB_COMPLETION_INDEX"
"""The task index of an Indexed Job's pod, set by Kubernetes."""
NAMESPACE_ENV = "GOVSIM_NAMESPACE"
"""The worker pod's namespace (downward API): labels and groups its metrics; unset locally."""
PARALLELISM_ENV = "GOVSIM_PARALLELISM"
"""The Job's parallelism: where a worker starts looking for a free metric slot (default 1)."""
JOB_UID_ENV = "GOVSIM_JOB_UID"
"""The worker pod's Job uid (downward API): the pods whose metric slots carry totals on."""
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
"""The label Kubernetes (1.27+) puts on a Job's pods: the Job's uid."""

__all__ = [
    "ADDRESSING_ENV",
    "INDEX_ENV",
    "JOB_UID_ENV",
    "JOB_UID_LABEL",
    "NAMESPACE_ENV",
    "PARALLELISM_ENV",
    "PUSHGATEWAY_ENV",
]
