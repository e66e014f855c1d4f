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

__all__ = ["ADDRESSING_ENV", "INDEX_ENV", "NAMESPACE_ENV", "PUSHGATEWAY_ENV"]
