"""Parameters of the clustering steps: cells by activity spectrum, events by shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from element_calcium.compute.params._rules import (
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_PERI_EVENT_S,
    MAX_WINDOW_FRAMES,
    check_number,
    require,
)

CELL_SIGNALS = ("denoised", "dff", "filtered")
PSD_METHODS = ("welch", "periodogram")
PSD_SCALES = ("log", "power")
CELL_METRICS = ("euclidean", "cosine")
EVENT_METRICS = ("euclidean", "correlation", "dtw")
LINKAGE_METHODS = ("ward", "average", "complete", "single", "weighted")
NORMALIZE_OPERATIONS = ("subtract", "divide")
NORMALIZE_STATISTICS = ("min", "max", "mean", "median", "std")
LENGTH_RULES = ("longest", "shortest")
PAD_MODES = ("edge", "constant")
AUTO_CUTS = ("eigengap", "silhouette")


def normalization_steps(instructions: Any, where: str = "normalize") -> tuple[tuple[str, str], ...]:
    """Check event normalisation instructions and return them as a tuple of ``(operation, statistic)`` pairs.

    The format is a sequence (list or tuple, possibly empty) of pairs ``[operation, statistic]``, applied in
    order to each event: ``operation`` is ``"subtract"`` or ``"divide"``, ``statistic`` one of
    ``NORMALIZE_STATISTICS`` (``"min"``, ``"max"``, ``"mean"``, ``"median"``, ``"std"``) of the event as it
    stands after the previous steps; e.g. ``[["subtract", "min"], ["divide", "max"]]`` scales every event to
    [0, 1] and ``[["subtract", "mean"], ["divide", "std"]]`` z-scores it.

    Raises:
        ValueError: not a sequence of pairs, or an unknown operation or statistic; the message names ``where``.
    """
    require(isinstance(instructions, (list, tuple)),
             f"{where} must be a list of [operation, statistic] pairs, got {instructions!r}")
    steps = []
    for position, step in enumerate(instructions):
        require(isinstance(step, (list, tuple)) and len(step) == 2,
                 f"{where}[{position}] must be an [operation, statistic] pair, got {step!r}")
        operation, statistic = step
        require(operation in NORMALIZE_OPERATIONS,
                 f"{where}[{position}] operation must be one of {NORMALIZE_OPERATIONS}, got {operation!r}")
        require(statistic in NORMALIZE_STATISTICS,
                 f"{where}[{position}] statistic must be one of {NORMALIZE_STATISTICS}, got {statistic!r}")
        steps.append((operation, statistic))
    return tuple(steps)


def _check_tree(where: str, params: Any, metrics: tuple[str, ...]) -> None:
    """Checks shared by the clustering sections: metric, linkage method and how the tree is cut."""
    require(params.metric in metrics, f"{where}.metric must be one of {metrics}, got {params.metric!r}")
    require(params.method in LINKAGE_METHODS,
             f"{where}.method must be one of {LINKAGE_METHODS}, got {params.method!r}")
    require(params.method != "ward" or params.metric == "euclidean",
             f"{where}.method 'ward' needs metric 'euclidean', got {params.metric!r}")
    check_number(f"{where}.n_clusters", params.n_clusters, low=1, high=MAX_COUNT, integer=True, null=True)
    check_number(f"{where}.threshold", params.threshold, low=0, null=True, unit="(linkage distance)")
    require(params.n_clusters is None or params.threshold is None,
             f"{where} takes n_clusters or threshold, not both")
    check_number(f"{where}.max_clusters", params.max_clusters, low=2, high=1000, integer=True)
    require(params.auto_cut in AUTO_CUTS, f"{where}.auto_cut must be one of {AUTO_CUTS}, got {params.auto_cut!r}")


@dataclass(frozen=True)
class CellClusteringParams:
    """Hierarchical clustering of cells by the power spectrum of their activity (see
    `element_calcium.compute.clustering`).

    Attributes:
        signal: the trace whose spectrum is taken: ``"denoised"`` (C), ``"dff"``, or ``"filtered"`` (C kept
            only at frames where the deconvolved spikes are positive, CalTrig's filtered C).
        psd: ``"welch"`` (averaged periodograms of ``segment_s`` segments) or ``"periodogram"`` (one FFT of the
            whole trace: finer frequency resolution, noisier).
        segment_s: (seconds) Welch segment length; a trace shorter than this is one segment.
        max_freq_hz: (Hz) highest frequency of the features; null: the Nyquist frequency. Calcium transients
            (decay 0.3-1 s) hold most of their power below 3 Hz; higher bins add mostly noise.
        scale: ``"log"`` (log10 of the PSD: compares activity levels and spectral shapes) or ``"power"``
            (the PSD as is, CalTrig's features).
        metric: ``"euclidean"`` or ``"cosine"`` (the angle between spectra: shape only; needs scale
            ``"power"``, as log-spectra change sign with the trace's units).
        method: linkage method of `scipy.cluster.hierarchy.linkage`; ``"ward"`` needs ``"euclidean"``.
        n_clusters: cut the tree into at most this many clusters.
        threshold: cut the tree at this merge height (distance units of the linkage).
        max_clusters: with neither n_clusters nor threshold, the automatic cut has at most this many clusters.
        silent_fraction: a cell whose total power is below this fraction of the median cell's is silent
            (excluded), in [0, 1).
        auto_cut: how the number of clusters is chosen with neither n_clusters nor threshold: ``"eigengap"``
            (the largest gap between the eigenvalues of the cells' normalised affinity) or ``"silhouette"``
            (the cut of 2..max_clusters clusters with the highest mean silhouette).
        section_event: a behaviour event type: only the frames within [-section_pre_s, +section_post_s) s of
            its events are used (CalTrig's sections), windows merged where they overlap and concatenated in
            time; null: the whole recording.
        section_pre_s: (s) start of each section before its event, >= 0.
        section_post_s: (s) end of each section after its event, > 0.

    ``ADDED_LATER``: the fields added after parameter sets were first stored; at their default they are left
    out of the parameter-set hash, so the hashes of sets stored before them do not change.
    """

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("auto_cut", "section_event", "section_pre_s", "section_post_s")

    signal: str = "denoised"
    psd: str = "welch"
    segment_s: float = 20.0
    max_freq_hz: float | None = 3.0
    scale: str = "log"
    metric: str = "euclidean"
    method: str = "ward"
    n_clusters: int | None = None
    threshold: float | None = None
    max_clusters: int = 10
    silent_fraction: float = 1e-6
    auto_cut: str = "eigengap"
    section_event: str | None = None
    section_pre_s: float = 2.0
    section_post_s: float = 8.0

    def __post_init__(self) -> None:
        where = "params cell_clustering"
        require(self.signal in CELL_SIGNALS, f"{where}.signal must be one of {CELL_SIGNALS}, got {self.signal!r}")
        require(self.psd in PSD_METHODS, f"{where}.psd must be one of {PSD_METHODS}, got {self.psd!r}")
        check_number(f"{where}.segment_s", self.segment_s, low=0, low_open=True, high=MAX_DURATION_S, unit="seconds")
        check_number(f"{where}.max_freq_hz", self.max_freq_hz, low=0, low_open=True, null=True, unit="Hz")
        require(self.scale in PSD_SCALES, f"{where}.scale must be one of {PSD_SCALES}, got {self.scale!r}")
        _check_tree(where, self, CELL_METRICS)
        require(self.metric != "cosine" or self.scale == "power",
                 f"{where}.metric 'cosine' needs scale 'power', got {self.scale!r}")
        check_number(f"{where}.silent_fraction", self.silent_fraction, low=0, high=1, high_open=True)
        require(self.section_event is None or (isinstance(self.section_event, str) and 0 < len(self.section_event)
                                               <= 32), f"{where}.section_event must be an event type name "
                f"(1-32 characters) or null, got {self.section_event!r}")
        check_number(f"{where}.section_pre_s", self.section_pre_s, low=0, high=MAX_PERI_EVENT_S, unit="seconds")
        check_number(f"{where}.section_post_s", self.section_post_s, low=0, low_open=True, high=MAX_PERI_EVENT_S,
                     unit="seconds")


@dataclass(frozen=True)
class EventClusteringParams:
    """Hierarchical clustering of event traces by shape (see `element_calcium.compute.clustering`).

    Attributes:
        normalize: steps applied to each event in order, a list of ``[operation, statistic]`` pairs (see
            `normalization_steps`); the default scales every event to [0, 1].
        length: frames every event is brought to: an integer >= 2, ``"longest"`` or ``"shortest"`` event.
            Longer events are cut at the end, shorter ones padded at the end.
        pad_mode: ``"edge"`` (repeat the last value) or ``"constant"`` (``pad_value``).
        pad_value: value of the padding with pad_mode ``"constant"``, in normalised units.
        metric: ``"euclidean"``, ``"correlation"`` (1 - Pearson r) or ``"dtw"`` (dynamic time warping within a
            Sakoe-Chiba band of ``dtw_band``).
        method: linkage method of `scipy.cluster.hierarchy.linkage`; ``"ward"`` needs ``"euclidean"``.
        n_clusters: cut the tree into at most this many clusters.
        threshold: cut the tree at this merge height (distance units of the linkage).
        max_clusters: with neither n_clusters nor threshold, the automatic cut has at most this many clusters.
        auto_cut: the automatic cut, as for cells: ``"eigengap"`` or ``"silhouette"``.
        dtw_band: half-width of the Sakoe-Chiba band of ``"dtw"`` as a fraction of the common length L, in
            [0, 1]: frame i of one event may be matched to frames i - w..i + w of the other, w = round(dtw_band
            L) (0: no warping, the euclidean distance; 1: unconstrained). Narrow by default: the rise and decay
            times that tell event shapes apart are what unconstrained warping removes.

    ``ADDED_LATER``: as for `CellClusteringParams`.
    """

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("auto_cut", "dtw_band")

    normalize: tuple[tuple[str, str], ...] = (("subtract", "min"), ("divide", "max"))
    length: int | str = "longest"
    pad_mode: str = "edge"
    pad_value: float = 0.0
    metric: str = "euclidean"
    method: str = "average"
    n_clusters: int | None = None
    threshold: float | None = None
    max_clusters: int = 10
    auto_cut: str = "eigengap"
    dtw_band: float = 0.05

    def __post_init__(self) -> None:
        where = "params event_clustering"
        object.__setattr__(self, "normalize", normalization_steps(self.normalize, f"{where}.normalize"))
        if self.length not in LENGTH_RULES:
            check_number(f"{where}.length", self.length, low=2, high=MAX_WINDOW_FRAMES, integer=True,
                         unit=f"frames or one of {LENGTH_RULES}")
        require(self.pad_mode in PAD_MODES, f"{where}.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        check_number(f"{where}.pad_value", self.pad_value)
        _check_tree(where, self, EVENT_METRICS)
        check_number(f"{where}.dtw_band", self.dtw_band, low=0, high=1)
