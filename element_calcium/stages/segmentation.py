"""The stage of Segmentation: cells (sources) from the motion-corrected movie or from another tool's results.

``run`` extracts sources from the motion-corrected movie (trigger mode, the built-in method:
CNMF-E for one-photon, CNMF for two-photon); ``load`` reads another tool's results (load mode, with
the method's loader from the registry, `element_calcium.stages.METHODS`). Either way the footprints
and traces go to one results file (`extraction_file`) under the task's output folder, and the
stage returns the rows of Segmentation and its ``Mask`` part. No database code here.

The results file records the key it belongs to (``SegmentationInputs.owner``) and the corrected
movie read must be the task's own (``movie_owner``). The stage refuses a folder holding another
key's results file, deletes the stale temporaries of its own file first, and never replaces an
existing results file (a second computation of the key writes a fresh name).

Load mode refuses results whose frame size or frame count differ from the recording's. CNMF-type
results (CaImAn, minian) keep traces without a baseline (``C``) and often no residual: their
background and noise come from the recording's raw movie, moved by the task's motion correction
into the tool's coordinates and read under each footprint (see `load_segmentation`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from element_calcium import extraction_file, paths, readers, results_file, storage
from element_calcium.compute import cnmf, deconvolution, dff, motion, quality, resolve_device
from element_calcium.compute.params import ProcessingParams
from element_calcium.loaders.types import LoadedExtraction
from element_calcium.stages.rows import Rows, RunSettings

RESULTS_FILE = "segmentation.h5"
NEUROPIL_COEFFICIENT = 0.7  # share of the neuropil trace removed from a loaded cell's fluorescence (suite2p's default)


@dataclass(frozen=True)
class SegmentationInputs:
    """What the stage needs, all small: paths, names and parameters.

    Attributes:
        task_mode: ``"trigger"`` (compute) or ``"load"`` (read another tool's results).
        method: processing method of the parameter set.
        params: complete parameter dictionary.
        corrected_movie: absolute path of the motion-corrected movie (trigger mode), else None.
        fps: frame rate of the recording (Hz).
        frame_shape: (H, W) of the recording (pixels).
        n_frames: T, frames of the recording.
        motion_border: (pixels) largest shift of the motion correction, rounded up: the band along
            the edges where pixels came from outside the frame.
        output_dir: absolute task output folder (trigger: written; load: read, and the results
            file is written there).
        output_dir_relative: the same, relative to the processed root.
        recording_folder: absolute folder of the raw recording (load mode), or None; with it,
            loaded traces without a baseline get their background and noise from the movie.
        software: acquisition software of the recording (`readers.SOFTWARE`), or None.
        frame_rate: user frame rate (Hz) of plain TIFF recordings, else None.
        channel: the recording's channel whose cells are found (the parameter set's functional channel).
        plane: the recording's imaging plane of the task.
        motion_shifts: (T, 2) float32 rigid tissue motion (dy, dx) in pixels of the task's motion
            correction, undone on the raw movie before it is read under the footprints; None
            reads the movie as it is.
        owner: `results_file.owner_text` of the Segmentation key, recorded in the results file; None: none.
        movie_owner: `results_file.owner_text` of the MotionCorrection key the corrected movie must record;
            None checks nothing.
    """

    task_mode: str
    method: str
    params: dict[str, Any]
    corrected_movie: Path | None
    fps: float
    frame_shape: tuple[int, int]
    n_frames: int
    motion_border: int
    output_dir: Path
    output_dir_relative: str
    recording_folder: Path | None = None
    software: str | None = None
    frame_rate: float | None = None
    channel: int = 0
    plane: int = 0
    motion_shifts: np.ndarray | None = None
    owner: str | None = None
    movie_owner: str | None = None


def _mask_rows(
    footprints, height: int, width: int, mask_ids: np.ndarray, extra: dict[str, np.ndarray | None],
    ar_coefficients: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One Segmentation.Mask row per footprint column; ``extra``: per-mask values or None; ``ar_coefficients``:
    (N, p) AR coefficients of the extraction's deconvolution, or None (not fitted, or loaded results)."""
    geometry = quality.footprint_geometry(footprints, height=height, width=width)
    rows = []
    for n, mask_id in enumerate(mask_ids):
        start, stop = footprints.indptr[n], footprints.indptr[n + 1]
        pixels, weights = footprints.indices[start:stop], footprints.data[start:stop]
        ys, xs = np.divmod(pixels.astype(np.int64), width)
        max_y, max_x = max_pixel(pixels, weights, width=width)
        row = {
            "mask_id": int(mask_id),
            "segmentation_channel": 0,
            "mask_npix": int(geometry.npix[n]),
            "mask_center_x": float(geometry.center_x[n]),
            "mask_center_y": float(geometry.center_y[n]),
            "mask_xpix": xs.astype(np.int32),
            "mask_ypix": ys.astype(np.int32),
            "mask_weights": weights.astype(np.float32),
            "mask_max_y": max_y,
            "mask_max_x": max_x,
        }
        row.update({name: None if values is None else values[n].item() for name, values in extra.items()})
        fitted = None if ar_coefficients is None else np.asarray(ar_coefficients[n], np.float32)
        row["ar_coefficients"] = fitted if fitted is not None and fitted.any() else None
        rows.append(row)
    return rows


def max_pixel(pixels: np.ndarray, weights: np.ndarray, *, width: int) -> tuple[int | None, int | None]:
    """(row, column) of the largest weight of one footprint, as CalTrig's ``centroid_max`` (its "height" and
    "width"): ``np.unravel_index(np.argmax(image), (H, W))`` of the dense (H, W) image, so among equal weights
    the first in row-major order. ``pixels``: (npix,) flat indices row * width + column; ``weights``: (npix,).
    (None, None) for an empty footprint."""
    if not len(pixels):
        return None, None
    pixels = np.asarray(pixels, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float32)
    first = int(pixels[weights == weights.max()].min())
    return first // width, first % width


def border_pix(requested: int | None, motion_border: int, frame_shape: tuple[int, int]) -> int:
    """The seed-free border: the parameter set's, else the motion correction's (kept below half the frame)."""
    border = motion_border if requested is None else requested
    return int(min(border, min(frame_shape) // 2 - 1))


def _prepare_folder(inputs: SegmentationInputs) -> None:
    """Delete the stale temporaries of the results file; refuse a folder holding another key's results."""
    paths.remove_stale_temporaries(inputs.output_dir, names=[RESULTS_FILE])
    results_file.refuse_foreign_results(inputs.output_dir / RESULTS_FILE, inputs.owner)


def _write_results(inputs: SegmentationInputs, sources: extraction_file.ExtractedSources) -> str:
    """Write the results file into the task's folder (a fresh name if one exists); its path relative to the
    processed root."""
    written = extraction_file.write_sources(inputs.output_dir / RESULTS_FILE, sources, owner=inputs.owner)
    return f"{inputs.output_dir_relative}/{written.name}"


def run(inputs: SegmentationInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Extract sources from the corrected movie and write the results file (trigger mode).

    ``settings.progress(done_patches, n_patches)`` is called after each patch fitted.
    """
    if inputs.corrected_movie is None:
        raise ValueError("the motion correction of this task kept no corrected movie to extract sources from")
    device, progress = settings.device, settings.progress
    params = ProcessingParams.from_dict(inputs.params)
    _prepare_folder(inputs)
    started = time.perf_counter()
    with storage.MovieRegions(inputs.corrected_movie, owner=inputs.movie_owner) as regions:
        result = cnmf.extract_sources(
            regions.read,
            regions.shape,
            modality=params.modality,
            params=params.extraction,
            deconvolution=params.deconvolution,
            cell_diameter=params.cell_diameter,
            border_pix=border_pix(params.extraction.border_pix, inputs.motion_border, inputs.frame_shape),
            device=device,
            workers=settings.workers,
            progress=progress,
        )
    mask_ids = np.arange(result.footprints.shape[1], dtype=np.int64)
    sources = extraction_file.ExtractedSources(
        height=result.height,
        width=result.width,
        footprints=result.footprints,
        mask_ids=mask_ids,
        fluorescence=result.calcium + result.residual,
        background=result.background,
        denoised=result.calcium,
        spikes=result.spikes,
        dff=None,
        fps=inputs.fps,
    )
    relative = _write_results(inputs, sources)
    extra = {"snr": result.snr, "spatial_corr": result.spatial_corr, "accepted": None, "accepted_confidence": None}
    return Rows(
        master={
            "results_file": relative,
            "mask_count": len(mask_ids),
            "device": resolve_device(device),
            "wall_time": time.perf_counter() - started,
            "correlation_image": result.correlation_image.astype(np.float32),
            "pnr_image": result.pnr_image.astype(np.float32),
        },
        parts={"Mask": _mask_rows(sources.footprints, result.height, result.width, mask_ids, extra, result.g)},
    )


def _check_fits_recording(loaded, inputs: SegmentationInputs) -> None:
    """ValueError naming the results unless their frame size and frame count are the recording's."""
    height, width = inputs.frame_shape
    if (loaded.height, loaded.width) != (height, width):
        raise ValueError(
            f"{loaded.source}: the footprints are {loaded.height}x{loaded.width} pixels but the recording's frames "
            f"are {height}x{width}; load the results of this recording"
        )
    if loaded.nframes != inputs.n_frames:
        raise ValueError(
            f"{loaded.source}: the results have {loaded.nframes} frames but the recording has {inputs.n_frames}; "
            "load the results of this recording"
        )


def _movie_under_footprints(footprints, inputs: SegmentationInputs, *, device: str) -> np.ndarray:
    """(N, T) float32 light of the raw movie, motion-corrected with the task's rigid shifts, under each
    footprint in the units of its trace (`dff.movie_under_footprints`)."""
    recording = readers.read_recording(inputs.recording_folder, software=inputs.software, fps=inputs.frame_rate)
    shifts = None if inputs.motion_shifts is None else np.asarray(inputs.motion_shifts, dtype=np.float32)
    if shifts is not None and shifts.shape != (inputs.n_frames, 2):
        raise ValueError(
            f"{inputs.recording_folder}: the motion correction has shifts of shape {shifts.shape}, "
            f"expected ({inputs.n_frames}, 2): one (dy, dx) per frame of the recording"
        )
    with recording.movie(channel=inputs.channel, plane=inputs.plane) as movie:
        if movie.shape != (inputs.n_frames, *inputs.frame_shape):
            raise ValueError(
                f"{inputs.recording_folder}: the movie is {movie.shape} (T, H, W) but the recording's "
                f"metadata say ({inputs.n_frames}, {inputs.frame_shape[0]}, {inputs.frame_shape[1]})"
            )

        def corrected(start: int, stop: int) -> np.ndarray:
            frames = movie.read(start, stop)
            return frames if shifts is None else motion.apply_shifts(frames, shifts=shifts[start:stop], device=device)

        return dff.movie_under_footprints(corrected, inputs.n_frames, footprints=footprints)


def _cnmf_background(loaded, inputs: SegmentationInputs, *, device: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(N, T) background under each footprint of traces without a baseline (CNMF's ``C``), and (N,) noise.

    With the raw recording: the movie under each footprint (`_movie_under_footprints`) minus the
    component's own trace (C + YrA, or C): the light of the background and of the neighbours,
    and the noise when no residual was saved. The noise is the PSD estimate (the parameter set's
    ``noise_range``) of the movie under the footprint minus C. Without the recording: the tool's
    background model b f projected on the footprints (as CaImAn's ``detrend_df_f``; ~0 for
    minian, which removes the background before CNMF) and no noise; (None, None) when the tool
    saved no model either.
    """
    if inputs.recording_folder is not None and loaded.nmasks:
        under = _movie_under_footprints(loaded.footprints, inputs, device=device)
        noise = None
        if loaded.nframes >= 4:
            noise_range = ProcessingParams.from_dict(inputs.params).deconvolution.noise_range
            noise = deconvolution.estimate_noise(under - loaded.denoised, noise_range=noise_range)
        return under - loaded.fluorescence, noise
    if loaded.background_footprints is not None:
        projected = dff.project_on_footprints(loaded.footprints, loaded.background_footprints)
        return projected @ loaded.background_traces, None
    return None, None


def _loaded_sources(loaded, inputs: SegmentationInputs, *, device: str):
    """A loader's result in the results-file conventions (background-removed fluorescence), and the (N,)
    noise of each trace measured in the movie (None when not measured).

    suite2p-type results (with a neuropil trace): fluorescence F - 0.7 Fneu, background 0.7 Fneu.
    CNMF-type results (a denoised trace C and no neuropil): fluorescence C + YrA (C alone without
    a residual), background from `_cnmf_background`.
    """
    fluorescence, background, noise = loaded.fluorescence, None, None
    if loaded.neuropil is not None:
        background = NEUROPIL_COEFFICIENT * loaded.neuropil
        fluorescence = fluorescence - background
    elif loaded.denoised is not None:
        background, noise = _cnmf_background(loaded, inputs, device=device)
    sources = extraction_file.ExtractedSources(
        height=loaded.height,
        width=loaded.width,
        footprints=loaded.footprints,
        mask_ids=np.asarray(loaded.mask_ids, dtype=np.int64),
        fluorescence=fluorescence.astype(np.float32),
        background=None if background is None else background.astype(np.float32),
        denoised=loaded.denoised,
        spikes=loaded.spikes,
        dff=loaded.dff,
        fps=loaded.fps or inputs.fps,
    )
    return sources, noise


def _loaded_snr(sources: extraction_file.ExtractedSources, noise: np.ndarray | None) -> np.ndarray | None:
    """(N,) SNR of loaded traces; None when nothing measures their noise (a denoised trace saved as the
    only trace, no movie)."""
    unmeasured = sources.denoised is not None and np.array_equal(sources.fluorescence, sources.denoised)
    if noise is None and unmeasured:
        return None
    return quality.trace_snr(sources.fluorescence, denoised=sources.denoised, noise=noise)


def load(inputs: SegmentationInputs, *, loader: Callable[[Path], LoadedExtraction],
         settings: RunSettings = RunSettings()) -> Rows:
    """Read another tool's extraction results from the task's output folder (load mode).

    The results must fit the recording (frame size and count), else ValueError naming the
    results and both numbers, before anything is written. Traces without a baseline get the
    movie's background and noise (`_cnmf_background`); the SNR of each mask is its denoised
    peak over that noise (None where no noise can be measured).
    """
    _prepare_folder(inputs)
    started = time.perf_counter()
    loaded = loader(inputs.output_dir)
    _check_fits_recording(loaded, inputs)
    sources, noise = _loaded_sources(loaded, inputs, device=settings.device)
    relative = _write_results(inputs, sources)
    accepted = None if loaded.accepted is None else np.asarray(loaded.accepted, dtype=bool)
    extra = {
        "snr": _loaded_snr(sources, noise),
        "spatial_corr": None,
        "accepted": accepted,
        "accepted_confidence": None if loaded.confidence is None else np.asarray(loaded.confidence, np.float32),
    }
    return Rows(
        master={
            "results_file": relative,
            "mask_count": len(sources.mask_ids),
            "device": "none",
            "wall_time": time.perf_counter() - started,
            "correlation_image": None,
            "pnr_image": None,
        },
        parts={"Mask": _mask_rows(sources.footprints, sources.height, sources.width, sources.mask_ids, extra)},
    )


def masks_to_footprints(masks: list[dict[str, Any]], height: int, width: int) -> sparse.csc_array:
    """(H * W, N) float32 footprints from Segmentation.Mask rows (``mask_ypix``, ``mask_xpix``, ``mask_weights``)."""
    pixels = [mask["mask_ypix"].astype(np.int64) * width + mask["mask_xpix"] for mask in masks]
    indptr = np.concatenate([[0], np.cumsum([len(p) for p in pixels])]).astype(np.int64)
    data = np.concatenate([mask["mask_weights"] for mask in masks]) if masks else np.zeros(0)
    indices = np.concatenate(pixels) if masks else np.zeros(0, dtype=np.int64)
    return sparse.csc_array((data.astype(np.float32), indices, indptr), shape=(height * width, len(masks)))
