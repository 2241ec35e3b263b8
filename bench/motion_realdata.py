"""Benchmark: one-photon motion correction judged on real Miniscope data, with the default parameters.

Three measurements, each for the defaults of today and, with ``--before``, for the settings the pipeline used
before the filter followed the measured cell size (high-pass sigma 1 px from a 12 px default diameter, frames
correlated as they are):

1. Semi-real movies (`element_calcium.simulate.semireal_movie`): the real frames of minian's test movie and
   minian's own cells, resized so cells are 12, 20 and 32 px across, moved by a known random walk with jolts,
   under a drifting illumination spot, with the sensor's real fixed pattern and shot noise at the real frames'
   noise level. RMSE of the rigid shifts (after removing the constant offset every template has), and of the
   mean of the piecewise-rigid patch shifts.
2. The 100 real frames against minian's own correction of them: correlation and amplitude ratio per axis.
3. Held-out one-photon simulations (`element_calcium.simulate.simulate`): rigid RMSE.

    python bench/motion_realdata.py [--realdata ../shared/realdata] [--frames 300] [--seeds 0 1 2] [--before]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np

from element_calcium.compute.motion import correct_motion
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.simulate import real_miniscope_tissue, semireal_movie, simulate

ORG_FRAMES = "minian_org_frames_100x480x752_uint8.npz"
MINIAN_OUTPUT = "minian_pr65_output"
CELL_SIZES = (12, 20, 32)
V4_SIDE = 608  # pixels: a Miniscope V4 frame; semi-real movies are as large as the resized field of view allows


def default_motion(*, pw_rigid: bool = False, before: bool = False):
    """The built-in one-photon motion parameters; ``before``: the previous filter (sigma 1 px, not squashed)."""
    motion = ProcessingParams.from_dict(default_params("1p")).motion
    motion = dataclasses.replace(motion, pw_rigid=pw_rigid)
    return dataclasses.replace(motion, gSig_filt=1.0, compress=None) if before else motion


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """(pixels) root mean square of the per-frame error vector after removing its median (the template's offset)."""
    error = np.asarray(estimate, np.float64) - truth
    error -= np.median(error, axis=0)
    return float(np.sqrt((error**2).sum(axis=1).mean()))


def real_tissue(realdata: Path):
    """The real ingredients of the semi-real movies: minian's test frames and minian's cells of them."""
    frames = np.load(realdata / ORG_FRAMES)
    extraction = load_minian_extraction(realdata / MINIAN_OUTPUT)
    motion = load_minian_motion(realdata / MINIAN_OUTPUT)
    frame_index = frames["frame"]
    return real_miniscope_tissue(
        frames["org"],
        applied_shifts=-np.rint(motion.rigid_shifts[frame_index]).astype(int),
        frame_index=frame_index,
        footprints=extraction.footprints,
        calcium=extraction.denoised,
    )


def semireal_shape(cell_size: float, *, height: int = 480, width: int = 752, max_shift: float = 12.0):
    """(H, W) of a semi-real movie: the resized real field of view less the margins, at most a V4 frame."""
    scale, margin = cell_size / 20.0, int(np.ceil(max_shift)) + 8
    sides = [min(V4_SIDE, int((n - 2) * scale) - 2 * margin - 2) for n in (height, width)]
    return tuple(side - side % 8 for side in sides)


def run(frames: np.ndarray, params):
    started = time.perf_counter()
    result = correct_motion(lambda a, b: frames[a:b], len(frames), params=params, device="cpu")
    return result, time.perf_counter() - started


def semireal(tissue, n_frames: int, seeds: list[int], before: bool) -> None:
    print(f"semi-real movies, {n_frames} frames")
    for size in CELL_SIZES:
        for seed in seeds:
            movie = semireal_movie(tissue, cell_scale=size / 20.0, n_frames=n_frames, shape=semireal_shape(size),
                                   seed=seed)
            rigid, seconds = run(movie.frames, default_motion(before=before))
            patches, _ = run(movie.frames, default_motion(pw_rigid=True, before=before))
            mean_patch = patches.block_shifts.mean(axis=(1, 2))
            diameter = "given" if rigid.cell_diameter is None else f"{rigid.cell_diameter:.1f}"
            print(f"  cells {size} px  seed {seed}  {movie.frames.shape[1]}x{movie.frames.shape[2]}  measured "
                  f"diameter {diameter} px  sigma {rigid.highpass_sigma:.2f} px  rigid RMSE "
                  f"{rmse(rigid.rigid_shifts, movie.shifts):.3f} px  piecewise RMSE "
                  f"{rmse(mean_patch, movie.shifts):.3f} px  ({seconds:.1f} s rigid)", flush=True)


def real_frames(realdata: Path, before: bool) -> None:
    frames = np.load(realdata / ORG_FRAMES)
    minian = -frames["minian_applied_shift_org_to_Y"].astype(np.float64)
    result, _ = run(frames["org"], default_motion(before=before))
    print(f"real frames {frames['org'].shape}: measured diameter {result.cell_diameter} px, sigma "
          f"{result.highpass_sigma:.2f} px")
    for axis, name in enumerate(("y", "x")):
        ours, theirs = result.rigid_shifts[:, axis], minian[:, axis]
        correlation = np.corrcoef(ours, theirs)[0, 1]
        print(f"  {name}: correlation with minian {correlation:.3f}, amplitude ratio {ours.std() / theirs.std():.3f}")
    quality = result.quality
    print(f"  frames' correlation with their mean: raw {quality.raw_correlation:.3f} -> corrected "
          f"{quality.corrected_correlation:.3f}, frames improved {quality.improved_fraction:.2f}, "
          f"warning: {quality.warning()}")


def simulations(n_frames: int, seeds: list[int], before: bool) -> None:
    print(f"one-photon simulations, 256x256, {n_frames} frames")
    for cell_diameter in (None, 8.0, 24.0, 40.0):
        for seed in seeds:
            movie = simulate(n_frames=n_frames, height=256, width=256, n_cells=60 if cell_diameter != 40 else 30,
                             mode="1p", max_shift=5.0, seed=100 + seed, cell_diameter=cell_diameter)
            result, _ = run(movie.render(0, n_frames), default_motion(before=before))
            label = "default sizes" if cell_diameter is None else f"cells {cell_diameter:.0f} px"
            print(f"  {label}  seed {100 + seed}  measured {result.cell_diameter}  sigma {result.highpass_sigma:.2f}"
                  f"  RMSE {rmse(result.rigid_shifts, movie.truth.shifts):.3f} px", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--before", action="store_true", help="the previous filter settings instead of the defaults")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{'previous settings' if args.before else 'defaults'}")
    real_frames(args.realdata, args.before)
    semireal(real_tissue(args.realdata), args.frames, args.seeds, args.before)
    simulations(args.frames, args.seeds, args.before)


if __name__ == "__main__":
    main()
