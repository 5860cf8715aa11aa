#!/usr/bin/env bash
# The GPU check: on a CUDA machine, from a checkout, run the tests marked `cuda`, then measure the
# recipes' training throughput and peak memory in one table (benchmarks/bench_gpu.py). Under 8
# minutes on one H200-class GPU. Needs torch, transformers, accelerate, torchvision, pytest and
# safetensors; not `datasets` or `nlpaug` (carry pytest's wheel where it is missing).
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs a GPU')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "== tests marked cuda"
"$PYTHON" -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py tests/test_augment_vision.py
echo "== throughput"
"$PYTHON" benchmarks/bench_gpu.py --steps 30
