#!/usr/bin/env bash
# The honey lane's job-started hook: the Actions runner runs the script named by
# ACTIONS_RUNNER_HOOK_JOB_STARTED before every job (docs/lane/*-values.yaml set it to
# /opt/gpu-canary/job-started.sh, where the runner images put this file: GitHub wants
# it outside the runner's own directory). It runs `gpu-canary preflight`; when that
# fails, the job never starts: the runner marks it failed (continue-on-error does not
# apply), with an error annotation naming the card, the reason and what to do, and a
# short section in the job's step summary. On success it prints one line.
#
# Settings (the pod's environment):
#   GPU_CANARY_PREFLIGHT=off       turn the hook off (docs/lane.md, "The preflight")
#   GPU_CANARY_PREFLIGHT_ARGS      preflight's flags (unset: --require-hardware; empty: none)
#   GPU_CANARY_BIN                 the binary (default /usr/local/bin/gpu-canary)
#   GPU_CANARY_PUSHGATEWAY         a Pushgateway URL: the preflight's metrics are pushed
#   GPU_CANARY_LANE                the lane's name for the push (default honey)
#   GPU_CANARY_PUSH                the push script (default /opt/gpu-canary/push-metrics)
set -uo pipefail
if [ "${GPU_CANARY_PREFLIGHT:-on}" = off ]; then
  echo "gpu-canary preflight: off (GPU_CANARY_PREFLIGHT=off)"
  exit 0
fi
bin=${GPU_CANARY_BIN:-/usr/local/bin/gpu-canary}
out=${RUNNER_TEMP:-/tmp}/gpu-canary-preflight
mkdir -p "$out"
log=$out/preflight.log
start=$(date +%s%N)
# The hook's own summary section stands for the preflight's: the tool's would be added
# on every job, passing or not.
# shellcheck disable=SC2086 # the flags are words
env -u GITHUB_STEP_SUMMARY "$bin" preflight ${GPU_CANARY_PREFLIGHT_ARGS---require-hardware} \
  --out "$out/result" --force --export-metrics "$out/metrics.prom" > "$log" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
took=$(printf '%d.%03d s' $((ms / 1000)) $((ms % 1000)))
card=$(sed -n 's/^adapter: //p' "$log" | head -n 1)
card=${card:-no adapter}
if [ -n "${GPU_CANARY_PUSHGATEWAY:-}" ]; then
  "${GPU_CANARY_PUSH:-/opt/gpu-canary/push-metrics}" "$GPU_CANARY_PUSHGATEWAY" \
    gpu-canary-preflight "${GPU_CANARY_LANE:-honey}" "$out/metrics.prom" >&2 ||
    echo "gpu-canary preflight: the metrics push failed; the verdict stands" >&2
fi
if [ "$rc" -eq 0 ]; then
  echo "gpu-canary preflight: PASS on $card in $took; $out/result/result.json"
  exit 0
fi
# The first error the preflight printed names the failure and its fix.
reason=$(sed -n 's/^error: //p' "$log" | head -n 1)
reason=${reason:-$(tail -n 1 "$log")}
verdict=$(sed -n 's/^verdict: //p' "$log" | tail -n 1)
action=$(sed -n 's/^action: \([a-z_]*\):.*/\1/p' "$log" | tail -n 1)
# Workflow commands' escapes: % and line breaks in the message; also : and , in a
# property (the title).
esc() { local s=${1//%/%25}; s=${s//$'\r'/%0D}; printf '%s' "${s//$'\n'/%0A}"; }
title=$(esc "gpu-canary preflight failed on $card")
title=${title//:/%3A}
title=${title//,/%2C}
echo "::error title=$title::$(esc "$reason") (${verdict:-exit $rc}; action: ${action:-unknown}). The job did not run on this card: rerun it (another runner takes it); operators: docs/lane.md, \"When the preflight fails\"."
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### gpu-canary preflight: ${verdict:-exit $rc}"
    echo
    echo "The job did not start: the lane's card failed its health check, in $took."
    echo
    echo "- card: $card"
    echo "- reason: $reason"
    echo "- action: ${action:-unknown}"
    echo "- result: $out/result/result.json"
  } >> "$GITHUB_STEP_SUMMARY" || true
fi
exit "$rc"
