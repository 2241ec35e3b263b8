"""Source extraction: CNMF-E (one-photon) and CNMF (two-photon), patch by patch.

Model of the motion-corrected movie Y (pixels x frames): ``Y = A C + B + noise`` with non-negative,
locally supported footprints A, calcium traces C that follow an autoregressive model of spikes S, and a
background B.

Method, per square patch (`ExtractionParams.patch_size`, overlapping by ``patch_overlap``):

1. Initialisation (both modalities, CNMF-E style): each frame is filtered with a Gaussian of sigma gSig minus
   its mean over a disc of diameter gSiz, the per-pixel median removed; the local correlation image and the
   peak-to-noise (PNR) image of that movie are computed (a pixel's noise from its values below the median, at
   most 3 times the patch's median noise: a cell active most of the time lifts its own median). Seeds are
   taken greedily in decreasing order of correlation x PNR among pixels above ``min_corr`` and ``min_pnr``;
   a seed's trace is the mean filtered trace of the pixels correlating > 0.9 with it, its footprint the
   regression of the raw pixels of its gSiz box on that trace, a local background trace and a constant.
   Each component is subtracted and the images are recomputed around it before the next seed. Movies longer
   than 3,000 frames are initialised on block means of consecutive frames.
2. Background: ``"ring"`` - a constant b0 per pixel plus the CNMF-E ring model, each pixel's fluctuation
   regressed on 32 points of a ring of radius ``ring_size_factor * gSiz / 2`` around it, fitted on a grid
   downsampled 2 x 2 on the residual ``Y - A C`` (`_background`); ``"low_rank"`` - ``nb`` non-negative
   components ``b f`` fitted by HALS on the residual.
3. ``n_iterations`` rounds of: background refit; spatial HALS of each footprint (within its support dilated
   by gSig pixels and a box of 2 gSiz + 1 around its peak, small values and detached pieces removed, unit
   norm); removal of components with fewer than ``min_pixels`` pixels or no activity; temporal HALS on
   ``A^T (Y - B)`` in groups of non-overlapping components, each raw trace deconvolved
   (`deconvolution.deconvolve_traces`) into the denoised calcium C and spikes S; merging of components whose
   footprints overlap and whose traces correlate above ``merge_thr`` (rank-1 NMF of their summed raw data).
   A final temporal update follows.

Patches keep the components whose footprint's centre of mass lies in the patch's core (the cores tile the
field of view, meeting in the middle of each overlap); components of different patches whose footprints
overlap (cosine > 0.5) and whose traces correlate above ``merge_thr`` are duplicates: the one of higher SNR is
kept. Patches are fitted by ``workers`` threads at a time (the result does not depend on their number); each
holds its patch's movie in the file's dtype (8- and 16-bit integers as they are, anything else as float32), its
coarse ring background (T x P / 4 float32) and a chunk of float32 working copies.
"""

from __future__ import annotations

from element_calcium.compute.cnmf._diagnostics import GaussianMixture1D, SeedCandidates, fit_mixture
from element_calcium.compute.cnmf._diagnostics import preprocessing_steps, seed_candidates
from element_calcium.compute.cnmf._extract import ExtractionResult, extract_sources, resolve_sizes

__all__ = ["ExtractionResult", "GaussianMixture1D", "SeedCandidates", "extract_sources", "fit_mixture",
           "preprocessing_steps", "resolve_sizes", "seed_candidates"]
