"""Other tools' results (CaImAn, suite2p, minian; NWB files with pynwb, `nwb`) read without importing those tools,
returned as the public types of `types` (`LoadedMotion`, `LoadedExtraction`)."""
