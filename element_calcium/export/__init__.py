"""Results out of the pipeline in other formats: `export_nwb` writes a recording, its motion correction, cells,
traces, transients and behaviour events as one NWB file (pynwb, the ``nwb`` extra); `export_minian` writes a
curation's cells and traces as a minian output folder of zarr stores (the ``minian`` extra), which minian's
loaders and CalTrig open (`write_minian` and `write_minian_variable` write such folders from arrays)."""

from element_calcium.export.minian import MinianContent, export_minian, write_minian, write_minian_variable
from element_calcium.export.nwb import export_nwb

__all__ = ["MinianContent", "export_minian", "export_nwb", "write_minian", "write_minian_variable"]
