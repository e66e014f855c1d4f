"""The shared test kit: one importable place for what several test areas need.

- `paths`: the repository root and the example specs.
- `require`: `require_or_skip` (skip locally, fail under CI) and `find_tool` for CLIs.
- `waiting`: polling with a deadline (`wait_until`, `poll`, async `until`); tests never sleep.
- `cli`: `sweepctl`, `govsim` and `python -m MODULE` as subprocesses, as a user runs them.
- `servers`: real servers on free loopback ports (`ManagedProcess`, SeaweedFS for S3).
- `promstack`: real Prometheus and Pushgateway, and a client of Prometheus's HTTP API.
- `dashboard`: the Grafana dashboard's queries as data; `checkov`: checkov's JSON report.
- `mounts`: real small file systems for fault tests (a full tmpfs, a read-only one, a bind mount)
  and running a child without the capabilities that bypass file permissions.
- builders and readers per area: `engine` (graphs, agents), `records` (run records), `specs`
  (Sweep documents), `runs` (a sweep's output), `races` (processes racing on one sweep),
  `live_sweeps` (metrics of real sweeps), `kube` (custom resources, kmock), `charts` (chart
  renders, schema checks), `infra` (Terraform), `podman` and `rendered_pod` (running the image
  as a pod).

The session fixtures built on these (SeaweedFS, S3 environments, Prometheus, Pushgateway) live in
tests/conftest.py. tests/ is on sys.path (pyproject's pytest `pythonpath`), so tests import
`kit.MODULE`.
"""
