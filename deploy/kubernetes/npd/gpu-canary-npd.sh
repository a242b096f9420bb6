#!/usr/bin/env bash
# gpu-canary as a Node Problem Detector custom plugin: NPD runs it every interval and
# reads its exit status (0 OK, 1 NonOK, 2 Unknown) and the first maxOutputLength
# characters of its output (80 by default; the monitor sets 200).
#   preflight 0                      -> 0 OK
#   preflight 1 (a wrong result)     -> 1 NonOK
#   preflight 3 (a card or state failure, a GPU missing) -> 1 NonOK
#   preflight 3 inconclusive (over its budget), 2, or anything else -> 2 Unknown
set -uo pipefail
bin=${GPU_CANARY_BIN:-gpu-canary}
out=${OUT:-/tmp/gpu-canary-npd}
# shellcheck disable=SC2086 # the flags are words
"$bin" preflight --adapter all ${PREFLIGHT_ARGS---require-hardware} --out "$out" --force > "$out.log" 2>&1
rc=$?
first_error=$(sed -n 's/^error: //p' "$out.log" | head -n 1)
say() { printf '%s\n' "${1:0:200}"; }
if grep -q '"verdict": *"inconclusive"' "$out/result.json" 2>/dev/null; then
  say "gpu-canary: inconclusive (over budget): ${first_error}"
  exit 2
fi
case "$rc" in
  0) say "gpu-canary: every card passed its preflight"; exit 0 ;;
  1 | 3) say "gpu-canary: ${first_error:-preflight exit $rc}"; exit 1 ;;
  *) say "gpu-canary: preflight exit $rc: ${first_error}"; exit 2 ;;
esac
