#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run: the CuPy tests (each compares the GPU result with the CPU one), then
# the GPU benchmarks. Runs from a checkout with the dependencies and CuPy importable (no installation needed:
# the package is put on PYTHONPATH). Logs go to $OUT (default ./gpu-results); each step has its own time limit so
# one failure does not cost the others.
#
#     bash bench/gpu.sh            # everything
#     bash bench/gpu.sh tests      # only the CuPy tests
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python="${PYTHON:-python3}"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, output to the terminal and $out/NAME.log
    local name=$1 seconds=$2
    shift 2
    echo "== $name"
    timeout "$seconds" "$@" 2>&1 | tee "$out/$name.log"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$python" -c "import platform, cupy, numpy, scipy; print('python', platform.python_version(), 'cupy', cupy.__version__,
'numpy', numpy.__version__, 'scipy', scipy.__version__); print('cpu cores', __import__('os').cpu_count())"
} 2>&1 | tee "$out/machine.txt"

step tests 150 "$python" -m pytest -q -p no:cacheprovider -o addopts="" -k "cuda or backends" \
    tests/unit/test_backend.py tests/unit/test_motion.py tests/unit/test_cnmf.py tests/unit/test_cnmf_backends.py \
    tests/unit/test_spatial_events.py
[ "${1:-all}" = tests ] && exit 0
# every unit test with device="auto" resolving to the GPU (the documentation build is skipped: no mkdocs there)
step unit 240 "$python" -m pytest -q -p no:cacheprovider -o addopts="" tests/unit --ignore=tests/unit/test_docs.py
[ "${1:-all}" = unit ] && exit 0

step motion 100 "$python" bench/motion.py --device cuda --frames 2000 --rendered 400 --sizes 256 512 608 --skip-rss
for mode in 1p 2p; do
    step "extraction_$mode" 75 "$python" bench/extraction.py --device cuda --mode "$mode"
    step "chain_$mode" 90 "$python" bench/chain.py --device cuda --mode "$mode" --workdir "$(mktemp -d)"
done
