#!/usr/bin/env bash
# GPU check: run the quickstart and resnet configs on CUDA across AMP (off/bf16/fp16),
# channels_last (off/on) and torch.compile, print one summary table, keep every run's
# JSON in OUTDIR, record a small CUDA trace fixture, and run the GPU-only tests.
#
#   scripts/gpu_check.sh [OUTDIR]        (default: gpu-check-out)
#
# Budget: under 8 minutes on one H100. Each run is short (--steps 20 after warm-up).
set -uo pipefail
OUT=${1:-gpu-check-out}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
if ! $PY -c "import perfkit" 2>/dev/null; then
  $PY -m pip install -q -e '.[dev]' >/dev/null 2>&1 || $PY -m pip install -q -e . >/dev/null
fi
$PY - <<'PYEOF'
import torch
print(f"torch {torch.__version__} · CUDA {torch.version.cuda} · cuDNN {torch.backends.cudnn.version()} · "
      f"{torch.cuda.get_device_name(0)} · capability {torch.cuda.get_device_capability(0)}")
PYEOF

# Larger, GPU-sized variants of the shipped configs; the data pipeline gets workers.
QS=(configs/quickstart.yaml --set data.batch_size=256 --set data.num_workers=4 --set data.pin_memory=true --set data.persistent_workers=true --set data.params.num_samples=8192)
RN=(configs/resnet.yaml --set model.params.width=64 --set data.batch_size=128 --set data.num_workers=6 --set data.pin_memory=true --set data.persistent_workers=true --set data.params.num_samples=8192)

run() {  # run NAME ARGS...
  local name=$1; shift
  local start=$SECONDS
  if perfkit profile "$@" --device cuda --steps 20 -q -o "$OUT/$name.json" 2>"$OUT/$name.err"; then
    echo "ok   $name ($((SECONDS - start)) s)"
  else
    echo "FAIL $name ($((SECONDS - start)) s): $(tail -n 3 "$OUT/$name.err" | tr '\n' ' ')"
  fi
}

for cfg in QS RN; do
  declare -n ARGS=$cfg
  tag=$( [ "$cfg" = QS ] && echo quickstart || echo resnet )
  for amp in off bf16 fp16; do
    run "$tag-amp_$amp" "${ARGS[@]}" --amp "$amp" --no-channels-last
    run "$tag-amp_$amp-cl" "${ARGS[@]}" --amp "$amp" --channels-last
  done
  run "$tag-bf16-cl-compile" "${ARGS[@]}" --amp bf16 --channels-last --compile
done
run quickstart-sync "${QS[@]}" --amp bf16 --sync
# A traced run: its trace becomes the CUDA fixture for kernel-to-phase attribution tests.
run quickstart-traced "${QS[@]}" --amp bf16 --trace --trace-dir "$OUT/traces" --set profiler.active=2 --set profiler.gzip=true --set data.batch_size=64

$PY - "$OUT" <<'PYEOF'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    d = json.load(open(path))
    s = d["summary"]
    t = d["config"]["toggles"]
    ph = s["phases"]
    mfu = s["flops"]["mfu"]
    rows.append((os.path.basename(path)[:-5], t["amp"], "on" if t["channels_last"] else "off", "on" if t["compile"] else "off",
                 "sync" if d["measurement"]["sync"] else "",
                 s["step_ms"]["median"], (s.get("device_step_ms") or {}).get("median"),
                 ph["forward"]["device_median_ms"], ph["backward"]["device_median_ms"], ph["optimizer"]["device_median_ms"],
                 ph["data"]["median_ms"], s["throughput"]["samples_per_s"],
                 None if mfu is None else 100 * mfu, d["memory"]["device_peak_allocated_bytes"] / 2**30))
head = ("run", "amp", "cl", "compile", "", "step ms", "dev step", "dev fwd", "dev bwd", "dev opt", "data ms", "samples/s", "MFU %", "peak GiB")
fmt = "{:<28} {:>4} {:>3} {:>7} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6} {:>8}"
print(fmt.format(*head))
for r in rows:
    cells = [r[0], r[1], r[2], r[3], r[4]] + [("—" if v is None else f"{v:.2f}") for v in r[5:11]] + [f"{r[11]:.0f}", "—" if r[12] is None else f"{r[12]:.1f}", f"{r[13]:.2f}"]
    print(fmt.format(*cells))
PYEOF

# The trace fixture for tests/data (commit it): the newest traced file.
trace=$(ls -t "$OUT"/traces/*/*.pt.trace.json.gz 2>/dev/null | head -n 1)
if [ -n "$trace" ]; then
  cp "$trace" "$OUT/cuda_quickstart_bf16.pt.trace.json.gz"
  echo "CUDA trace fixture: $OUT/cuda_quickstart_bf16.pt.trace.json.gz ($(du -h "$trace" | cut -f1))"
  perfkit analyze "$trace" --top 5 || echo "FAIL analyze"
fi

# GPU-only tests (they skip on CPU machines).
$PY -m pytest -q tests/gpu 2>&1 | tail -n 15
