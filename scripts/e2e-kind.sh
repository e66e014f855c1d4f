#!/usr/bin/env bash
# End to end on a real Kubernetes: a kind cluster, the govsim image built by the one build path
# and loaded into it, an in-cluster S3 server, the chart installed, then a list of scenarios, each
# asserting the Sweep's final phase and its results in S3 (checked from inside the cluster).
# Everything is torn down at the end, on success or failure.
#
#   scripts/e2e-kind.sh           run every scenario (or those named in SCENARIOS)
#   scripts/e2e-kind.sh --list    print the scenario names
#
# Scenarios (a function scenario_<name> each, run in this order):
#   happy               two example sweeps succeed, their results check out, a deleted Sweep
#                       takes its Job and ConfigMap with it
#   failing-index       one task's output prefix holds another spec's results: that index fails
#                       at once (exit 2, FailIndex), spec.maxFailedIndexes tolerates it, the
#                       sweep Succeeds (SucceededWithFailedTasks) with the other tasks in S3
#   job-deleted         the Job is deleted by hand mid-sweep: the controller re-creates it and
#                       every task is in S3 exactly once
#   controller-restart  the controller restarts mid-sweep: the sweep Succeeds with one Job
#   sweep-deleted       a running Sweep is deleted: the delete returns promptly (no finalizer),
#                       its Job, pods and ConfigMap are garbage-collected
#   second-namespace    the release is upgraded to watch every namespace with worker namespace
#                       govsim-b; a Sweep in govsim-b Succeeds with its results in S3
#
# Needs docker (with a running daemon), kind, kubectl and helm on PATH; .github/workflows/
# e2e-kind.yml runs it. The cluster gets its own kubeconfig in a temporary directory, so the
# caller's kubeconfig is never touched. Files under scripts/e2e/ (the test suite validates each of
# them offline against the Kubernetes 1.31 schemas, the CRD and the chart's values schema):
#   kind-config.yaml     one node, its node image pinned by digest
#   s3-credentials.yaml  throwaway S3 keys: the credentials Secret of the workers and the controller,
#                        and SeaweedFS's identity
#   s3-credentials-govsim-b.yaml  the same keys for the workers in namespace govsim-b
#   seaweedfs.yaml       the S3 server (pinned image), create-bucket.yaml its bucket
#   values-kind.yaml     chart values: S3 endpoint and credentials Secret (the image comes from IMAGE)
#   values-second-namespace.yaml  watch every namespace, worker namespace govsim-b
#   check-results.yaml   a Job (govsim image) running check_results.py on the resolved specs of a
#                        scenario's sweeps: `sweepctl status`, every task's JSONL against its
#                        manifest, every record against the schema, each run exactly once
#   sweeps/*.yaml        the scenarios' own sweeps (small: a few runs per task)
#
# The image is built without provenance or SBOM attestations and loaded from a single-platform
# `docker save` archive with `kind load image-archive`: an image index that lists attestation
# manifests (BuildKit's default since Docker 23) or platforms whose content is not local (Docker's
# containerd image store) makes kind's import fail with "content digest ... not found".
#
# Environment:
#   IMAGE            image to build, load and install, REPOSITORY:TAG [govsim:e2e]; a registry
#                    with a port works (localhost:5000/govsim:e2e), a digest does not
#   SCENARIOS        space-separated scenario names [all of them, in order]
#   CLUSTER          kind cluster name [govsim-e2e]; an existing cluster of that name is an error
#   KIND_NODE_IMAGE  node image instead of the one pinned in kind-config.yaml
#   SKIP_BUILD=1     use the image already in the local docker instead of building it
#   KEEP_CLUSTER=1   leave the cluster behind (its kubeconfig path is printed)
#   SWEEP_TIMEOUT    seconds each sweep may take to finish [900]
#   DIAGNOSTICS_DIR  where the cluster's state is written on failure [a temporary directory,
#                    printed to stderr as well]
set -euo pipefail

default_image=govsim:e2e # the image the manifests under scripts/e2e/ name
ns=govsim
ns_b=govsim-b
release=govsim
controller=deployment/govsim-controller
e2e=scripts/e2e
bucket=govsim-e2e
explicit_uri="s3://$bucket/explicit"
sweep_label=govsim.io/sweep
all_scenarios=(happy failing-index job-deleted controller-restart sweep-deleted second-namespace)
scenario=setup
created=0
cluster=govsim-e2e
work=
image=
image_repository=
image_tag=
sweep_timeout=900

log() { printf '[e2e-kind] %s: %s\n' "$scenario" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# split_image REF: print REPOSITORY and TAG of REF on two lines; fail on a digest or a missing
# tag. The tag is what follows the last colon after the last slash, so a registry port
# (localhost:5000/govsim:e2e) stays in the repository.
split_image() {
  local ref=$1 last repository tag
  case $ref in
    *@*)
      printf 'IMAGE %s: a digest cannot be loaded into kind; give REPOSITORY:TAG\n' "$ref" >&2
      return 1
      ;;
  esac
  last=${ref##*/}
  case $last in
    *:*) ;;
    *)
      printf 'IMAGE %s: no tag; give REPOSITORY:TAG\n' "$ref" >&2
      return 1
      ;;
  esac
  tag=${last##*:}
  repository=${ref%:"$tag"}
  if ! [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || [ -z "$repository" ] \
    || [[ $repository == */ ]] || [[ $repository == /* ]]; then
    printf 'IMAGE %s: not REPOSITORY:TAG\n' "$ref" >&2
    return 1
  fi
  printf '%s\n%s\n' "$repository" "$tag"
}

# select_scenarios NAMES...: print the known scenarios among NAMES (in run order); fail naming
# an unknown one.
select_scenarios() {
  local name known
  for name in "$@"; do
    for known in "${all_scenarios[@]}"; do
      [ "$name" = "$known" ] && continue 2
    done
    printf 'unknown scenario %s; known: %s\n' "$name" "${all_scenarios[*]}" >&2
    return 1
  done
  for known in "${all_scenarios[@]}"; do
    for name in "$@"; do
      if [ "$name" = "$known" ]; then
        printf '%s\n' "$known"
        break
      fi
    done
  done
}

# --- diagnostics and cleanup ---------------------------------------------------------------------

diagnostics() {
  local dir=${DIAGNOSTICS_DIR:-$work/diagnostics} n
  mkdir -p "$dir"
  log "cluster state at failure (also written to $dir)"
  kubectl get nodes -o wide >"$dir/nodes.txt" 2>&1 || true
  kubectl get sweeps,jobs,pods,configmaps -A -o wide >"$dir/objects.txt" 2>&1 || true
  for n in "$ns" "$ns_b"; do
    kubectl -n "$n" describe sweeps >"$dir/describe-sweeps-$n.txt" 2>&1 || true
    kubectl -n "$n" describe jobs >"$dir/describe-jobs-$n.txt" 2>&1 || true
    kubectl -n "$n" get sweeps -o yaml >"$dir/sweeps-$n.yaml" 2>&1 || true
    kubectl -n "$n" get events --sort-by=.lastTimestamp >"$dir/events-$n.txt" 2>&1 || true
    kubectl -n "$n" logs -l app.kubernetes.io/component=worker --tail=100 --prefix \
      >"$dir/worker-logs-$n.txt" 2>&1 || true
  done
  kubectl -n "$ns" logs "$controller" --tail=500 >"$dir/controller.log" 2>&1 || true
  kubectl -n "$ns" logs "$controller" --previous --tail=200 >"$dir/controller-previous.log" 2>&1 \
    || true
  kubectl -n "$ns" logs -l app.kubernetes.io/part-of=govsim-e2e --tail=100 --prefix \
    >"$dir/e2e-jobs.log" 2>&1 || true
  for n in objects.txt "describe-sweeps-$ns.txt" "describe-jobs-$ns.txt" "events-$ns.txt"; do
    printf '\n===== %s\n' "$n" >&2
    tail -n 120 "$dir/$n" >&2 || true
  done
  printf '\n===== controller.log\n' >&2
  tail -n 200 "$dir/controller.log" >&2 || true
  kind export logs "$dir/kind" --name "$cluster" >/dev/null 2>&1 || true
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

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found on PATH"
  done
}

# --- waiting and reading -------------------------------------------------------------------------

# Wait until a Job of namespace govsim has succeeded (0) or failed (1); its logs are shown.
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

# field NAMESPACE RESOURCE JSONPATH: one field of an object ('' when it or the field is missing).
field() {
  kubectl -n "$1" get "$2" -o jsonpath="{$3}" 2>/dev/null || true
}

# Wait for a Sweep to be Succeeded (kubectl wait), failing early when it is Failed.
wait_succeeded() {
  local n=$1 name=$2 deadline phase
  deadline=$((SECONDS + sweep_timeout))
  while :; do
    if kubectl -n "$n" wait "sweep/$name" --for=jsonpath='{.status.phase}'=Succeeded \
      --timeout=20s >/dev/null 2>&1; then
      log "sweep $n/$name: Succeeded ($(field "$n" "sweep/$name" .status.message))"
      return 0
    fi
    phase=$(field "$n" "sweep/$name" .status.phase)
    if [ "$phase" = Failed ]; then
      die "sweep $n/$name Failed: $(field "$n" "sweep/$name" .status.message)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "sweep $n/$name not Succeeded after ${sweep_timeout}s (phase: ${phase:-none})"
    fi
    kubectl -n "$n" get sweeps >&2 || true
  done
}

# Wait until the sweep's Job has completed at least one index and is still running, so a fault
# injected next lands mid-sweep.
wait_mid_sweep() {
  local n=$1 name=$2 deadline completed finished
  deadline=$((SECONDS + sweep_timeout))
  while :; do
    completed=$(field "$n" "job/$name" .status.completedIndexes)
    finished=$(field "$n" "job/$name" \
      '.status.conditions[?(@.status=="True")].type')
    case $finished in
      *Complete* | *Failed*)
        die "job $n/$name finished ($finished) before the fault could be injected: make sweeps/$name.yaml longer"
        ;;
    esac
    if [ -n "$completed" ]; then
      log "job $n/$name mid-sweep: indexes $completed done"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "job $n/$name completed no index in ${sweep_timeout}s"
    sleep 1
  done
}

# The status the controller wrote must account for every task: all done, or the expected
# failed indexes (second argument, '' for none).
check_status() {
  local n=$1 name=$2 expect_failed=${3:-} total finished failed indexes results want_done
  total=$(field "$n" "sweep/$name" .status.tasksTotal)
  finished=$(field "$n" "sweep/$name" .status.tasksDone)
  failed=$(field "$n" "sweep/$name" .status.tasksFailed)
  indexes=$(field "$n" "sweep/$name" .status.failedIndexes)
  results=$(field "$n" "sweep/$name" .status.resultsUri)
  log "sweep $n/$name: $finished of $total tasks done, ${failed:-0} failed (${indexes:-none}), results at $results"
  [ -n "$total" ] && [ "$total" -gt 0 ] || die "sweep $name: status.tasksTotal is '${total}'"
  [ "$indexes" = "$expect_failed" ] \
    || die "sweep $name: status.failedIndexes is '${indexes}', expected '${expect_failed}'"
  want_done=$total
  if [ -n "$expect_failed" ]; then
    want_done=$((total - $(count_indexes "$expect_failed")))
  fi
  [ "$finished" = "$want_done" ] || die "sweep $name: status.tasksDone $finished != $want_done"
  [ "${failed:-0}" = $((total - want_done)) ] || die "sweep $name: status.tasksFailed is $failed"
  case $results in
    s3://"$bucket"/*) ;;
    *) die "sweep $name: status.resultsUri '$results' is not under s3://$bucket/" ;;
  esac
}

# count_indexes LIST: how many indexes an interval list such as 1,3-5 holds.
count_indexes() {
  local part count=0 parts
  IFS=, read -r -a parts <<<"$1"
  for part in "${parts[@]}"; do
    case $part in
      *-*) count=$((count + ${part#*-} - ${part%-*} + 1)) ;;
      ?*) count=$((count + 1)) ;;
    esac
  done
  printf '%s\n' "$count"
}

# --- applying ------------------------------------------------------------------------------------

# Apply a manifest from scripts/e2e/ with the image the run uses in place of govsim:e2e.
apply_with_image() {
  local file=$1
  grep -q "image: $default_image\$" "$file" || die "$file no longer runs image $default_image"
  sed "s#image: $default_image\$#image: $image#" "$file" | kubectl apply -f -
}

# Apply a sweep file into a namespace.
apply_sweep() {
  kubectl -n "$1" apply -f "$2"
  kubectl -n "$1" get sweeps >&2
}

# Delete a Sweep and wait until it, its Job and its ConfigMap are gone (none may hang).
delete_sweep() {
  local n=$1 name=$2
  kubectl -n "$n" delete "sweep/$name" --wait=true --timeout=60s \
    || die "kubectl delete sweep $n/$name did not return within 60s (a finalizer left behind?)"
  kubectl -n "$n" wait --for=delete "job/$name" "configmap/$name-spec" --timeout=120s \
    || die "the Job or ConfigMap of deleted sweep $n/$name was not garbage-collected in 120s"
}

# check_results_in_cluster NAMESPACE/SWEEP[=FAILED_INDEXES]...: run check_results.py in a Job on
# the sweeps' resolved specs (copied from their ConfigMaps <sweep>-spec); FAILED_INDEXES are the
# tasks that must not be done.
check_results_in_cluster() {
  local item target n name failed dir="$work/check"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$e2e/check_results.py" "$dir/check_results.py"
  for item in "$@"; do
    target=${item%%=*}
    failed=
    [ "$target" = "$item" ] || failed=${item#*=}
    n=${target%%/*}
    name=${target#*/}
    field "$n" "configmap/$name-spec" '.data.sweep\.yaml' >"$dir/$name.yaml"
    [ -s "$dir/$name.yaml" ] || die "no resolved spec in configmap $n/$name-spec"
    if [ -n "$failed" ]; then printf '%s\n' "$failed" >"$dir/$name.failed-indexes"; fi
  done
  kubectl -n "$ns" delete job/check-results configmap/e2e-check --ignore-not-found --wait=true
  kubectl -n "$ns" create configmap e2e-check --from-file="$dir"
  apply_with_image "$e2e/check-results.yaml"
  wait_job check-results 600
}

# --- scenarios -----------------------------------------------------------------------------------

scenario_happy() {
  kubectl -n "$ns" apply -f examples/whale-vs-conformity.yaml
  sed "s#uri: \"file://results\"#uri: \"$explicit_uri\"#" examples/zipped.yaml >"$work/zipped.yaml"
  grep -q "$explicit_uri" "$work/zipped.yaml" || die "examples/zipped.yaml no longer has output file://results"
  apply_sweep "$ns" "$work/zipped.yaml"
  local name
  for name in whale-vs-conformity zipped-scenarios; do
    wait_succeeded "$ns" "$name"
    check_status "$ns" "$name"
  done
  check_results_in_cluster "$ns/whale-vs-conformity" "$ns/zipped-scenarios"
  log "deleting sweep zipped-scenarios: its Job and ConfigMap must be garbage-collected"
  kubectl -n "$ns" get job/zipped-scenarios configmap/zipped-scenarios-spec
  delete_sweep "$ns" zipped-scenarios
}

scenario_failing_index() {
  local name=reused-output events
  log "a one-task sweep $name writes task 0 under s3://$bucket/reused/$name/"
  apply_sweep "$ns" "$e2e/sweeps/reused-output-first.yaml"
  wait_succeeded "$ns" "$name"
  check_status "$ns" "$name"
  delete_sweep "$ns" "$name"
  log "sweep $name again with another spec: task 0 now belongs to another spec (exit 2, FailIndex)"
  apply_sweep "$ns" "$e2e/sweeps/reused-output.yaml"
  wait_succeeded "$ns" "$name"
  check_status "$ns" "$name" 0
  case $(field "$ns" "sweep/$name" .status.message) in
    *"maxFailedIndexes tolerates 1"*) ;;
    *) die "sweep $name: status.message does not say maxFailedIndexes tolerated the failure" ;;
  esac
  local deadline=$((SECONDS + 60))
  # The Event follows the status update that made the sweep Succeeded.
  until events=$(kubectl -n "$ns" get events -o name --field-selector \
    "involvedObject.kind=Sweep,involvedObject.name=$name,reason=SucceededWithFailedTasks") \
    && [ -n "$events" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "sweep $name: no Event with reason SucceededWithFailedTasks"
    sleep 2
  done
  [ "$(field "$ns" "job/$name" '.status.conditions[?(@.type=="Failed")].reason')" = FailedIndexes ] \
    || die "job $name: expected the Job controller's Failed condition with reason FailedIndexes"
  check_results_in_cluster "$ns/$name=0"
}

scenario_job_deleted() {
  local name=job-deleted before after
  apply_sweep "$ns" "$e2e/sweeps/$name.yaml"
  wait_mid_sweep "$ns" "$name"
  before=$(field "$ns" "job/$name" .metadata.uid)
  log "deleting job $name (uid $before) by hand"
  kubectl -n "$ns" delete "job/$name" --cascade=foreground --wait=true --timeout=120s
  local deadline=$((SECONDS + 180))
  while :; do
    after=$(field "$ns" "job/$name" .metadata.uid)
    [ -n "$after" ] && [ "$after" != "$before" ] && break
    [ "$SECONDS" -lt "$deadline" ] || die "the controller did not re-create job $name within 180s"
    sleep 2
  done
  log "job $name re-created (uid $after)"
  wait_succeeded "$ns" "$name"
  check_status "$ns" "$name"
  check_results_in_cluster "$ns/$name"
}

scenario_controller_restart() {
  local name=controller-restart before jobs
  apply_sweep "$ns" "$e2e/sweeps/$name.yaml"
  wait_mid_sweep "$ns" "$name"
  before=$(field "$ns" "job/$name" .metadata.uid)
  log "restarting the controller mid-sweep"
  kubectl -n "$ns" rollout restart "$controller"
  kubectl -n "$ns" rollout status "$controller" --timeout=180s
  wait_succeeded "$ns" "$name"
  check_status "$ns" "$name"
  jobs=$(kubectl -n "$ns" get jobs -l "$sweep_label=$name" -o jsonpath='{.items[*].metadata.uid}')
  [ "$jobs" = "$before" ] || die "sweep $name: jobs after the restart are '$jobs', expected only $before"
  check_results_in_cluster "$ns/$name"
}

scenario_sweep_deleted() {
  local name=sweep-deleted finalizers started
  apply_sweep "$ns" "$e2e/sweeps/$name.yaml"
  wait_mid_sweep "$ns" "$name"
  finalizers=$(field "$ns" "sweep/$name" .metadata.finalizers)
  [ -z "$finalizers" ] || die "sweep $name carries finalizers $finalizers"
  started=$SECONDS
  delete_sweep "$ns" "$name"
  log "sweep $name deleted in $((SECONDS - started))s"
  local deadline=$((SECONDS + 120)) pods
  while pods=$(kubectl -n "$ns" get pods -l "batch.kubernetes.io/job-name=$name" -o name) \
    && [ -n "$pods" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "pods of deleted sweep $name were not garbage-collected in 120s: $pods"
    sleep 2
  done
  if kubectl -n "$ns" get "sweep/$name" >/dev/null 2>&1; then die "sweep $name still exists"; fi
}

scenario_second_namespace() {
  local name=second-namespace
  kubectl create namespace "$ns_b" --dry-run=client -o yaml | kubectl apply -f -
  kubectl apply -f "$e2e/s3-credentials-govsim-b.yaml"
  log "upgrading the release: every namespace watched, worker namespace $ns_b"
  helm_install upgrade -f "$e2e/values-second-namespace.yaml"
  kubectl -n "$ns" rollout status "$controller" --timeout=180s
  kubectl -n "$ns_b" get serviceaccounts >&2
  apply_sweep "$ns_b" "$e2e/sweeps/$name.yaml"
  wait_succeeded "$ns_b" "$name"
  check_status "$ns_b" "$name"
  [ -n "$(field "$ns_b" "job/$name" .metadata.uid)" ] || die "no job $name in $ns_b"
  check_results_in_cluster "$ns_b/$name"
}

# --- setup ---------------------------------------------------------------------------------------

# helm_install install|upgrade [ARGS...]: the chart with the kind values and the run's image.
helm_install() {
  local verb=$1
  shift
  helm "$verb" "$release" charts/govsim --namespace "$ns" -f "$e2e/values-kind.yaml" "$@" \
    --set-string "image.repository=$image_repository" --set-string "image.tag=$image_tag" \
    --wait --timeout 5m
}

build_and_load() {
  local archive="$work/image.tar" platform
  if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "using the existing image $image"
  else
    log "building $image (scripts/image-build.sh, no attestations)"
    BUILDX_NO_DEFAULT_ATTESTATIONS=1 ENGINE=docker scripts/image-build.sh "$image"
  fi
  docker image inspect "$image" >/dev/null || die "no image $image in the local docker"
  platform=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$image")
  log "saving $image ($platform) and loading it with kind load image-archive"
  # --platform (Docker 28 and later) keeps other platforms' manifests out of the archive.
  docker image save --platform "$platform" -o "$archive" "$image" 2>/dev/null \
    || docker image save -o "$archive" "$image"
  kind load image-archive "$archive" --name "$cluster"
  docker exec "$cluster-control-plane" crictl inspecti "$image" >/dev/null \
    || die "image $image is not in the node's containerd after kind load"
}

# The installed kind must be the release infra/terraform/kubernetes-versions.json pins: the node
# image in kind-config.yaml is the one that kind release publishes.
check_kind_version() {
  local pinned installed
  pinned=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["kind"]["version"])' \
    infra/terraform/kubernetes-versions.json)
  installed=$(kind version | awk '{print $2}')
  [ "$installed" = "$pinned" ] \
    || die "kind $installed is installed, but infra/terraform/kubernetes-versions.json pins kind $pinned"
}

setup() {
  need docker kind kubectl helm python3
  check_kind_version
  docker info >/dev/null 2>&1 || die "docker has no running daemon"
  if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    die "a kind cluster named $cluster exists already; delete it (kind delete cluster --name $cluster) or set CLUSTER"
  fi
  local node_args=()
  if [ -n "${KIND_NODE_IMAGE:-}" ]; then node_args=(--image "$KIND_NODE_IMAGE"); fi
  log "creating kind cluster $cluster (node image: ${KIND_NODE_IMAGE:-pinned in $e2e/kind-config.yaml})"
  created=1
  kind create cluster --name "$cluster" "${node_args[@]}" --config "$e2e/kind-config.yaml" \
    --kubeconfig "$KUBECONFIG" --wait 180s
  build_and_load

  log "starting the in-cluster S3 server"
  kubectl create namespace "$ns"
  kubectl apply -f "$e2e/s3-credentials.yaml" -f "$e2e/seaweedfs.yaml"
  kubectl -n "$ns" rollout status deployment/seaweedfs --timeout=300s
  apply_with_image "$e2e/create-bucket.yaml"
  wait_job create-bucket 300

  log "installing the chart ($image_repository:$image_tag)"
  helm_install install
  kubectl wait --for=condition=established crd/sweeps.govsim.io --timeout=60s
  kubectl get crd sweeps.govsim.io
}

main() {
  if [ "${1:-}" = --list ]; then
    printf '%s\n' "${all_scenarios[@]}"
    return 0
  fi
  [ "$#" -eq 0 ] || die "usage: scripts/e2e-kind.sh [--list] (choose scenarios with SCENARIOS)"
  local selected=() parsed=() requested=() out name
  read -r -a requested <<<"${SCENARIOS:-${all_scenarios[*]}}"
  out=$(select_scenarios "${requested[@]}") || exit 2
  mapfile -t selected <<<"$out"
  image=${IMAGE:-$default_image}
  out=$(split_image "$image") || exit 2
  mapfile -t parsed <<<"$out"
  image_repository=${parsed[0]}
  image_tag=${parsed[1]}
  cluster=${CLUSTER:-govsim-e2e}
  sweep_timeout=${SWEEP_TIMEOUT:-900}

  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  work=$(mktemp -d)
  export KUBECONFIG="$work/kubeconfig"
  trap cleanup EXIT
  setup
  for name in "${selected[@]}"; do
    scenario=$name
    log "start"
    "scenario_${name//-/_}"
    log "ok"
  done
  scenario=finished
  log "end to end: ok (${selected[*]})"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
