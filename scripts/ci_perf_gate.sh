#!/usr/bin/env bash
# CI perf gate for any CI system: record a baseline at the merge-base, then gate HEAD.
#
#   scripts/ci_perf_gate.sh CONFIG [BASE_REF]
#
#   CONFIG    the experiment YAML (path relative to the repository root)
#   BASE_REF  the branch the change will merge into (default: origin/main); the baseline is
#             recorded at `git merge-base BASE_REF HEAD`, not at the branch tip, so commits
#             that landed on the base meanwhile are not blamed on this change
#
# Environment:
#   PERF_GATE_OUT   output folder (default: perf-gate): baseline.json, gate.md, gate.xml, gate.json
#   PERF_GATE_ARGS  extra arguments for both runs, e.g. "--policy perf-policy.yaml --set device=cuda"
#
# Exit status is perfkit gate's: 0 pass, 1 regression, 2 usage or input error.
# Both runs happen on this machine, one after the other, so the environments match.
set -euo pipefail

CONFIG=${1:?usage: ci_perf_gate.sh CONFIG [BASE_REF]}
BASE_REF=${2:-origin/main}
OUT=${PERF_GATE_OUT:-perf-gate}
# shellcheck disable=SC2206
EXTRA=(${PERF_GATE_ARGS:-})

ROOT=$(git rev-parse --show-toplevel)
cd "$ROOT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

BASE=$(git merge-base "$BASE_REF" HEAD)
WORKTREE="$(mktemp -d)/base"
git worktree add --detach --quiet "$WORKTREE" "$BASE"
trap 'git worktree remove --force "$WORKTREE" >/dev/null 2>&1 || true' EXIT

if [ ! -f "$WORKTREE/$CONFIG" ]; then
  echo "perf gate: $CONFIG does not exist at the merge-base ${BASE:0:12}; nothing to compare against" >&2
  exit 0
fi

echo "perf gate: baseline = $CONFIG at merge-base ${BASE:0:12}" >&2
# The merge-base's own code: its folder first on the import path, so the experiment's
# model and data code are the base versions.
(cd "$WORKTREE" && PYTHONPATH="$WORKTREE${PYTHONPATH:+:$PYTHONPATH}" \
  perfkit baseline save "$CONFIG" --output "$OUT/baseline.json" "${EXTRA[@]}")

echo "perf gate: candidate = $CONFIG at HEAD $(git rev-parse --short=12 HEAD)" >&2
perfkit gate "$CONFIG" --baseline "$OUT/baseline.json" \
  --md "$OUT/gate.md" --junit "$OUT/gate.xml" --json "$OUT/gate.json" "${EXTRA[@]}"
