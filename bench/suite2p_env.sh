#!/usr/bin/env bash
# Create a separate virtual environment with a CPU-run torch and suite2p, for bench/versus_suite2p.py. It is
# never the project's own environment: the project does not depend on torch.
#
#   bash bench/suite2p_env.sh [VENV_DIR]
#
# VENV_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/element-calcium-bench/suite2p-venv. The last line
# printed is the path of the environment's python (bench/versus_suite2p.py looks there by default).
#
# Why the installs are done one by one:
# - suite2p 1.1 requires cellpose>=4.0.1, and imports it even for its default (non-cellpose) detection;
#   cellpose imports torchvision at import time. So torch must come with a torchvision built for it.
# - An unpinned "torch" (asked for directly or by suite2p/cellpose) may resolve to the newest CUDA build of
#   several GB. torch and torchvision are therefore pinned exactly and installed FIRST, then suite2p and
#   cellpose with --no-deps, then their remaining (torch-free) dependencies by hand. cellpose's
#   segment_anything (only for its SAM model, unused here) is left out.
# - The pair is torch 2.14.1 + torchvision 0.29.1 by default. torch 2.13.0 also has a CPU-only wheel, but the
#   torchvision release for it (0.28.0) fails to import beside that wheel ("operator torchvision::nms does not
#   exist"), so suite2p cannot be imported with it. Override with TORCH_SPEC / TORCHVISION_SPEC, e.g. with a
#   matching CPU-only pair. With no GPU present torch runs on the CPU either way; the benchmark also sets
#   suite2p's torch_device to "cpu".
set -euo pipefail

VENV="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/element-calcium-bench/suite2p-venv}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1}"
TORCHVISION_SPEC="${TORCHVISION_SPEC:-torchvision==0.29.1}"
SUITE2P_SPEC="${SUITE2P_SPEC:-suite2p==1.1.0}"
CELLPOSE_SPEC="${CELLPOSE_SPEC:-cellpose>=4.0.1}"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# 1. torch and torchvision, exact pins, first.
"$VPY" -m pip install "$TORCH_SPEC" "$TORCHVISION_SPEC"
# 2. suite2p and cellpose without their dependencies (which would ask for another torch).
"$VPY" -m pip install --no-deps "$SUITE2P_SPEC" "$CELLPOSE_SPEC"
# 3. Their other dependencies: suite2p's, then cellpose's (less torch, torchvision and segment_anything).
"$VPY" -m pip install importlib-metadata natsort tifffile "numpy>=1.24.3" "numba>=0.57.0" matplotlib "scipy>=1.9.0" \
    scikit-learn "scanimage-tiff-reader>=1.4.1" tqdm \
    opencv-python-headless fastremap imagecodecs roifile fill-voids

# 4. Check: suite2p imports, and torch is still the pinned one.
"$VPY" - "$TORCH_SPEC" <<'PYEOF'
import importlib.metadata
import sys

import torch
from suite2p import run_s2p  # noqa: F401

want = sys.argv[1].split("==")[-1]
print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}), "
      f"suite2p {importlib.metadata.version('suite2p')}, cellpose {importlib.metadata.version('cellpose')}")
if "==" in sys.argv[1] and not torch.__version__.startswith(want):
    sys.exit(f"torch is {torch.__version__}, not {want}: something pulled another torch")
PYEOF
echo "$VPY"
