"""The scale of the one-photon high-pass filter: the cells' diameter, measured on the template frames, and the
filter's sigma derived from it."""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _backend, _checks
from element_calcium.compute.motion import _arguments, _run, _scale
from element_calcium.compute.motion._engine import RigidRegistration, correct

PROVISIONAL_SIGMA = 2.0  # (pixels) high-pass filter that registers the frames the cell size is measured on
_SIGMA_PER_DIAMETER = 1 / 11  # the high-pass filter's inner sigma per pixel of cell diameter
_SIGMA_RANGE = (0.75, 4.0)  # (pixels) bounds of the inner sigma derived from a cell diameter


def highpass_sigma(cell_diameter: float) -> float:
    """Inner sigma (pixels) of the one-photon high-pass filter for cells of ``cell_diameter`` pixels.

    ``cell_diameter / 11``, kept within 0.75-4 px: the band keeps the cells' edges and the texture
    between them. Chosen on real Miniscope tissue resized to cells of 12, 20 and 32 px
    (`element_calcium.simulate.semireal_movie`), where the best sigma is 1.2-1.5, 2-2.5 and 2.5-3 px and
    `estimate_cell_diameter` measures 16, 25 and 35 px, and on minian's real frames (measured 25 px), whose
    shifts match minian's own for sigma 2.2-2.4 px.
    """
    if not cell_diameter > 0:
        raise ValueError(f"cell_diameter must be > 0 pixels, got {cell_diameter}")
    return float(np.clip(_SIGMA_PER_DIAMETER * cell_diameter, *_SIGMA_RANGE))


def _register_stack(stack, template, device: str, **rigid_options) -> np.ndarray:
    """(n, 2) rigid shifts of the (n, H, W) device registration images ``stack`` against ``template``."""
    registration = RigidRegistration(template, **rigid_options)
    spans = _run.batches(len(stack), _run.batch_size(device, stack.shape[1:]))
    with _run.lane_map(device) as run:
        parts = list(run(lambda span: _backend.to_numpy(registration.shifts(stack[span[0] : span[1]])[0]), spans))
    return np.concatenate(parts)


def _aligned_raw(raw: np.ndarray, shifts: np.ndarray, device: str) -> np.ndarray:
    """(n, H, W) float32 NumPy raw frames with their rigid ``shifts`` undone."""
    xp = _backend.get_xp(device)
    out = np.empty(raw.shape, dtype=np.float32)
    spans = _run.batches(len(raw), _run.batch_size(device, raw.shape[1:]))

    def fill(span):
        frames = _run.prepare(raw[span[0] : span[1]], None, xp)[0]
        out[span[0] : span[1]] = _backend.to_numpy(correct(frames, xp.asarray(shifts[span[0] : span[1]]), xp))

    with _run.lane_map(device) as run:
        list(run(fill, spans))
    return out


def measure_diameter(raw: np.ndarray, ranges, *, compress, device: str, **rigid_options):
    """Cell diameter of raw template frames (or None) and their provisional rigid shifts (n, 2).

    The frames are registered on the `PROVISIONAL_SIGMA` high-pass filter (one refinement of the template),
    aligned, and the blobs of their mean image measured (`_scale`).
    """
    stack = _run.registration_stack(raw, sigma=PROVISIONAL_SIGMA, compress=compress, device=device)
    template = _run.template_pass(stack, ranges, niter=1, device=device, **rigid_options)
    shifts = _register_stack(stack, template, device, **rigid_options)
    del stack
    image = _scale.structure_image(_aligned_raw(raw, shifts, device))
    return _scale.blob_diameter(image), shifts


def estimate_cell_diameter(frames, *, max_shift: float, compress: float | None = 1.0, device: str = "auto"):
    """(pixels) typical diameter of the active cells of a one-photon movie, or None when none stands out.

    The frames are registered on a `PROVISIONAL_SIGMA` px high-pass filter, and the diameter is the scale
    of the bright blobs of their mean image (see `_scale`), as 4 x the Gaussian sigma of a blob.

    Args:
        frames: (n, H, W) raw frames, any real dtype; a few hundred frames spread over the recording do.
        max_shift: (pixels) bound of the rigid motion along each axis.
        compress: squashing of the registration images (see `MotionParams`), or None.
        device: "auto", "cpu" or "cuda".
    """
    frames = _checks.frames(frames)
    shape = tuple(frames.shape[1:])
    device = _backend.resolve_device(device)
    raw = _backend.to_numpy(frames)
    options = dict(xp=_backend.get_xp(device), max_shift=_arguments.max_shift(max_shift, shape),
                   upsample_factor=10, taper=True)
    return measure_diameter(raw, [(0, len(raw))], compress=compress, device=device, **options)[0]
