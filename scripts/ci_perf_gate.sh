#!/usr/bin/env bash
# CI perf gate for any CI system: the merge-base against HEAD, interleaved, on this machine.
#
#   scripts/ci_perf_gate.sh CONFIG [BASE_REF]
#
#   CONFIG    the experiment YAML (path relative to the repository root)
#   BASE_REF  the branch the change will merge into (default: origin/main). The baseline is
#             the code at `git merge-base BASE_REF HEAD`, not the branch tip, so commits
#             that landed on the base meanwhile are not blamed on this change.
#
# How: a git worktree holds the merge-base. For each of PERF_GATE_ROUNDS rounds the script
# runs the experiment once at the merge-base and once at HEAD, each in a fresh process, in
# alternating order (base, head / head, base / ...). `perfkit gate --paired` then compares
# the two sides round by round (Wilcoxon signed-rank over rounds), so machine drift and a
# slow process hit both sides alike instead of posing as a regression. Each run records a
# short trace, so kernel, op and host-sync counts per step are gated exactly.
#
# Environment:
#   PERF_GATE_OUT           output folder (default: perf-gate): runs/, gate.md, gate.xml, gate.json
#   PERF_GATE_ROUNDS        rounds (default 8: the fewest with which the paired test can reach p < 0.01)
#   PERF_GATE_PROFILE_ARGS  extra arguments for every run, e.g. "--set device=cuda --set threads=4"
#   PERF_GATE_ARGS          extra arguments for the gate, e.g. "--policy perf-policy.yaml"
#
# Exit status is perfkit gate's: 0 pass, 1 regression, 2 usage or input error (including
# a merge-base that cannot be found: clone with full history, e.g. fetch-depth: 0).
set -euo pipefail

CONFIG=${1:?usage: ci_perf_gate.sh CONFIG [BASE_REF]}
BASE_REF=${2:-origin/main}
ROUNDS=${PERF_GATE_ROUNDS:-8}
read -r -a PROFILE_ARGS <<< "${PERF_GATE_PROFILE_ARGS:-}"
read -r -a GATE_ARGS <<< "${PERF_GATE_ARGS:-}"

fail_usage() { echo "perf gate: $*" >&2; exit 2; }

ROOT=$(git rev-parse --show-toplevel) || fail_usage "not inside a git repository"
cd "$ROOT"
[ -f "$CONFIG" ] || fail_usage "$CONFIG: no such experiment file at HEAD"
BASE=$(git merge-base "$BASE_REF" HEAD 2>/dev/null) \
  || fail_usage "no merge-base of $BASE_REF and HEAD (a shallow clone? fetch the full history, e.g. fetch-depth: 0)"

OUT=${PERF_GATE_OUT:-perf-gate}
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
SCRATCH=$(mktemp -d)
WORKTREE="$SCRATCH/base"
cleanup() {
  git worktree remove --force "$WORKTREE" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
git worktree add --detach --quiet "$WORKTREE" "$BASE"

if [ ! -f "$WORKTREE/$CONFIG" ]; then
  echo "perf gate: $CONFIG does not exist at the merge-base ${BASE:0:12}; nothing to compare against" >&2
  exit 0
fi

# run SIDE TREE ROUND: one run of the experiment in TREE, that tree's code first on the
# import path (so the experiment's model and data code are that commit's).
run() {
  local side=$1 tree=$2 round=$3
  (cd "$tree" && PYTHONPATH="$tree${PYTHONPATH:+:$PYTHONPATH}" \
    perfkit profile "$CONFIG" -q --output "$OUT/runs/$side-$round.json" \
      --trace-dir "$SCRATCH/traces/$side-$round" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"})
}

echo "perf gate: $CONFIG, merge-base ${BASE:0:12} vs HEAD $(git rev-parse --short=12 HEAD), $ROUNDS rounds" >&2
BASELINES=()
CANDIDATES=()
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then
    run base "$WORKTREE" "$round"; run head "$ROOT" "$round"
  else
    run head "$ROOT" "$round"; run base "$WORKTREE" "$round"
  fi
  BASELINES+=(--baseline "$OUT/runs/base-$round.json")
  CANDIDATES+=(--candidate "$OUT/runs/head-$round.json")
  echo "perf gate: round $round/$ROUNDS done" >&2
done

perfkit gate "$CONFIG" "${BASELINES[@]}" "${CANDIDATES[@]}" --paired \
  --md "$OUT/gate.md" --junit "$OUT/gate.xml" --json "$OUT/gate.json" ${GATE_ARGS[@]+"${GATE_ARGS[@]}"}
