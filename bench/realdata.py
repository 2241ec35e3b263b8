"""What the pipeline gives on each real item of the real-data folder, through the paths a user takes.

Prints the numbers of `docs/real-data.md` and writes its figures to ``docs/img/real-data/``:

1. 100 real Miniscope V3 frames: one-photon motion correction (`compute.motion.correct_motion`) with the
   built-in parameters, and with the previous filter settings, against minian's own correction.
2. Semi-real movies (`simulate.semireal_movie`): real tissue resized to cells of 12, 20 and 32 px, moved by
   known shifts; one example frame each and the rigid RMSE for one seed (`bench/motion_realdata.py` has
   the full table).
3. minian's real output (pre-1.0 layout, no YrA) through load mode: the motion and segmentation stages
   (`stages.run` of MotionCorrection and Segmentation) on a Miniscope V3
   recording written to a temporary folder, then `classify_masks` and `activity_traces` as the tables
   call them. Frame t of the 800-frame recording is the real frame ``org[(t // 2) % 100]`` (only 100 of
   the movie's frames are public), as in ``tests/pipeline/test_load_realdata.py``.
4. suite2p's real plane folder through `loaders.suite2p`.
5. CaImAn's stored demo-movie results, written as the HDF5 file ``CNMF.save()`` makes, through
   `loaders.caiman`.
6. Real Miniscope V4 ``metaData.json`` files and two-photon TIFF crops through `readers.read_recording`.

    python bench/realdata.py [--realdata ../shared/realdata] [--out docs/img/real-data] [--frames 300] [--seed 0]
        [--items 1 2 3 4 5 6]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
from matplotlib.figure import Figure

from element_calcium import extraction_file, paramsets
from element_calcium.compute.motion import correct_motion
from element_calcium.loaders.caiman import load_caiman_extraction
from element_calcium.loaders.minian import load_minian_motion
from element_calcium.loaders.suite2p import load_suite2p_extraction, load_suite2p_motion
from element_calcium.plotting import plot_footprint_contours, plot_traces
from element_calcium.readers import read_recording
from element_calcium.simulate import semireal_movie, write_miniscope_v3, write_miniscope_v4
from element_calcium.stages import RunSettings, run
from element_calcium.stages.activity import activity_traces
from element_calcium.stages.classification import classify_masks
from element_calcium.stages.motion import MotionInputs
from element_calcium.stages.segmentation import SegmentationInputs, masks_to_footprints

sys.path.insert(0, str(Path(__file__).resolve().parent))
from motion_realdata import default_motion, real_tissue, rmse, semireal_shape  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ORG_FRAMES = "minian_org_frames_100x480x752_uint8.npz"
MINIAN = "minian_pr65_output"
SUITE2P = "suite2p_fissa_plane0"
CAIMAN = "caiman_groundtruth_demoMovie.npz"
CAIMAN_SHAPE = (60, 80)  # rows, columns of CaImAn's demo movie
V4_METADATA = "miniscope_v4_real_metadata"
TIFFS = "fissa_tiny_tiffs"
CELL_SIZES = (12, 20, 32)
RECORDING_FRAMES = 800  # minian's results cover 800 frames
MATCHED = 200  # recording frames 0..199 show the real frames minian's results describe
DPI = 80


def save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=DPI, bbox_inches="tight", pil_kwargs={"optimize": True})
    print(f"  figure {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({path.stat().st_size / 1024:.0f} KB)")


def correct(frames: np.ndarray, params):
    return correct_motion(lambda start, stop: frames[start:stop], len(frames), params=params, device="cpu")


# ---------------------------------------------------------------- 1. real Miniscope frames


def real_frames(realdata: Path, out: Path) -> None:
    stored = np.load(realdata / ORG_FRAMES)
    frames, frame_numbers = stored["org"], stored["frame"]
    minian = -stored["minian_applied_shift_org_to_Y"].astype(np.float64)  # tissue motion, up to a constant
    print(f"1. real Miniscope V3 frames: {frames.shape[0]} frames of {frames.shape[1]}x{frames.shape[2]} px, "
          f"{frames.dtype}, values {frames.min()}-{frames.max()}; frames {frame_numbers[0]}-{frame_numbers[-1]} "
          f"of minian's movie, every {int(np.median(np.diff(frame_numbers)))}")
    results = {}
    for label, before in (("defaults", False), ("previous settings", True)):
        started = time.perf_counter()
        result = correct(frames, default_motion(before=before))
        seconds = time.perf_counter() - started
        results[label] = result
        diameter = "given" if result.cell_diameter is None else f"{result.cell_diameter:.1f} px"
        print(f"  {label}: measured cell diameter {diameter}, high-pass sigma {result.highpass_sigma:.2f} px "
              f"({seconds:.1f} s)")
        for axis, name in enumerate("yx"):
            ours, theirs = result.rigid_shifts[:, axis], minian[:, axis]
            print(f"    {name}: correlation with minian {np.corrcoef(ours, theirs)[0, 1]:.3f}, amplitude ratio "
                  f"(std ours / std minian) {ours.std() / theirs.std():.3f}")
        q = result.quality
        print(f"    quality: median frame-to-mean correlation raw {q.raw_correlation:.3f} -> corrected "
              f"{q.corrected_correlation:.3f}, frames improved {q.improved_fraction:.0%}, motion (95th pct) "
              f"{q.motion:.2f} px; warning: {q.warning() or 'none'}")
    for axis, name in enumerate("yx"):
        print(f"  minian {name}: range {np.ptp(minian[:, axis]):.0f} px, std {minian[:, axis].std():.2f} px")

    figure = Figure(figsize=(9, 4.6))
    axes = figure.subplots(2, 1, sharex=True)
    curves = (("minian", minian, "k", 1.6), ("defaults", results["defaults"].rigid_shifts, "tab:blue", 1.0),
              ("previous settings", results["previous settings"].rigid_shifts, "tab:red", 1.0))
    for axis, (ax, name) in enumerate(zip(axes, ("y", "x"))):
        for label, shifts, color, width in curves:
            values = shifts[:, axis] - np.median(shifts[:, axis])
            ax.plot(frame_numbers, values, color=color, linewidth=width, label=label)
        ax.set_ylabel(f"{name} shift (px)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize="small", ncols=3)
    axes[0].set_title("Tissue motion in 100 real Miniscope frames (each curve minus its median)", fontsize="medium")
    axes[1].set_xlabel("frame of minian's test movie")
    save(figure, out / "motion_real_frames.png")


# ---------------------------------------------------------------- 2. semi-real movies


def semireal(realdata: Path, out: Path, n_frames: int, seed: int) -> None:
    print(f"2. semi-real movies: {n_frames} frames, seed {seed}, rigid, one-photon defaults")
    tissue = real_tissue(realdata)
    figure = Figure(figsize=(11, 3.6))
    axes = figure.subplots(1, len(CELL_SIZES), width_ratios=[semireal_shape(s)[1] for s in CELL_SIZES])
    for ax, size in zip(axes, CELL_SIZES):
        shape = semireal_shape(size)
        movie = semireal_movie(tissue, cell_scale=size / 20.0, n_frames=n_frames, shape=shape, seed=seed)
        started = time.perf_counter()
        result = correct(movie.frames, default_motion())
        seconds = time.perf_counter() - started
        diameter = "given" if result.cell_diameter is None else f"{result.cell_diameter:.1f} px"
        print(f"  cells {size} px: {shape[0]}x{shape[1]} px, true motion up to {np.abs(movie.shifts).max():.1f} px, "
              f"measured cell diameter {diameter}, high-pass sigma {result.highpass_sigma:.2f} px, rigid RMSE "
              f"{rmse(result.rigid_shifts, movie.shifts):.3f} px ({seconds:.1f} s)", flush=True)
        frame = movie.frames[0]
        low, high = np.percentile(frame, (0.5, 99.9))
        ax.imshow(frame, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(f"cells {size} px ({shape[0]}x{shape[1]} px)", fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    save(figure, out / "semireal_frames.png")


# ---------------------------------------------------------------- 3. minian's real output through load mode


def movie_peaks(realdata: Path, footprints, calcium: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's peak dF/F in the real frames (moved as minian moved them) under its footprint, (F - F0) / F0
    with F the footprint-weighted mean and F0 its 8th percentile; and its own modelled transient over the noise
    of F (k C with k = a . a / sum(a)). The measure of ``tests/pipeline/test_load_realdata.py``."""
    real = np.load(realdata / ORG_FRAMES)
    shifts = -load_minian_motion(realdata / MINIAN).rigid_shifts  # what minian applied to each frame
    frames = np.stack([np.roll(frame.astype(np.float32), shifts[index].astype(int), axis=(0, 1))
                       for frame, index in zip(real["org"], real["frame"], strict=True)])
    weight = np.asarray(footprints.sum(axis=0)).ravel()
    light = (footprints.T @ frames.reshape(len(frames), -1).T) / weight[:, None]
    baseline = np.percentile(light, 8, axis=1)
    peak = ((light - baseline[:, None]) / baseline[:, None]).max(axis=1)
    k = np.asarray(footprints.multiply(footprints).sum(axis=0)).ravel() / weight
    own = k * (calcium[:, real["frame"]].max(axis=1) - np.median(calcium, axis=1))
    noise = np.median(np.abs(np.diff(light, axis=1)), axis=1) / (0.6745 * np.sqrt(2))
    return peak, own / noise


def minian_output(realdata: Path, out: Path, work: Path) -> None:
    print("3. minian's real output (pre-1.0 layout, no YrA) through load mode")
    work.mkdir(parents=True)
    org = np.load(realdata / ORG_FRAMES)["org"]
    written = write_miniscope_v3(work / "recording", org[(np.arange(RECORDING_FRAMES) // 2) % len(org)], fps=30.0)
    meta = read_recording(written.path).metadata
    frame_shape = (meta.height, meta.width)
    output = work / "minian"  # links to the real stores; the results file is written beside them
    output.mkdir()
    for store in (realdata / MINIAN).iterdir():
        os.symlink(store, output / store.name)
    params, _ = paramsets.prepare({"processing_method": "minian"}, {"modality": "1p"})
    motion = run("MotionCorrection", MotionInputs(
        task_mode="load", method="minian", params=params, recording_folder=written.path, software=meta.software,
        frame_rate=None, output_dir=output, output_dir_relative="minian", n_frames=meta.nframes,
        frame_shape=frame_shape,
    ))
    (motion_rigid,) = motion.parts["RigidMotionCorrection"]
    rigid = np.stack([motion_rigid["y_shifts"], motion_rigid["x_shifts"]], axis=1).astype(np.float32)
    started = time.perf_counter()
    rows = run("Segmentation", SegmentationInputs(
        task_mode="load", method="minian", params=params, corrected_movie=None, fps=meta.fps,
        frame_shape=frame_shape, n_frames=meta.nframes, motion_border=int(np.ceil(np.abs(rigid).max())),
        output_dir=output, output_dir_relative="minian", recording_folder=written.path, software=meta.software,
        frame_rate=None, channel=0, motion_shifts=rigid,
    ), settings=RunSettings(device="cpu"))
    seconds = time.perf_counter() - started
    masks = rows.parts["Mask"]
    method, calls = classify_masks(masks, params=params, frame_shape=frame_shape)
    types = [call["mask_type"] for call in calls]
    snr = np.array([np.nan if mask["snr"] is None else mask["snr"] for mask in masks], dtype=float)
    sources = extraction_file.read_sources(work / rows.master["results_file"])  # relative to the processed root
    dff = activity_traces("dff", sources, params=params)
    calcium = activity_traces("denoised", sources, params=params)
    footprints = masks_to_footprints(masks, *frame_shape)
    peak, own_snr = movie_peaks(realdata, footprints, calcium)
    active = own_snr > 5
    ratio = dff[:, :MATCHED].max(axis=1)[active] / peak[active]
    print(f"  recording: {meta.software}, {meta.nframes} frames of {meta.height}x{meta.width} px at "
          f"{meta.fps:.2f} fps ({meta.nframes / meta.fps:.1f} s; the first {MATCHED} frames, "
          f"{MATCHED / meta.fps:.1f} s, show the moments the results describe); minian's motion: up to "
          f"{np.abs(rigid).max():.0f} px")
    print(f"  units {rows.master['mask_count']} (segmentation stage {seconds:.1f} s); classification "
          f"'{method}': soma {types.count('soma')}, dendrite {types.count('dendrite')}, artefact "
          f"{types.count('artefact')}")
    print(f"  SNR: median {np.nanmedian(snr):.1f}, 10th-90th percentile {np.nanpercentile(snr, 10):.1f}-"
          f"{np.nanpercentile(snr, 90):.1f}, unknown {int(np.isnan(snr).sum())}")
    print(f"  dF/F: {dff.shape}, finite {bool(np.isfinite(dff).all())}, 99th percentile {np.percentile(dff, 99):.2f}, "
          f"max {dff.max():.2f}")
    print(f"  peak dF/F (first {MATCHED} frames) / the movie's own peak under the footprint, {int(active.sum())} units "
          f"whose own transient stands > 5 noise SD: median {np.median(ratio):.2f}, range {ratio.min():.2f}-"
          f"{ratio.max():.2f}; movie peak dF/F median {np.median(peak[active]):.2f}")

    max_image = load_minian_motion(output).max_image
    figure = Figure(figsize=(11, 4.6))
    image_ax, trace_ax = figure.subplots(1, 2, width_ratios=[1.35, 1])
    plot_footprint_contours(max_image, masks, colors_by={call["mask_id"]: call["mask_type"] for call in calls},
                            labels=[""] * len(masks), ax=image_ax)
    legend = image_ax.get_legend()
    handles = legend.legend_handles
    labels = [f"{text.get_text()} ({types.count(text.get_text())})" for text in legend.get_texts()]
    legend.remove()
    image_ax.legend(handles, labels, loc="lower left", fontsize="small", framealpha=0.8)
    image_ax.set_title(f"{len(masks)} minian units over minian's max projection", fontsize="medium")
    shown = [n for n in np.argsort(-np.nan_to_num(snr)) if types[n] != "artefact"][:6]
    spacing = float(np.ceil(np.ptp(dff[shown], axis=1).max()))
    plot_traces(dff[shown], fps=meta.fps, cell_ids=[f"unit {masks[n]['mask_id']}" for n in shown],
                spacing=spacing, ax=trace_ax)
    trace_ax.set_ylabel("")
    trace_ax.set_title(f"dF/F of the 6 units with the highest SNR (rows {spacing:.0f} apart)", fontsize="medium")
    save(figure, out / "minian_load.png")


# ---------------------------------------------------------------- 4. suite2p


def suite2p_output(realdata: Path, out: Path) -> None:
    plane = realdata / SUITE2P
    loaded = load_suite2p_extraction(plane)
    motion = load_suite2p_motion(plane)
    cells = int(loaded.accepted.sum())
    print(f"4. suite2p plane folder: {loaded.nmasks} ROIs, {cells} cells, {loaded.nmasks - cells} not cells, "
          f"{loaded.nframes} frames, field of view {loaded.height}x{loaded.width} px, fs {loaded.fps} Hz, "
          f"registration {'piecewise-rigid' if motion.block_shifts is not None else 'rigid'}"
          f"{'' if motion.block_shifts is None else f' ({motion.block_shifts.shape[1]} blocks)'}, "
          f"rigid motion up to {np.abs(motion.rigid_shifts).max():.0f} px")
    figure = Figure(figsize=(5.5, 5.2))
    ax = figure.subplots()
    plot_footprint_contours(motion.average_image, loaded.footprints, mask_ids=loaded.mask_ids,
                            colors_by=["cell" if accepted else "not cell" for accepted in loaded.accepted],
                            ax=ax)
    ax.set_title("suite2p ROIs over the mean image (ops meanImg)", fontsize="medium")
    save(figure, out / "suite2p_rois.png")


# ---------------------------------------------------------------- 5. CaImAn


def caiman_output(realdata: Path, out: Path, work: Path) -> None:
    stored = np.load(realdata / CAIMAN, allow_pickle=True, encoding="latin1")
    footprints, calcium = stored["A_full"].item().tocsc(), stored["C_full"]
    path = work / "cnmf.hdf5"  # laid out as CaImAn's CNMF.save() writes it
    with h5py.File(path, "w") as h5:
        for part in ("data", "indices", "indptr"):
            h5[f"estimates/A/{part}"] = getattr(footprints, part)
        h5["estimates/A/shape"] = np.array(footprints.shape)
        h5["estimates/C"] = calcium
        h5["estimates/S"] = "NoneType"
        h5["estimates/dims"] = np.array(CAIMAN_SHAPE)
        h5["params/data/fr"] = 10.0
    loaded = load_caiman_extraction(path)
    images = loaded.footprint_images()
    ys, xs = np.nonzero(images[0])
    npix = np.count_nonzero(images.reshape(loaded.nmasks, -1), axis=1)
    print(f"5. CaImAn demo-movie results: {loaded.nmasks} components, {loaded.nframes} frames, field of view "
          f"{loaded.height}x{loaded.width} px (rows x columns); footprint pixels median {np.median(npix):.0f} "
          f"(range {npix.min()}-{npix.max()}); component 0 centred at row {ys.mean():.1f}, column {xs.mean():.1f}")
    model_mean = (loaded.footprints @ loaded.fluorescence.mean(axis=1)).reshape(loaded.height, loaded.width)
    figure = Figure(figsize=(6.2, 4.6))
    ax = figure.subplots()
    plot_footprint_contours(model_mean, loaded.footprints, mask_ids=loaded.mask_ids, ax=ax, fontsize=8)
    ax.set_title("CaImAn footprints over the mean of its model A C (60x80 px)", fontsize="medium")
    save(figure, out / "caiman_footprints.png")


# ---------------------------------------------------------------- 6. readers


def v4_session(folder: Path, real_file: Path | None, *, session: bool, text: str | None = None) -> Path:
    """A simulated V4 session whose session (or device) metaData.json is replaced by a real one."""
    frames = np.random.default_rng(0).integers(0, 256, (12, 24, 32), dtype=np.uint8)
    written = write_miniscope_v4(folder, frames, fps=30.0, frames_per_file=5, device_folder="My_V4_Miniscope")
    target = written.path / "metaData.json" if session else written.path / "My_V4_Miniscope" / "metaData.json"
    target.write_text(real_file.read_text() if text is None else text)
    return written.path


def readers(realdata: Path, work: Path) -> None:
    print("6. readers on real files")
    work.mkdir(parents=True)
    folder = realdata / V4_METADATA
    device_files = sorted(folder.glob("device_*.json"))
    session_file = next(folder.glob("session_*.json"))
    for index, file in enumerate(device_files):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta = read_recording(v4_session(work / f"device{index}", file, session=False)).metadata
        roi = meta.extra.get("roi")
        print(f"  {file.name}: device {meta.extra.get('device_name')!r} ({meta.extra.get('device_type')}), gain "
              f"{meta.gain}, LED {meta.led_power}, fps {meta.fps:.0f}, compression {meta.extra.get('compression')}, "
              f"ROI {'none' if roi is None else '{height}x{width}'.format(**roi)}; warnings: "
              f"{'; '.join(str(w.message).replace(str(work), '<session>') for w in caught) or 'none'}")
    real = json.loads(session_file.read_text())
    fields = ("year", "month", "day", "hour", "minute", "second", "msec", "msecSinceEpoch")
    nested = {key: value for key, value in real.items() if key not in fields}
    nested["recordingStartTime"] = {key: real[key] for key in fields}
    utc = datetime.datetime.fromtimestamp(real["msecSinceEpoch"] / 1000, tz=datetime.timezone.utc)
    for label, text in (("DAQ v1.0x, top-level fields (as saved)", None),
                        ("the same values nested under recordingStartTime (v1.10 layout)", json.dumps(nested))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta = read_recording(v4_session(work / f"session_{text is None}", session_file, session=True,
                                             text=text)).metadata
        offset = (utc.replace(tzinfo=None) - meta.recording_datetime).total_seconds() / 3600
        print(f"  {session_file.name}, {label}: start {meta.recording_datetime.isoformat(sep=' ')}; "
              f"msecSinceEpoch is {utc.replace(tzinfo=None).isoformat(sep=' ', timespec='milliseconds')} UTC "
              f"({offset:+.0f} h); "
              f"warnings: {len(caught)}")
    tiffs = realdata / TIFFS
    recording = read_recording(tiffs, fps=1.0)
    meta = recording.metadata
    movie = recording.movie()
    print(f"  {TIFFS}: {meta.software}, {len(meta.files)} files ({', '.join(f.name for f in meta.files)}), "
          f"{meta.nframes} frames in all of {meta.height}x{meta.width} px, {movie.dtype}, channels "
          f"{meta.nchannels}, planes {meta.nplanes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "real-data")
    parser.add_argument("--frames", type=int, default=300, help="frames of each semi-real movie")
    parser.add_argument("--seed", type=int, default=0, help="seed of the semi-real movies")
    parser.add_argument("--items", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6], help="items to run (1-6)")
    args = parser.parse_args()
    if not args.realdata.is_dir():
        parser.error(f"real-data folder {args.realdata} is absent; pass --realdata")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="realdata-") as temporary:
        work = Path(temporary)
        steps = (
            lambda: real_frames(args.realdata, args.out),
            lambda: semireal(args.realdata, args.out, args.frames, args.seed),
            lambda: minian_output(args.realdata, args.out, work / "minian_task"),
            lambda: suite2p_output(args.realdata, args.out),
            lambda: caiman_output(args.realdata, args.out, work),
            lambda: readers(args.realdata, work / "readers"),
        )
        for number, step in enumerate(steps, start=1):
            if number not in args.items:
                continue
            step_started = time.perf_counter()
            step()
            print(f"  ({time.perf_counter() - step_started:.1f} s)", flush=True)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
