"""The pure layers never import datajoint: import them with datajoint blocked."""

import subprocess
import sys

import pytest

PURE_MODULES = [
    "element_calcium.compute",
    "element_calcium.compute.params",
    "element_calcium.readers",
    "element_calcium.readers.miniscope",
    "element_calcium.readers.tiff",
    "element_calcium.readers.behavior",
    "element_calcium.loaders",
    "element_calcium.loaders.caiman",
    "element_calcium.loaders.suite2p",
    "element_calcium.loaders.minian",
    "element_calcium.storage",
    "element_calcium.compute.motion",
    "element_calcium.compute._backend",
    "element_calcium.motion_stage",
    "element_calcium.extraction_stage",
    "element_calcium.extraction_file",
    "element_calcium.compute.quality",
    "element_calcium.compute.cnmf",
    "element_calcium.compute.deconvolution",
    "element_calcium.compute.dff",
    "element_calcium.compute.events",
    "element_calcium._simulate_traces",
    "element_calcium.compute.clustering",
    "element_calcium.compute.curation",
    "element_calcium.curation_stage",
    "element_calcium.spatial_events_stage",
    "element_calcium.plotting",
    "element_calcium.simulate",
    "element_calcium.paths",
    "element_calcium.paramsets",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_imports_without_datajoint(module):
    code = f"import sys; sys.modules['datajoint'] = None; import {module}; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocking_really_blocks():
    code = "import sys; sys.modules['datajoint'] = None; import element_calcium.imaging"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "datajoint" in result.stderr
