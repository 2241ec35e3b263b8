"""Results out of the pipeline in other formats: `export_nwb` writes a recording, its motion correction, cells,
traces, transients and behaviour events as one NWB file (pynwb, the ``nwb`` extra)."""

from element_calcium.export.nwb import export_nwb

__all__ = ["export_nwb"]
