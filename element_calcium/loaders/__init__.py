"""Other tools' results (CaImAn, suite2p, minian; NWB files with pynwb, `nwb`; CalTrig's session folders, `caltrig`)
read without importing those tools, returned as the public types of `types` (`LoadedMotion`, `LoadedExtraction`)
and, for CalTrig's own decisions about the cells, `caltrig.CalTrigCuration`."""

from element_calcium.loaders.caltrig import (
    CalTrigCuration,
    load_caltrig_curation,
    load_caltrig_extraction,
    load_caltrig_motion,
)

__all__ = ["CalTrigCuration", "load_caltrig_curation", "load_caltrig_extraction", "load_caltrig_motion"]
