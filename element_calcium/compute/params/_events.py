"""Parameters of the event steps: calcium transients, behaviour-aligned windows and spatiotemporal events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from element_calcium.compute.params._rules import (
    MAX_CELL_PX,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_PERI_EVENT_S,
    MAX_SIDE_PX,
    MAX_WINDOW_FRAMES,
    check_flag,
    check_number,
    is_whole,
    require,
)

NOISE_STATISTICS = ("mean", "median", "max")
ALTERNATIVES = ("two-sided", "greater", "less")
PERI_EVENT_SOURCES = ("trace", "transients", "curated_transients")
RASTER_FRAMES = ("span", "onset", "peak")


@dataclass(frozen=True)
class TransientParams:
    """Calcium transients of each cell, from dF/F (see `element_calcium.compute.events`).

    The defaults suit GCaMP6f-like transients (rise under 0.1 s, decay 0.3-0.7 s) at 20-30 frames/s.
    At about 10 frames/s the 0.5 s window smooths little and noise peaks pass: raise min_snr to 2.5.

    Attributes:
        savgol_window_s: (seconds) Savitzky-Golay smoothing window; made an odd number of frames,
            at least ``savgol_order + 2``.
        savgol_order: polynomial order of the Savitzky-Golay filter.
        noise_window_s: (seconds) rolling window of the noise estimate.
        noise_statistic: ``"median"``, ``"mean"`` or ``"max"`` of |dF/F - smoothed| over the window;
            median and mean are scaled to the standard deviation of white noise, max is an envelope.
        min_snr: smallest transient, in noise standard deviations: both the prominence of the smoothed
            peak and its rise from the start of the transient must reach this.
        onset_threshold: the rise before a peak is where the smoothed first derivative exceeds this
            many standard deviations of the derivative's noise.
        min_width_s: (seconds) smallest width of a peak at half its prominence.
        max_rise_s: (seconds) longest rise; a transient starts at most this long before its peak.
        end_fraction: a transient ends when the smoothed trace falls back to its starting level plus
            this fraction of its amplitude.
    """

    savgol_window_s: float = 0.5
    savgol_order: int = 2
    noise_window_s: float = 30.0
    noise_statistic: str = "median"
    min_snr: float = 2.0
    onset_threshold: float = 1.0
    min_width_s: float = 0.2
    max_rise_s: float = 1.0
    end_fraction: float = 0.2

    def __post_init__(self) -> None:
        where = "params transients"
        for name in ("savgol_window_s", "noise_window_s", "max_rise_s"):
            check_number(f"{where}.{name}", getattr(self, name), low=0, low_open=True, high=MAX_DURATION_S,
                         unit="seconds")
        check_number(f"{where}.min_width_s", self.min_width_s, low=0, high=MAX_DURATION_S, unit="seconds")
        check_number(f"{where}.min_snr", self.min_snr, low=0, low_open=True, unit="noise standard deviations")
        check_number(f"{where}.onset_threshold", self.onset_threshold, low=0, unit="noise standard deviations")
        check_number(f"{where}.savgol_order", self.savgol_order, low=1, high=5, integer=True)
        require(self.noise_statistic in NOISE_STATISTICS,
                 f"{where}.noise_statistic must be one of {NOISE_STATISTICS}, got {self.noise_statistic!r}")
        check_number(f"{where}.end_fraction", self.end_fraction, low=0, high=1, high_open=True)


@dataclass(frozen=True)
class PeriEventParams:
    """Windows of activity around behaviour events, and each cell's response to them.

    Attributes:
        pre_s: (seconds) window before each event; also the baseline of the response statistics.
        post_s: (seconds) window after each event.
        resample_ms: (milliseconds) resample the windows to this fixed interval; None keeps the frames.
        response_start_s, response_end_s: (seconds after the event) window of the response statistic.
        n_shuffles: circular shifts of the event times in the null distribution of the p-value.
        seed: seed of the shuffles.
        alternative: ``"two-sided"``, ``"greater"`` (activation) or ``"less"`` (suppression).
        source: what is cut around the events: ``"trace"`` (the Activity trace: dF/F, denoised calcium or
            spikes) or the transient raster of that trace (CalTrig's E, 0/1 per frame and cell) from
            ``"transients"`` (the detected transients) or ``"curated_transients"`` (a curation of them). The
            trial average of raster windows is each cell's event probability per sample.
        transient_paramset_id: the transient parameter set whose transients make the raster.
        transient_curation_id: with ``"curated_transients"``, the transient curation whose transients are used.
        raster_frames: the frames a transient marks in the raster: ``"span"`` (start to end, as CalTrig's E),
            ``"onset"`` or ``"peak"`` (one frame each). With ``resample_ms`` a sample counts the marked frames
            in its interval (for onsets and peaks: the events).

    ``ADDED_LATER``: the fields added after parameter sets were first stored; at their default they are left
    out of the parameter-set hash, so the hashes of sets stored before them do not change.
    """

    ADDED_LATER: ClassVar[tuple[str, ...]] = (
        "source", "transient_paramset_id", "transient_curation_id", "raster_frames",
    )

    pre_s: float = 2.0
    post_s: float = 5.0
    resample_ms: float | None = None
    response_start_s: float = 0.0
    response_end_s: float = 1.0
    n_shuffles: int = 1000
    seed: int = 0
    alternative: str = "two-sided"
    source: str = "trace"
    transient_paramset_id: int = 0
    transient_curation_id: int = 0
    raster_frames: str = "span"

    def __post_init__(self) -> None:
        where = "params peri_event"
        check_number(f"{where}.pre_s", self.pre_s, low=0, low_open=True, high=MAX_PERI_EVENT_S, unit="seconds")
        check_number(f"{where}.post_s", self.post_s, low=0, low_open=True, high=MAX_PERI_EVENT_S, unit="seconds")
        check_number(f"{where}.resample_ms", self.resample_ms, low=1, high=1000 * MAX_PERI_EVENT_S, null=True,
                     unit="milliseconds")
        for name in ("response_start_s", "response_end_s"):
            check_number(f"{where}.{name}", getattr(self, name), low=0, high=MAX_PERI_EVENT_S, unit="seconds")
        require(0 <= self.response_start_s < self.response_end_s <= self.post_s,
                 f"{where}.response_start_s and response_end_s must satisfy "
                 f"0 <= start < end <= post_s, got ({self.response_start_s!r}, {self.response_end_s!r})")
        check_number(f"{where}.n_shuffles", self.n_shuffles, low=1, high=MAX_COUNT, integer=True)
        check_number(f"{where}.seed", self.seed, low=0, high=2**32 - 1, integer=True)
        require(self.alternative in ALTERNATIVES,
                 f"{where}.alternative must be one of {ALTERNATIVES}, got {self.alternative!r}")
        require(self.source in PERI_EVENT_SOURCES,
                f"{where}.source must be one of {PERI_EVENT_SOURCES}, got {self.source!r}")
        for name in ("transient_paramset_id", "transient_curation_id"):
            check_number(f"{where}.{name}", getattr(self, name), low=0, high=2**15 - 1, integer=True)
        require(self.raster_frames in RASTER_FRAMES,
                f"{where}.raster_frames must be one of {RASTER_FRAMES}, got {self.raster_frames!r}")


# --- Spatiotemporal (astrocyte) event detection -----------------------------------------------------------------

DELTA_METHODS = ("dF", "dFF")
COMB_TYPES = ("&", "|")


@dataclass(frozen=True)
class SpatialEventParams:
    """Spatiotemporal event detection in a movie (astroCAST ``Delta`` + ``Detector`` style).

    Noise units: ``sigma_s`` of a pixel is the standard deviation of white noise in its smoothed delta
    signal: the pixel's noise (robust, from frame-to-frame differences of the delta) times the L2 norm of
    the smoothing kernel. Thresholds given in noise units are therefore portable across movies.

    Attributes:
        window: (frames) the background of frame t is the larger of the minima over the ``window`` frames
            ending at t and the ``window`` frames starting at t; longer than one event at one pixel.
        method: ``"dF"`` (frame - background) or ``"dFF"`` ((frame - background) / background).
        use_smoothing: Gaussian smoothing of the delta movie in time and space.
        smooth_sigma: (pixels and frames) sigma of the Gaussian.
        smooth_radius: (pixels and frames) half-width at which the Gaussian kernel is cut.
        threshold: when set, a voxel is active where the smoothed delta is >= threshold (delta units: grey
            levels for dF, a fraction for dFF) and the spatial and temporal criteria are not used.
        use_spatial: use the spatial criterion.
        spatial_threshold: (noise units) a voxel is bright where its prominence is at least this.
        spatial_radius: (pixels) the neighbourhood of a pixel is the (2 r + 1)^2 square around it.
        spatial_min_ratio: a voxel is spatially active where at least this fraction of the in-frame pixels
            of its neighbourhood are bright, in (0, 1].
        use_temporal: use the temporal criterion.
        temporal_prominence: (noise units) a voxel is a prominent core where the smoothed delta exceeds
            the larger of its minima over the ``temporal_wlen // 2`` frames before and after by this much.
        temporal_width: (frames) temporally active runs of a pixel shorter than this are dropped.
        temporal_rel_height: an event extends around its prominent core while the prominence stays above
            (1 - rel_height) x the largest core prominence within ``temporal_wlen // 2`` frames, in [0, 1).
        temporal_wlen: (frames) window of the prominence and of the event extent around a core.
        comb_type: ``"&"`` (spatially and temporally active) or ``"|"`` (either).
        exclude_border: (pixels) band along the frame edges where no voxel is active.
        fill_holes: fill holes of the active voxels of each frame.
        area_threshold: (pixels) largest hole filled.
        remove_objects: drop events (3-D connected components) smaller than ``min_size`` voxels.
        min_size: (voxels) smallest event kept.
        connectivity: 3-D connectivity of the voxels of an event: 1 (faces), 2 (and edges), 3 (and corners).
        ring_width: (pixels) width of the ring around an event's footprint whose mean trace gives its noise.
        noise_frames: frames, in runs spread over the recording, from which each pixel's noise is estimated.
        bleach_correction: run astroCAST's Delta bleach correction (``compute.signal.delta_bleach_correction``)
            on the movie first, store the corrected movie, and detect the events in it (with ``method="dF"``:
            the corrected movie's baseline is about 0, so a relative change of it has no meaning).
        bleach_window: (frames) astroCAST's Delta ``window``: each running minimum of the correction's
            background spans this many frames; longer than one event at one pixel.
        bleach_method: ``"dF"`` (movie - background) or ``"dFF"`` ((movie - background) / background, the
            relative change, which takes a multiplicative bleach out of the events' amplitudes).
        bleach_overwrite_first_frame: replace the corrected frame 0 by frame 1 (astroCAST's default).

    ``ADDED_LATER``: the fields added after parameter sets were first stored; at their default they are left
    out of the parameter-set hash, so the hashes of sets stored before them do not change.
    """

    ADDED_LATER: ClassVar[tuple[str, ...]] = (
        "bleach_correction", "bleach_window", "bleach_method", "bleach_overwrite_first_frame",
    )

    window: int = 40
    method: str = "dF"
    use_smoothing: bool = True
    smooth_sigma: float = 2.0
    smooth_radius: int = 4
    threshold: float | None = None
    use_spatial: bool = True
    spatial_threshold: float = 5.0
    spatial_radius: int = 2
    spatial_min_ratio: float = 0.5
    use_temporal: bool = True
    temporal_prominence: float = 10.0
    temporal_width: int = 3
    temporal_rel_height: float = 0.8
    temporal_wlen: int = 60
    comb_type: str = "&"
    exclude_border: int = 0
    fill_holes: bool = True
    area_threshold: int = 10
    remove_objects: bool = True
    min_size: int = 100
    connectivity: int = 1
    ring_width: int = 4
    noise_frames: int = 1000
    bleach_correction: bool = False
    bleach_window: int = 40
    bleach_method: str = "dF"
    bleach_overwrite_first_frame: bool = True

    def __post_init__(self) -> None:
        where = "params spatial_events"
        for name in ("use_smoothing", "use_spatial", "use_temporal", "fill_holes", "remove_objects",
                     "bleach_correction", "bleach_overwrite_first_frame"):
            check_flag(f"{where}.{name}", getattr(self, name))
        check_number(f"{where}.window", self.window, low=2, high=MAX_WINDOW_FRAMES, integer=True, unit="frames")
        require(self.method in DELTA_METHODS, f"{where}.method must be one of {DELTA_METHODS}, got {self.method!r}")
        check_number(f"{where}.smooth_sigma", self.smooth_sigma, low=0, low_open=True, unit="pixels and frames")
        check_number(f"{where}.smooth_radius", self.smooth_radius, low=1, high=MAX_CELL_PX, integer=True,
                     unit="pixels and frames")
        check_number(f"{where}.threshold", self.threshold, null=True)
        check_number(f"{where}.spatial_threshold", self.spatial_threshold, low=0, unit="(noise units)")
        check_number(f"{where}.spatial_radius", self.spatial_radius, low=0, high=MAX_CELL_PX, integer=True,
                     unit="pixels")
        check_number(f"{where}.spatial_min_ratio", self.spatial_min_ratio, low=0, low_open=True, high=1)
        check_number(f"{where}.temporal_prominence", self.temporal_prominence, low=0, low_open=True,
                     unit="(noise units)")
        check_number(f"{where}.temporal_width", self.temporal_width, low=1, high=MAX_WINDOW_FRAMES, integer=True,
                     unit="frames")
        check_number(f"{where}.temporal_rel_height", self.temporal_rel_height, low=0, high=1, high_open=True)
        check_number(f"{where}.temporal_wlen", self.temporal_wlen, low=2, high=MAX_WINDOW_FRAMES, integer=True,
                     unit="frames")
        require(self.comb_type in COMB_TYPES, f"{where}.comb_type must be one of {COMB_TYPES}, got {self.comb_type!r}")
        require(self.threshold is not None or self.use_spatial or self.use_temporal,
                 f"{where} needs use_spatial or use_temporal to be true, or a threshold")
        check_number(f"{where}.exclude_border", self.exclude_border, low=0, high=MAX_SIDE_PX, integer=True,
                     unit="pixels")
        check_number(f"{where}.area_threshold", self.area_threshold, low=1, high=MAX_SIDE_PX**2, integer=True,
                     unit="pixels")
        check_number(f"{where}.min_size", self.min_size, low=1, integer=True, unit="voxels")
        require(is_whole(self.connectivity) and self.connectivity in (1, 2, 3),
                 f"{where}.connectivity must be 1, 2 or 3, got {self.connectivity!r}")
        check_number(f"{where}.ring_width", self.ring_width, low=1, high=MAX_CELL_PX, integer=True, unit="pixels")
        check_number(f"{where}.noise_frames", self.noise_frames, low=2, high=MAX_WINDOW_FRAMES, integer=True,
                     unit="frames")
        check_number(f"{where}.bleach_window", self.bleach_window, low=1, high=MAX_WINDOW_FRAMES, integer=True,
                     unit="frames")
        require(self.bleach_method in DELTA_METHODS,
                f"{where}.bleach_method must be one of {DELTA_METHODS}, got {self.bleach_method!r}")
        require(not (self.bleach_correction and self.method == "dFF"),
                f"{where}.method must be 'dF' with bleach_correction (the corrected movie's baseline is about 0); "
                "choose bleach_method 'dFF' for a relative change")
