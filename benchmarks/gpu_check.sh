#!/usr/bin/env bash
# The prepared GPU check: on a machine with a CUDA device (and no network), build swagfast with
# CUDA into the machine's Python, run the tests marked `cuda` (beside them, the ROAR evaluation's
# retrainings), then the GPU benchmarks, and write everything under benchmarks/results/ (or the folder given as $1).
#
#   bash benchmarks/gpu_check.sh [RESULTS_DIR [STAGE ...]]     STAGE: build tests bench roar
#
# Uses the Python that holds torch (python3, or $PYTHON); needs pybind11, scikit-build-core,
# numba, numpy, pytest, scikit-image there (the lent machines have them; packages they lack, e.g.
# captum and the embedded model's, can be put on PYTHONPATH beforehand). Every stage has its own
# time limit, so one that hangs cannot take the others' time; the log says which failed.
set -uo pipefail
cd "$(dirname "$0")/.."
res=$(realpath -m "${1:-benchmarks/results}")
shift || true
stages=${*:-build tests bench roar}
mkdir -p "$res"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
log="$res/gpu_check.log"
status=0
want() { [[ " $stages " == *" $1 "* ]]; }
step() {  # step SECONDS COMMAND...: run with a limit, record failure, go on
  local limit=$1
  shift
  echo "== $(date -u +%T) $*"
  timeout "$limit" "$@"
  local rc=$?
  [[ $rc == 0 ]] || { echo "!! failed ($rc): $*"; status=1; }
  return $rc
}
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  if want build; then
    # Hopper only (H100 and H200; the normal build targets 80 and 90)
    step 400 env CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=90" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      SWAGFAST_CUDA=ON "$py" -m pip install -q --no-build-isolation --no-deps --no-index . || exit 1
    "$py" -P -c "import swagfast; [print(k, v) for k, v in swagfast.backends().items()]"
  fi
  roar=""
  if want roar; then  # accuracy only, no timing: it shares the GPU with the tests
    step 330 "$py" benchmarks/eval_roar.py --device cuda --workers 7 >"$res/eval_roar.log" 2>&1 &
    roar=$!
  fi
  if want tests; then
    step 300 "$py" -P -m pytest -p no:cacheprovider --rootdir=. -c pyproject.toml -m cuda -q tests
  fi
  if [[ -n $roar ]]; then
    wait "$roar" || status=1
    cat "$res/eval_roar.log"
  fi
  if want bench; then
    step 120 "$py" benchmarks/bench_slic.py --device cuda
    # SWAG-V: B=8 clips on R(2+1)D-18 (random init; torchvision's when importable)
    step 120 "$py" benchmarks/bench_video.py --device cuda --model r2plus1d_18 --batch 8 --repeats 5
    # ... and one clip at a time (with the per-stage tables: where the supervoxels' time goes)
    step 120 "$py" benchmarks/bench_video.py --device cuda --model r2plus1d_18 --batch 1 --repeats 11
    step 120 "$py" benchmarks/bench_video.py --device cuda --model action-demo --batch 1 --repeats 11
    # the thesis's timing model (random init): torchvision's ResNet-50
    step 240 "$py" benchmarks/bench_swag.py --device cuda --model torchvision:resnet50 --batches 1 8 64 --repeats 10
    # the same under bf16 autocast (the floor too)
    step 240 "$py" benchmarks/bench_swag.py --device cuda --model torchvision:resnet50 --batches 1 8 64 \
      --repeats 5 --autocast bf16
    step 120 "$py" benchmarks/bench_pool.py --device cuda
    step 120 "$py" benchmarks/bench_cam.py --device cuda --model torchvision:resnet50 --repeats 5
    step 180 "$py" benchmarks/bench_failure.py --device cuda --model torchvision:resnet50 --images 256 --batch 64
    # peak device memory beside the peers (without the per-image CPU peers)
    step 120 "$py" benchmarks/bench_memory.py --device cuda --quick
  fi
  cp benchmarks/results/*_cuda*.json benchmarks/results/eval_roar.json "$res"/ 2>/dev/null || true
  exit $status
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
