#!/usr/bin/env bash
# The prepared GPU check: on a machine with a CUDA device (and no network), build swagfast with
# CUDA into the machine's Python, run the tests marked `cuda`, run the GPU benchmarks, and write
# everything under benchmarks/results/ (or the folder given as $1).
#
#   bash benchmarks/gpu_check.sh [RESULTS_DIR]
#
# Uses the Python that holds torch (python3, or $PYTHON); needs pybind11, scikit-build-core,
# numba, numpy, pytest, scikit-image there (the lent machines have them).
set -uo pipefail
cd "$(dirname "$0")/.."
res=$(realpath -m "${1:-benchmarks/results}")
mkdir -p "$res"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
log="$res/gpu_check.log"
status=0
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "== build (SWAGFAST_CUDA=ON)"
  SWAGFAST_CUDA=ON "$py" -m pip install -q --no-build-isolation --no-deps --no-index . || exit 1
  "$py" -c "import swagfast; [print(k, v) for k, v in swagfast.backends().items()]"
  echo "== tests marked cuda"
  "$py" -P -m pytest -p no:cacheprovider --rootdir=. -c pyproject.toml -m cuda -q tests || status=1
  echo "== benchmarks"
  for b in benchmarks/bench_pool.py benchmarks/bench_slic.py; do
    "$py" "$b" --device cuda || status=1
  done
  # the embedded model's packages are not on the (offline) GPU machine: torchvision's ResNet-50
  "$py" benchmarks/bench_swag.py --device cuda --model torchvision:resnet50 --batches 1 64 --repeats 10 || status=1
  "$py" benchmarks/bench_cam.py --device cuda --model torchvision:resnet50 --repeats 5 || status=1
  # SWAG-V: B=8 clips on R(2+1)D-18 (random init; torchvision's when importable)
  "$py" benchmarks/bench_video.py --device cuda --model r2plus1d_18 --batch 8 --repeats 5 || status=1
  "$py" benchmarks/bench_failure.py --device cuda --model torchvision:resnet50 --images 256 --batch 64 --no-captum || status=1
  cp benchmarks/results/*_cuda*.json "$res"/ 2>/dev/null || true
  exit $status
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
