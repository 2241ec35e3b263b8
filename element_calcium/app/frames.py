"""Frames of a recording for the movie viewer, read on demand (never the whole movie): raw, motion-corrected,
the reconstruction A.C of the curation's cells and the residual (`compute.review`).

    frames = RecordingFrames(data, curation_key)
    panels = frames.frame(120)                 # {"raw": (H, W), "corrected": ..., "reconstruction": ..., ...}
    trace = frames.box_mean(10, 20, 30, 40)    # (T,) mean of rows 10..19, columns 30..39
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from element_calcium import readers, storage
from element_calcium.compute.review import model_frames, residual_background

PANELS = ("raw", "corrected", "reconstruction", "residual")
SAMPLE_FRAMES = 20  # frames spread over the recording that set the residual's background and display limits
CHUNK_FRAMES = 500  # frames read at a time for a box's mean trace


class RecordingFrames:
    """One curation's movie panels; files are opened on first use and the model's inputs read once.

    Args:
        data: the app's `AppData`.
        curation_key: a key of `Curation`.
    """

    def __init__(self, data, curation_key: dict[str, Any]):
        self.data = data
        self.key = curation_key
        sources = data.movie_sources(curation_key)
        self.raw = readers.read_recording(sources["raw_folder"], software=sources["software"],
                                          fps=sources["frame_rate"]).movie()
        self.corrected = (None if sources["corrected"] is None
                          else storage.open_movie(sources["corrected"], owner=sources["corrected_owner"]))
        self.corrected_path, self.corrected_owner = sources["corrected"], sources["corrected_owner"]
        self.n_frames = len(self.raw)
        self.shape = tuple(self.raw.shape[1:])
        self._model: tuple[Any, np.ndarray] | None = None
        self._background: np.ndarray | None = None
        self.limits: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _registered(self, start: int, stop: int) -> np.ndarray:
        """Frames of the motion-corrected movie, or of the raw one where the correction wrote none (load mode)."""
        movie = self.raw if self.corrected is None else self.corrected
        return np.asarray(movie.read(start, stop), np.float32)

    def _prepare(self) -> None:
        """Read the curation's footprints and calcium, the residual's background and the panels' limits."""
        if self._model is not None:
            return
        sources = self.data.curated_sources(self.key)
        calcium = sources.denoised if sources.denoised is not None else sources.fluorescence
        self._model = (sources.footprints, np.asarray(calcium, np.float32))
        picks = np.unique(np.linspace(0, self.n_frames - 1, SAMPLE_FRAMES).astype(int))
        corrected = np.stack([self._registered(t, t + 1)[0] for t in picks])
        raw = np.stack([np.asarray(self.raw.read(t, t + 1), np.float32)[0] for t in picks])
        model = model_frames(sources.footprints, self._model[1][:, picks], self.shape)
        self._background = residual_background(corrected, model)
        residual = corrected - model - self._background
        for name, values in (("raw", raw), ("corrected", corrected), ("reconstruction", model),
                             ("residual", residual)):
            low, high = np.percentile(values, [0.5, 99.8])
            self.limits[name] = (float(low), float(high) if high > low else float(low) + 1.0)

    def frame(self, index: int) -> dict[str, np.ndarray]:
        """The four (H, W) float32 panels of frame ``index`` (0-based)."""
        index = int(index)
        if not 0 <= index < self.n_frames:
            raise ValueError(f"frame {index} is outside the recording's {self.n_frames} frames")
        with self._lock:
            self._prepare()
            raw = np.asarray(self.raw.read(index, index + 1), np.float32)[0]
            corrected = self._registered(index, index + 1)[0]
            footprints, calcium = self._model
            model = model_frames(footprints, calcium[:, index:index + 1], self.shape)[0]
        return {"raw": raw, "corrected": corrected, "reconstruction": model,
                "residual": corrected - model - self._background}

    def box_mean(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(T,) float32 mean of the motion-corrected (else raw) movie over rows ``y0:y1`` and columns ``x0:x1``,
        read a box and a chunk at a time."""
        height, width = self.shape
        y0, y1 = sorted((int(np.clip(y0, 0, height)), int(np.clip(y1, 0, height))))
        x0, x1 = sorted((int(np.clip(x0, 0, width)), int(np.clip(x1, 0, width))))
        if y1 - y0 < 1 or x1 - x0 < 1:
            raise ValueError(f"the box [{y0}:{y1}, {x0}:{x1}] holds no pixel of the {height}x{width} frame")
        means = np.empty(self.n_frames, np.float32)
        if self.corrected is not None:
            with storage.MovieRegions(self.corrected_path, owner=self.corrected_owner) as regions:
                for start in range(0, self.n_frames, CHUNK_FRAMES):
                    stop = min(start + CHUNK_FRAMES, self.n_frames)
                    means[start:stop] = regions.read(start, stop, y0, y1, x0, x1).mean(axis=(1, 2))
            return means
        for start in range(0, self.n_frames, CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, self.n_frames)
            means[start:stop] = np.asarray(self.raw.read(start, stop))[:, y0:y1, x0:x1].mean(axis=(1, 2))
        return means
