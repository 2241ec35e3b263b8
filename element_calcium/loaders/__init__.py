"""Other tools' results (CaImAn, suite2p, minian) read without importing those tools, returned as the public
types of `types` (`LoadedMotion`, `LoadedExtraction`)."""
