# govsim worker image: the simulator and the sweep controller in one venv on a slim Python base.
#
# Build with scripts/image-build.sh (the one build path). It writes the wheelhouse on the host
# first: wheels/*.whl holds exactly the resolved runtime dependencies of govsim[all] (the worker
# needs the s3 and metrics extras, the controller k8s too, both optuna) and wheels/project/ the
# project's own wheel, so nothing is downloaded inside the build, and a change to the project's
# code rebuilds only the small "app" layers while the dependency layers stay cached.
#
# BASE is pinned to an exact tag; release.yml resolves that tag to its digest once and builds on
# python:3.11.14-slim-bookworm@sha256:..., which the image records in its
# org.opencontainers.image.base.name label. Machines without a registry build a compatible base
# with scripts/image-base.sh and pass --build-arg BASE=localhost/pybase:bookworm. Every stage uses
# the same BASE, so the venv's python symlink resolves in the final image.
#
# Runtime contract: runs as UID/GID 10001, works with a read-only root filesystem and a writable
# /tmp (HOME, TMPDIR and the matplotlib cache all live there). The entrypoint is `sweepctl`;
# the rendered Kubernetes Job sets command and args explicitly
# (`sweepctl worker /etc/govsim/sweep.yaml`, index from JOB_COMPLETION_INDEX). The worker runs
# as PID 1 without an init, so it must install its own SIGTERM handler.
ARG BASE=python:3.11.14-slim-bookworm

# Dependencies: a pip-less venv filled by a separate pip venv that stays behind in this stage.
FROM ${BASE} AS deps
COPY wheels/*.whl /wheels/
RUN python3 -m venv /opt/pip \
    && python3 -m venv --without-pip /opt/venv \
    && /opt/pip/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-index --no-deps \
       /wheels/*.whl \
    && find /opt/venv/lib -depth -type d -name tests -exec rm -rf {} +

# The project: installed on top, checked, and its own files (from its RECORD) staged under /stage.
FROM deps AS app
COPY wheels/project/ /wheels/project/
RUN /opt/pip/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-index --no-deps \
       /wheels/project/*.whl \
    && /opt/pip/bin/pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/python -c "import simulator, sweep_controller" \
    && /opt/venv/bin/python -c "from sweep_controller.extras import EXTRAS, require; \
require('the image', *EXTRAS)" \
    && /opt/venv/bin/python -c "import importlib.metadata as m, os; \
print('\n'.join(os.path.normpath(f.locate()) for f in m.files('govsim')))" >/tmp/files \
    && tar -cf /tmp/project.tar -T /tmp/files \
    && mkdir /stage && tar -xf /tmp/project.tar -C /stage

FROM ${BASE}
# A numeric user written straight into passwd/group: minimal bases may lack shadow utils.
RUN echo 'govsim:x:10001:10001:govsim:/tmp:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'govsim:x:10001:' >> /etc/group
COPY --from=deps /opt/venv /opt/venv
COPY --from=app /stage/ /
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["sweepctl"]
CMD ["worker", "--help"]
# Last, so a new revision rebuilds only this metadata layer.
ARG VERSION=dev
ARG REVISION=unknown
ARG BASE
LABEL org.opencontainers.image.title="govsim" \
      org.opencontainers.image.description="Governance vote cascade simulations and sweep worker" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${BASE}"
