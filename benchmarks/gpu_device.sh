#!/usr/bin/env bash
# Issue #16's one device run (a few minutes on a GPU machine): does onnxruntime's CUDA provider run,
# and the `gpu` section of benchmarks/tiling.py (A4 300 dpi page with hints: CPU vs GPU, fp32 vs fp16).
# Writes gpu_check.json and tiling_gpu.json (+ .err logs) to $OUT (default /tmp) and prints both.
# Needs numpy, opencv, pillow, psd-tools, platformdirs, onnxruntime and (for the torch figures) torch.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp}"
PY="${PYTHON:-python3}"
export QT_QPA_PLATFORM=offscreen PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
timeout 150 "$PY" benchmarks/gpu_check.py > "$OUT/gpu_check.json" 2> "$OUT/gpu_check.err"
echo "gpu_check rc=$?"
timeout 400 "$PY" benchmarks/tiling.py --device cuda > "$OUT/tiling_gpu.json" 2> "$OUT/tiling_gpu.err"
echo "tiling --device cuda rc=$?"
cat "$OUT/gpu_check.json" "$OUT/tiling_gpu.json"
tail -5 "$OUT/tiling_gpu.err"
