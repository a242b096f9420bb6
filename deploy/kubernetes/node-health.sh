#!/usr/bin/env bash
# A GPU node's health as the cluster acts on it: `gpu-canary preflight --adapter all`
# on the node, then its label gpu-canary.io/health=testing|pass|fail and, on a failure
# of a class that takes the card out of service, the taint
# gpu-canary.io/unhealthy=<class>:NoSchedule. Dry-run is the default: it prints the
# exact kubectl commands it would run (DRY_RUN=false runs them).
#
#   NODE_NAME       the node (the DaemonSet sets it from spec.nodeName)
#   DRY_RUN         true (default) or false
#   PREFLIGHT_ARGS  preflight's flags (default --require-hardware)
#   GPU_CANARY_BIN  the binary (default gpu-canary on PATH)
#   OUT             where the results go (default /tmp/gpu-canary-node)
#
# Exit status: preflight's (0 pass, 1 a wrong result, 3 a card or state failure or an
# inconclusive run), or 2 for bad usage. docs/lane.md ("The cluster acts on it") says
# how the taint is lifted.
set -uo pipefail
node=${NODE_NAME:-}
if [ -z "$node" ]; then
  echo "node-health: NODE_NAME is empty; set it to the node's name (the DaemonSet sets spec.nodeName)" >&2
  exit 2
fi
case "${DRY_RUN:-true}" in true | false) ;; *)
  echo "node-health: DRY_RUN=${DRY_RUN} is neither true nor false" >&2
  exit 2 ;;
esac
bin=${GPU_CANARY_BIN:-gpu-canary}
out=${OUT:-/tmp/gpu-canary-node}
kube() {
  if [ "${DRY_RUN:-true}" = true ]; then
    echo "dry-run: kubectl $*"
  else
    kubectl "$@" || echo "node-health: kubectl $* failed" >&2
  fi
}
kube label node "$node" gpu-canary.io/health=testing --overwrite
# shellcheck disable=SC2086 # the flags are words
"$bin" preflight --adapter all ${PREFLIGHT_ARGS---require-hardware} --out "$out" --force
rc=$?
# The class: why the first failing card stopped (result.json's stopped.reason), or a
# wrong result.
class=$(grep -rhoE '"reason": *"[a-z-]+"' "$out"/*/result.json 2>/dev/null | head -n 1 | sed -E 's/.*"([a-z-]+)"$/\1/')
inconclusive=$(grep -c '"verdict": *"inconclusive"' "$out/result.json" 2>/dev/null)
case "$rc" in
  0)
    kube label node "$node" gpu-canary.io/health=pass --overwrite
    ;;
  1)
    kube label node "$node" gpu-canary.io/health=fail --overwrite
    kube taint node "$node" gpu-canary.io/unhealthy=wrong-result:NoSchedule --overwrite
    ;;
  *)
    if [ "${inconclusive:-0}" -gt 0 ]; then
      # Ran out of its budget: nothing proven either way; the label stays testing.
      echo "node-health: inconclusive; $node stays gpu-canary.io/health=testing" >&2
    else
      kube label node "$node" gpu-canary.io/health=fail --overwrite
      # The classes that take the card out of service: its state, a GPU gone, a
      # device lost, a hang. Others (a software adapter: the pod's setup) are labelled
      # only.
      case "$class" in
        card-state | no-adapter | device-lost | timeout)
          kube taint node "$node" "gpu-canary.io/unhealthy=$class:NoSchedule" --overwrite
          ;;
      esac
    fi
    ;;
esac
exit "$rc"
