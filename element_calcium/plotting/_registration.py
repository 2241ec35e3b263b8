"""Cells of up to three sessions in the reference frame: footprints as red, green and blue (minian's AlignViewer),
and outlines marking the cells matched across the shown sessions and those seen in one only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import ndimage

from element_calcium.plotting._common import axes_for, check_array
from element_calcium.plotting._footprints import _contours, masks_of

SESSION_COLORS = ((1.0, 0.2, 0.2), (0.2, 1.0, 0.2), (0.3, 0.5, 1.0))  # red, green, blue


def _transform(value, session: int) -> np.ndarray:
    if value is None:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    matrix = check_array(f"transforms[{session}]", value, "(2, 3)", ndim=2)
    if matrix.shape != (2, 3) or abs(np.linalg.det(matrix[:, :2])) < 1e-6:
        raise ValueError(f"transforms[{session}] must be an invertible (2, 3) affine matrix, got shape {matrix.shape}")
    return matrix


def plot_registration(masks: Sequence, global_ids: Sequence, *, shape: tuple[int, int], transforms=None,
                      session_labels: Sequence[str] | None = None, axes=None) -> Figure:
    """Two or three sessions' cells in the reference frame: their footprints as the red, green and blue channels of
    one image (a cell found in all three is white, in two yellow, cyan or magenta), and their outlines, solid for
    cells matched across the shown sessions, dotted for cells seen in only one of them.

    Args:
        masks: per session, its footprints as `element_calcium.plotting` takes them (``Segmentation.Mask`` rows
            or an (H * W, N) matrix), in that session's own pixels.
        global_ids: per session, (N_s,) global cell id of each mask, in the masks' order
            (``Registration.Match.global_cell_id``).
        shape: (H, W) pixels of the frames.
        transforms: per session, the (2, 3) matrix taking reference pixels (y, x, 1) to the session's pixels
            (``Registration.Alignment.transform``); None: the footprints are already in the reference frame.
        session_labels: a name per session for the legend (default: "session 1", ...).
        axes: two matplotlib Axes to draw into; None: a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: not two or three sessions, ids that do not fit the masks, or a transform that is not an
            invertible (2, 3) matrix.
    """
    n_sessions = len(masks)
    if n_sessions not in (2, 3) or len(global_ids) != n_sessions:
        raise ValueError(f"plot_registration shows 2 or 3 sessions with one id array each, got {n_sessions} mask "
                         f"sets and {len(global_ids)} id arrays")
    transforms = [None] * n_sessions if transforms is None else list(transforms)
    if len(transforms) != n_sessions:
        raise ValueError(f"transforms must hold one matrix per session ({n_sessions}), got {len(transforms)}")
    labels = list(session_labels) if session_labels is not None else [f"session {s + 1}" for s in range(n_sessions)]
    height, width = shape
    sessions = [masks_of(m, shape, None) for m in masks]
    ids = []
    for s, (session_masks, session_ids) in enumerate(zip(sessions, global_ids)):
        session_ids = np.asarray(session_ids)
        if session_ids.shape != (len(session_masks),):
            raise ValueError(f"global_ids[{s}] must have shape ({len(session_masks)},), got {session_ids.shape}")
        ids.append(session_ids)
    counts = {}
    for session_ids in ids:
        for value in set(session_ids.tolist()):
            counts[value] = counts.get(value, 0) + 1

    figure, (overlay_ax, outline_ax) = axes_for(axes, 2, name="axes", figsize=(11, 5))
    composite = np.zeros((height, width, 3))
    outline_ax.set_facecolor("black")
    for s, session_masks in enumerate(sessions):
        matrix = _transform(transforms[s], s)
        image = np.zeros(shape)
        for mask in session_masks:
            np.maximum.at(image, (mask.y, mask.x), mask.weights / max(float(mask.weights.max()), 1e-12))
        # the reference pixel p shows the session's pixel matrix @ (p, 1)
        composite[..., s] = ndimage.affine_transform(image, matrix[:, :2], offset=matrix[:, 2], order=1,
                                                     output_shape=shape)
        inverse = np.linalg.inv(matrix[:, :2])
        solid, dotted = [], []
        for mask, global_id in zip(session_masks, ids[s]):
            for line in _contours(mask, 0.5):
                reference = (line[:, ::-1] - matrix[:, 2]) @ inverse.T  # (y, x) in the reference frame
                (solid if counts[global_id] > 1 else dotted).append(reference[:, ::-1])
        color = SESSION_COLORS[s]
        outline_ax.add_collection(LineCollection(solid, colors=[color], linewidths=1.2))
        outline_ax.add_collection(LineCollection(dotted, colors=[color], linewidths=0.8, linestyles=":"))
    overlay_ax.imshow(np.clip(composite, 0.0, 1.0), interpolation="nearest")
    overlay_ax.set_title("footprints: " + ", ".join(f"{label} ({name})" for label, name in
                                                     zip(labels, ("red", "green", "blue"))), fontsize="small")
    n_matched = sum(1 for count in counts.values() if count > 1)
    outline_ax.set_title(f"{n_matched} cells matched (solid), {len(counts) - n_matched} seen once (dotted)",
                         fontsize="small")
    for ax in (overlay_ax, outline_ax):
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("x (pixels)")
    overlay_ax.set_ylabel("y (pixels)")
    handles = [Line2D([], [], color=SESSION_COLORS[s], linewidth=2, label=labels[s]) for s in range(n_sessions)]
    outline_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return figure
