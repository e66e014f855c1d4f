#!/usr/bin/env bash
# End to end on a real Kubernetes: a kind cluster, the govsim image built by the one build path
# and loaded into it, an in-cluster S3 server, the chart installed, two example sweeps applied and
# waited for, their results checked from inside the cluster, a sweep deleted (its Job and
# ConfigMap must go with it), and everything torn down, on success or failure.
#
#   scripts/e2e-kind.sh
#
# Needs docker (with a running daemon), kind, kubectl and helm on PATH; .github/workflows/
# e2e-kind.yml runs it. The cluster gets its own kubeconfig in a temporary directory, so the
# caller's kubeconfig is never touched. Manifests come from scripts/e2e/ (the test suite validates
# each of them against the Kubernetes 1.31 schemas):
#   kind-config.yaml     one node labelled govsim.io/pool=batch (the workers' nodeSelector)
#   s3-credentials.yaml  throwaway S3 keys: the workers' credentials Secret and SeaweedFS's identity
#   seaweedfs.yaml       the S3 server (pinned image), create-bucket.yaml its bucket
#   values-kind.yaml     chart values: image govsim:e2e, S3 endpoint and credentials Secret
#   check-results.yaml   a Job (govsim image) running check_results.py: `sweepctl status` and
#                        validation of every task's JSONL against its manifest and the v0.4 schema
# The sweeps: examples/whale-vs-conformity.yaml as it is (its file:// output is replaced by the
# chart's default s3://govsim-e2e/sweeps), and examples/zipped.yaml with an explicit s3:// output.
#
# Environment:
#   CLUSTER          kind cluster name [govsim-e2e]; an existing cluster of that name is an error
#   KIND_NODE_IMAGE  node image [kindest/node:v1.31.0] (the oldest Kubernetes the chart supports)
#   SKIP_BUILD=1     use the govsim:e2e image already in the local docker instead of building it
#   KEEP_CLUSTER=1   leave the cluster behind (its kubeconfig path is printed)
#   SWEEP_TIMEOUT    seconds each sweep may take to succeed [900]
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${CLUSTER:-govsim-e2e}
node_image=${KIND_NODE_IMAGE:-kindest/node:v1.31.0}
sweep_timeout=${SWEEP_TIMEOUT:-900}
image=govsim:e2e # named by scripts/e2e/*.yaml and values-kind.yaml
ns=govsim
e2e=scripts/e2e
bucket=govsim-e2e
explicit_uri="s3://$bucket/explicit"
sweeps=(whale-vs-conformity zipped-scenarios)
created=0
work=$(mktemp -d)
export KUBECONFIG="$work/kubeconfig"

log() { printf '[e2e-kind] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

diagnostics() {
  log "cluster state at failure"
  kubectl get nodes -o wide || true
  kubectl -n "$ns" get sweeps,jobs,pods,configmaps -o wide || true
  kubectl -n "$ns" get sweeps -o yaml || true
  kubectl -n "$ns" get events --sort-by=.lastTimestamp | tail -n 60 || true
  kubectl -n "$ns" logs deployment/govsim-controller --tail=200 || true
  kubectl -n "$ns" logs -l app.kubernetes.io/component=worker --tail=50 --prefix || true
  kubectl -n "$ns" logs -l app.kubernetes.io/part-of=govsim-e2e --tail=50 --prefix || true
}

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$created" = 1 ]; then diagnostics; fi
  if [ "$created" = 1 ]; then
    if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
      log "keeping cluster $cluster: export KUBECONFIG=$KUBECONFIG"
      exit "$rc"
    fi
    log "deleting cluster $cluster"
    kind delete cluster --name "$cluster" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH"
  done
}

# Wait until a Job has succeeded (0) or failed (1); its pods' logs are shown either way.
wait_job() {
  local name=$1 timeout=$2 deadline succeeded failed
  deadline=$((SECONDS + timeout))
  while :; do
    succeeded=$(kubectl -n "$ns" get "job/$name" -o jsonpath='{.status.succeeded}' || true)
    failed=$(kubectl -n "$ns" get "job/$name" \
      -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}' || true)
    if [ "${succeeded:-0}" -ge 1 ] || [ "$failed" = True ] || [ "$SECONDS" -ge "$deadline" ]; then
      break
    fi
    sleep 3
  done
  kubectl -n "$ns" logs "job/$name" --all-containers --tail=200 >&2 || true
  [ "${succeeded:-0}" -ge 1 ] || die "job $name did not succeed (failed: ${failed:-no}, waited up to ${timeout}s)"
}

# Wait for a Sweep's phase to become Succeeded (kubectl wait), failing early when it is Failed.
wait_succeeded() {
  local name=$1 deadline phase
  deadline=$((SECONDS + sweep_timeout))
  while :; do
    if kubectl -n "$ns" wait "sweep/$name" --for=jsonpath='{.status.phase}'=Succeeded \
      --timeout=20s >/dev/null 2>&1; then
      log "sweep $name: Succeeded"
      return 0
    fi
    phase=$(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    if [ "$phase" = Failed ]; then
      die "sweep $name Failed: $(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.message}')"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "sweep $name not Succeeded after ${sweep_timeout}s (phase: ${phase:-none})"
    fi
    kubectl -n "$ns" get sweeps >&2 || true
  done
}

# The status the controller wrote must account for every task.
check_status() {
  local name=$1 total finished failed results
  total=$(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.tasksTotal}')
  finished=$(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.tasksDone}')
  failed=$(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.tasksFailed}')
  results=$(kubectl -n "$ns" get "sweep/$name" -o jsonpath='{.status.resultsUri}')
  log "sweep $name: $finished of $total tasks done, ${failed:-0} failed, results at $results"
  [ -n "$total" ] && [ "$total" -gt 0 ] || die "sweep $name: status.tasksTotal is '${total}'"
  [ "$finished" = "$total" ] || die "sweep $name: status.tasksDone $finished != tasksTotal $total"
  [ "${failed:-0}" = 0 ] || die "sweep $name: status.tasksFailed is $failed"
  case $results in
    s3://"$bucket"/*) ;;
    *) die "sweep $name: status.resultsUri '$results' is not under s3://$bucket/" ;;
  esac
}

need docker kind kubectl helm
docker info >/dev/null 2>&1 || die "docker has no running daemon"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  die "a kind cluster named $cluster exists already; delete it (kind delete cluster --name $cluster) or set CLUSTER"
fi

if [ "${SKIP_BUILD:-0}" = 1 ]; then
  log "using the existing image $image"
else
  log "building $image (scripts/image-build.sh)"
  ENGINE=docker scripts/image-build.sh "$image"
fi

log "creating kind cluster $cluster ($node_image)"
created=1
kind create cluster --name "$cluster" --image "$node_image" --config "$e2e/kind-config.yaml" \
  --kubeconfig "$KUBECONFIG" --wait 180s
kind load docker-image "$image" --name "$cluster"

log "starting the in-cluster S3 server"
kubectl create namespace "$ns"
kubectl apply -f "$e2e/s3-credentials.yaml" -f "$e2e/seaweedfs.yaml"
kubectl -n "$ns" rollout status deployment/seaweedfs --timeout=300s
kubectl apply -f "$e2e/create-bucket.yaml"
wait_job create-bucket 300

log "installing the chart"
helm install govsim charts/govsim --namespace "$ns" -f "$e2e/values-kind.yaml" \
  --wait --timeout 5m
kubectl wait --for=condition=established crd/sweeps.govsim.io --timeout=60s
kubectl get crd sweeps.govsim.io

log "applying the sweeps"
kubectl -n "$ns" apply -f examples/whale-vs-conformity.yaml
sed "s#uri: \"file://results\"#uri: \"$explicit_uri\"#" examples/zipped.yaml >"$work/zipped.yaml"
grep -q "$explicit_uri" "$work/zipped.yaml" || die "examples/zipped.yaml no longer has output file://results"
kubectl -n "$ns" apply -f "$work/zipped.yaml"
kubectl -n "$ns" get sweeps

for name in "${sweeps[@]}"; do
  wait_succeeded "$name"
  check_status "$name"
done
kubectl -n "$ns" get sweeps -o wide

log "checking every task's results from inside the cluster"
kubectl -n "$ns" create configmap e2e-check --from-file=check_results.py="$e2e/check_results.py"
kubectl apply -f "$e2e/check-results.yaml"
wait_job check-results 600

log "deleting sweep zipped-scenarios: its Job and ConfigMap must be garbage-collected"
kubectl -n "$ns" get job/zipped-scenarios configmap/zipped-scenarios-spec
kubectl -n "$ns" delete sweep zipped-scenarios --wait=true --timeout=120s
kubectl -n "$ns" wait --for=delete job/zipped-scenarios configmap/zipped-scenarios-spec --timeout=120s

log "end to end: ok"
