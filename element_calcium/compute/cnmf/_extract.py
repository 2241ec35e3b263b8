"""`extract_sources`: the patches of a movie fitted one by one (`_fit`) and their components assembled, duplicates
across patches removed (module docstring of `element_calcium.compute.cnmf`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from element_calcium.compute import _backend, parallel
from element_calcium.compute.cnmf import _fit, _patches, _updates
from element_calcium.compute.frames import ReadRegion, checked_region
from element_calcium.compute.params import MODALITIES, DeconvolutionParams, ExtractionParams

_READ_FRAMES = 1000  # frames read from the source at a time


@dataclass(frozen=True)
class ExtractionResult:
    """Components found in a movie of T frames of H x W pixels; N components.

    Attributes:
        height, width: H, W pixels.
        footprints: (H * W, N) float32 CSC sparse; pixel row index ``y * W + x``; each column non-negative with
            unit L2 norm and local support.
        calcium: (N, T) float32 denoised calcium C (deconvolution's c, baseline removed, >= 0), in units of the
            movie's grey levels times the footprint's norm (1).
        spikes: (N, T) float32 deconvolved spikes S, same units per frame.
        residual: (N, T) float32 YrA: the raw trace ``a_n^T (Y - B - sum_{m != n} a_m c_m)`` is
            ``calcium + residual`` (the residual holds the baseline and the noise).
        background: (N, T) float32 background under each footprint, ``a_n^T B_t``.
        baselines: (N,) float32 baseline of each raw trace (from deconvolution).
        g: (N, p) float32 autoregressive coefficients.
        noise: (N,) float32 noise standard deviation of each raw trace.
        spatial_corr: (N,) float32 correlation, within the footprint's support (values above 0.1 of its
            maximum), of the footprint with the mean background-subtracted frame over the component's most
            active frames (the max(5, T / 50) frames where C is largest).
        snr: (N,) float32 ``max_t(calcium + residual - baseline) / noise``: the peak of the raw trace above its
            baseline in noise standard deviations (0 where the noise is 0).
        correlation_image: (H, W) float32 local correlation of the seed-filtered movie.
        pnr_image: (H, W) float32 peak-to-noise ratio of the seed-filtered movie.
        background_constant: (H, W) float32 constant background b0 per pixel (grey levels).
        background_spatial: (H * W, K) float32 CSC sparse low-rank background components b (two-photon,
            ``background="low_rank"``: nb per patch, each limited to its patch's core; K = 0 for the ring model).
        background_temporal: (K, T) float32 low-rank background traces f.
        device: "cpu" or "cuda", where the products with the movie ran.
    """

    height: int
    width: int
    footprints: sparse.csc_array
    calcium: np.ndarray
    spikes: np.ndarray
    residual: np.ndarray
    background: np.ndarray
    baselines: np.ndarray
    g: np.ndarray
    noise: np.ndarray
    spatial_corr: np.ndarray
    snr: np.ndarray
    correlation_image: np.ndarray
    pnr_image: np.ndarray
    background_constant: np.ndarray
    background_spatial: sparse.csc_array
    background_temporal: np.ndarray
    device: str


def resolve_sizes(params: ExtractionParams, cell_diameter: float) -> tuple[float, int]:
    """(gSig, gSiz) in pixels: the parameters' values, or diameter / 4 and 2 * diameter + 1 (odd)."""
    if not cell_diameter > 0:
        raise ValueError(f"cell_diameter must be > 0 pixels, got {cell_diameter}")
    gSig = float(params.gSig) if params.gSig is not None else float(cell_diameter) / 4.0
    gSiz = int(params.gSiz) if params.gSiz is not None else 2 * int(round(cell_diameter)) + 1
    return gSig, gSiz


def _check(shape, modality, params, deconvolution, cell_diameter) -> tuple[int, int, int]:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if not isinstance(params, ExtractionParams):
        raise ValueError(f"params must be an ExtractionParams, got {type(params).__name__}")
    if not isinstance(deconvolution, DeconvolutionParams):
        raise ValueError(f"deconvolution must be a DeconvolutionParams, got {type(deconvolution).__name__}")
    if not (isinstance(shape, (tuple, list)) and len(shape) == 3 and all(int(v) == v and v > 0 for v in shape)):
        raise ValueError(f"shape must be three positive integers (T, H, W), got {shape!r}")
    if params.init == "sparse_nmf" and modality != "2p":
        raise ValueError("params.init 'sparse_nmf' is for two-photon data; one-photon uses 'greedy'")
    n_frames, height, width = (int(v) for v in shape)
    _, gSiz = resolve_sizes(params, cell_diameter)
    if gSiz > min(height, width):
        raise ValueError(f"gSiz ({gSiz} px) is larger than the field of view {height} x {width}; lower gSiz or "
                         "cell_diameter")
    if max(height, width) > params.patch_size and params.patch_size < gSiz:
        raise ValueError(f"params.patch_size ({params.patch_size} px) must be at least gSiz ({gSiz} px)")
    return n_frames, height, width


def _read_block(read_region: ReadRegion, start: int, stop: int, region) -> np.ndarray:
    """(stop - start, h, w) frames of ``region`` (y0, y1, x0, x1), checked finite: integers of up to 16 bits as
    they come (float32 holds them exactly; `_fit.PatchFrames` converts chunks as they are used), anything else
    as float32."""
    block = checked_region(read_region, start, stop, region)
    if block.dtype.kind in "ui" and block.dtype.itemsize <= 2:
        return block
    block = block.astype(np.float32, copy=False)
    if not np.isfinite(block).all():
        y0, y1, x0, x1 = region
        bad = np.flatnonzero(~np.isfinite(block).all(axis=(1, 2))) + start
        raise ValueError(f"the movie has NaN or infinite values in frames {bad[:5].tolist()}"
                         f"{' ...' if len(bad) > 5 else ''} of region y {y0}:{y1}, x {x0}:{x1}")
    return block


def _read_patch(read_region: ReadRegion, n_frames, region) -> np.ndarray:
    """(T, h, w) movie of ``region`` (y0, y1, x0, x1), read in blocks of frames (`_read_block`): an 8-bit movie
    takes a quarter of the memory of its float32 copy."""
    movie = None
    for start in range(0, n_frames, _READ_FRAMES):
        block = _read_block(read_region, start, min(start + _READ_FRAMES, n_frames), region)
        if movie is None:
            movie = np.empty((n_frames, *block.shape[1:]), dtype=block.dtype)
        movie[start : start + len(block)] = block
    return movie


def _patch_frames(read_region: ReadRegion, n_frames: int, region, reading: threading.Lock) -> _fit.PatchFrames:
    """The frames of ``region``: read once and held when `_updates.held`, else read from ``read_region`` chunk by
    chunk each time they are used. ``reading`` lets one thread read at a time."""
    y0, y1, x0, x1 = region
    if _updates.held(n_frames, (y1 - y0) * (x1 - x0)):
        with reading:
            return _fit.PatchFrames(_read_patch(read_region, n_frames, region))

    def read(start: int, stop: int) -> np.ndarray:
        with reading:
            return _read_block(read_region, start, stop, region)

    return _fit.PatchFrames.streamed(read, (n_frames, y1 - y0, x1 - x0))


def extract_sources(
    read_region: ReadRegion,
    shape: tuple[int, int, int],
    *,
    modality: str,
    params: ExtractionParams,
    deconvolution: DeconvolutionParams,
    cell_diameter: float,
    border_pix: int = 0,
    device: str = "auto",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ExtractionResult:
    """Find the cells of a motion-corrected movie: footprints, denoised calcium, spikes and background.

    Args:
        read_region: ``read_region(start, stop, y0, y1, x0, x1)`` returns the frames ``start <= t < stop`` of the
            region ``y0 <= y < y1``, ``x0 <= x < x1`` as a (stop - start, y1 - y0, x1 - x0) array of any real
            dtype; its exceptions propagate.
        shape: (T, H, W) of the movie.
        modality: "1p" or "2p" (checks ``params.init``; the background model is ``params.background``).
        params: extraction parameters.
        deconvolution: deconvolution parameters for the traces.
        cell_diameter: (pixels) expected soma diameter; gSig and gSiz derive from it when None.
        border_pix: (pixels) width of the band along the edges of the field of view where no component is
            seeded: motion correction shifts pixels in from outside the frame there (the largest shift).
        device: "auto", "cpu" or "cuda": where the products with the movie run.
        workers: patches fitted at the same time (threads; `compute.parallel`), each reading its patch and
            holding its movie (a patch's movie larger than `_updates.HELD_BYTES` as float32 is read again chunk by
            chunk whenever it is used instead); 1 fits them one after the other. The result does not depend on
            it. ``read_region`` is called by one thread at a time.
        progress: called as ``progress(done_patches, n_patches)`` after each patch.

    Returns:
        The components (N may be 0: all arrays then have their shapes with N = 0).

    Raises:
        ValueError: inconsistent shape or parameters (gSiz larger than the field of view, ...), or NaN /
            infinite values in the movie (naming the frames and region).
    """
    n_frames, height, width = _check(shape, modality, params, deconvolution, cell_diameter)
    if not (isinstance(border_pix, (int, np.integer)) and 0 <= border_pix < min(height, width) // 2):
        raise ValueError(f"border_pix must be an integer in [0, {min(height, width) // 2}), got {border_pix!r}")
    allowed = np.zeros((height, width), dtype=bool)
    allowed[border_pix : height - border_pix, border_pix : width - border_pix] = True
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    gSig, gSiz = resolve_sizes(params, cell_diameter)
    settings = _fit.Settings(
        gSig=gSig, gSiz=gSiz, min_corr=params.min_corr, min_pnr=params.min_pnr, background=params.background,
        ring_radius=params.ring_size_factor * gSiz / 2, nb=params.nb, max_components=params.max_components,
        merge_thr=params.merge_thr, n_iterations=params.n_iterations, min_pixels=params.min_pixels,
        init=params.init,
    )
    patches = _patches.grid((height, width), params.patch_size, params.patch_overlap)
    workers = parallel.check_workers(workers) if device == "cpu" else 1
    parts = []
    images = {name: np.zeros((height, width), np.float32)
              for name in ("correlation_image", "pnr_image", "background_constant")}
    low_rank_b, low_rank_f = [], []
    reading = threading.Lock()

    def fit(patch):
        y0, y1, x0, x1 = region = patch[0]
        frames = _patch_frames(read_region, n_frames, region, reading)
        return _fit.fit_patch(frames, settings, deconvolution, xp=xp, allowed=allowed[y0:y1, x0:x1])

    with parallel.worker_threads(), contextlib.closing(
            parallel.ordered_map(fit, patches, workers=workers, ahead=0)) as fitted:
        for done, ((region, core), result) in enumerate(zip(patches, fitted), start=1):
            _place(result, region, core, images, low_rank_b, low_rank_f, width)
            parts.append((done - 1, region, result, _in_core(result, region, core)))
            if progress is not None:
                progress(done, len(patches))
    return _assemble(parts, images, low_rank_b, low_rank_f, (n_frames, height, width), deconvolution, params,
                     device)


def _place(result, region, core, images, low_rank_b, low_rank_f, width: int) -> None:
    """Copy the core of a patch's images into the full ``images``; collect its low-rank background (core only)."""
    y0, y1, x0, x1 = region
    cy0, cy1, cx0, cx1 = core
    for name in images:
        images[name][cy0:cy1, cx0:cx1] = getattr(result, name)[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    local = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    local[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = True
    for k in range(result.low_rank_b.shape[1]):
        low_rank_b.append(_to_global(np.where(local.ravel(), result.low_rank_b[:, k], 0.0)[:, None], region, width))
        low_rank_f.append(result.low_rank_f[k])


def _in_core(result, region, core) -> np.ndarray:
    """(N,) bool: the patch's components whose centre of mass lies in its core."""
    y0, _, x0, _ = region
    cy0, cy1, cx0, cx1 = core
    centre = _patches.centres(result.footprints, result.shape) + (y0, x0)
    return (centre[:, 0] >= cy0 - 0.5) & (centre[:, 0] < cy1 - 0.5) & (centre[:, 1] >= cx0 - 0.5) & (
        centre[:, 1] < cx1 - 0.5)


def _to_global(columns: np.ndarray, region, width: int) -> sparse.csc_array:
    """(H * W, k) CSC of dense patch columns (h * w, k) placed at ``region``; H inferred from the caller."""
    y0, y1, x0, x1 = region
    rows, cols = np.nonzero(columns)
    yy, xx = np.divmod(rows, x1 - x0)
    return (((yy + y0) * width + xx + x0), cols, columns[rows, cols].astype(np.float32), columns.shape[1])


def _assemble(parts, images, low_rank_b, low_rank_f, shape, deconvolution, params, device) -> ExtractionResult:
    n_frames, height, width = shape
    n_pixels = height * width
    rows, cols, values, fields, patch_ids = [], [], [], {}, []
    names = ("calcium", "spikes", "residual", "background", "baselines", "g", "noise", "spatial_corr")
    offset = 0
    for patch_id, region, result, inside in parts:
        r, c, v, k = _to_global(result.footprints[:, inside], region, width)
        rows.append(r)
        cols.append(c + offset)
        values.append(v)
        offset += k
        patch_ids.append(np.full(k, patch_id))
        for name in names:
            fields.setdefault(name, []).append(getattr(result, name)[inside])
    footprints = _csc(rows, cols, values, (n_pixels, offset))
    p = deconvolution.p
    out = {name: np.concatenate(fields[name]).astype(np.float32) if offset else None for name in names}
    if offset == 0:
        traces = np.zeros((0, n_frames), np.float32)
        out = {"calcium": traces, "spikes": traces.copy(), "residual": traces.copy(), "background": traces.copy(),
               "baselines": np.zeros(0, np.float32), "g": np.zeros((0, p), np.float32),
               "noise": np.zeros(0, np.float32), "spatial_corr": np.zeros(0, np.float32)}
    out["g"] = out["g"].reshape(offset, p)
    raw = out["calcium"] + out["residual"] - out["baselines"][:, None]
    peak = raw.max(axis=1) if offset else np.zeros(0, np.float32)
    snr = np.where(out["noise"] > 0, peak / np.where(out["noise"] > 0, out["noise"], 1.0), 0.0).astype(np.float32)
    if offset:
        drop = _patches.duplicates(footprints, out["calcium"], np.concatenate(patch_ids), snr,
                                        threshold=params.merge_thr)
        kept = np.flatnonzero(~drop)
        footprints = sparse.csc_array(footprints[:, kept])
        out = {name: value[kept] for name, value in out.items()}
        snr = snr[kept]
    b_rows = [entry[0] for entry in low_rank_b]
    b_cols = [entry[1] + i for i, entry in enumerate(low_rank_b)]
    b_values = [entry[2] for entry in low_rank_b]
    background_spatial = _csc(b_rows, b_cols, b_values, (n_pixels, len(low_rank_b)))
    background_temporal = (np.stack(low_rank_f).astype(np.float32) if low_rank_f
                           else np.zeros((0, n_frames), np.float32))
    return ExtractionResult(
        height=height, width=width, footprints=footprints, snr=snr, background_spatial=background_spatial,
        background_temporal=background_temporal, device=device, **out, **images,
    )


def _csc(rows, cols, values, shape) -> sparse.csc_array:
    if not rows:
        return sparse.csc_array(shape, dtype=np.float32)
    entries = (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols)))
    return sparse.csc_array(entries, shape=shape, dtype=np.float32)
