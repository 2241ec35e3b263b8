"""Processing parameters: frozen dataclasses with defaults, checked on construction.

A parameter set is a nested dictionary with one section per processing step. ``validate``
turns a user's dictionary into the complete, explicit dictionary that is stored and hashed:
unknown keys and out-of-range values are errors, never silently rewritten; keys the user left
out take the documented defaults of the modality. Later processing steps add their sections
to ``ProcessingParams``.

Every value is checked with the same rules (`check_number`): a number is an int or a float, never
a bool (``true`` is not a count of pixels) nor a string, and finite; each has the documented
range of its parameter. The upper bounds lie far beyond any sensible value, yet low enough that a
typo (``1e9``) is refused here rather than meeting an allocation:

- ``MAX_SIDE_PX`` (8192 pixels): lengths across a frame (shifts, patches, borders); wider than the
  frame of any calcium-imaging microscope.
- ``MAX_CELL_PX`` (256 pixels): sizes of one cell (diameter, Gaussian sigma, kernel radius); a
  25 um soma at 0.1 um per pixel, finer sampling than an imaging objective resolves.
- ``MAX_DURATION_S`` (86,400 s, a day): durations; longer than any recording.
- ``MAX_WINDOW_FRAMES`` (100,000 frames, about an hour at 30 Hz): windows of frames held in memory
  together; ``MAX_TEMPLATE_FRAMES`` (10,000) frames build a motion template.
- ``MAX_PERI_EVENT_S`` (600 s): the window before or after a behaviour event.
- ``MAX_COUNT`` (1,000,000): counts of components, clusters and shuffles.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

MODALITIES = ("1p", "2p")
BACKGROUND_MODELS = ("ring", "low_rank")
INIT_METHODS = ("greedy", "sparse_nmf")

MAX_SIDE_PX = 8192
MAX_CELL_PX = 256
MAX_DURATION_S = 86_400.0
MAX_WINDOW_FRAMES = 100_000
MAX_TEMPLATE_FRAMES = 10_000
MAX_PERI_EVENT_S = 600.0
MAX_COUNT = 1_000_000


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _real(value: Any) -> bool:
    """A finite real number (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    """An integer (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _range(low, high, low_open: bool, high_open: bool, integer: bool) -> str:
    """``"an integer >= 1 and <= 20"``, ``"in (0, 1]"``, ``"> 0"`` or ``"a finite number"``."""
    low_text = None if low is None else f"{'>' if low_open else '>='} {_text(low)}"
    high_text = None if high is None else f"{'<' if high_open else '<='} {_text(high)}"
    if integer:
        return " ".join(["an integer", " and ".join(t for t in (low_text, high_text) if t)]).rstrip()
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_text(low)}, {_text(high)}{')' if high_open else ']'}"
    return low_text or high_text or "a finite number"


def check_number(
    where: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    null: bool = False,
    unit: str = "",
) -> None:
    """Refuse ``value`` unless it is a number in its range; the message names the parameter ``where``.

    A number is an int or a finite float, never a bool or a string; ``integer`` asks for an int.
    ``low``/``high`` bound it (``low_open``/``high_open``: the bound itself is excluded); ``null``
    lets None through; ``unit`` (e.g. ``"pixels"``) is named in the message.

    Raises:
        ValueError: ``"<where> must be <range> <unit>[ or null], got <value>"``.
    """
    if value is None and null:
        return
    fits = _whole(value) if integer else _real(value)
    if fits and low is not None:
        fits = value > low if low_open else value >= low
    if fits and high is not None:
        fits = value < high if high_open else value <= high
    if not fits:
        wanted = _range(low, high, low_open, high_open, integer) + (f" {unit}" if unit else "")
        raise ValueError(f"{where} must be {wanted}{' or null' if null else ''}, got {value!r}")


def _flag(where: str, value: Any) -> None:
    _require(isinstance(value, bool), f"{where} must be true or false, got {value!r}")


def _pair(value: Any, where: str, *, low: int) -> tuple[int, int]:
    """Two integers (y, x) in [low, MAX_SIDE_PX] pixels."""
    _require(
        isinstance(value, (list, tuple)) and len(value) == 2
        and all(_whole(v) and low <= v <= MAX_SIDE_PX for v in value),
        f"{where} must be two integers (y, x) in [{low}, {MAX_SIDE_PX}] pixels, got {value!r}",
    )
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class MotionParams:
    """Motion correction (rigid, then optionally piecewise-rigid), NoRMCorre-style.

    Attributes:
        pw_rigid: after the rigid pass, register overlapping patches (piecewise-rigid).
        max_shift: (pixels) largest rigid shift searched, per axis.
        niter_rig: passes of template refinement: register, re-average, register again.
        template_frames: frames, spread evenly over the recording, that build the template.
        upsample_factor: sub-pixel precision of the shifts is 1/upsample_factor pixel.
        strides: (pixels, y x) step between patch origins (piecewise-rigid).
        overlaps: (pixels, y x) overlap of neighbouring patches; a patch is strides + overlaps.
        max_deviation_rigid: (pixels) largest patch shift away from the frame's rigid shift.
        upsample_factor_grid: patch shifts are interpolated on a grid this many times finer
            before being smoothed to every pixel.
        highpass: register a spatially high-pass filtered copy (difference of Gaussians) and
            apply the shifts to the raw frames; needed for one-photon data, whose smooth
            background otherwise dominates the correlation.
        gSig_filt: (pixels) sigma of the high-pass filter's inner Gaussian; None derives it from
            the size of the cells, measured on the recording's template frames (one tenth of their
            diameter; `element_calcium.compute.motion.estimate_cell_diameter`).
        compress: the high-passed frames are squashed, ``tanh(x / (compress * robust std))``,
            before they are correlated, so that a few flashing cells cannot outweigh the tissue's
            lasting structure; None correlates them as they are.
        outlier_shift: (pixels) a frame whose shift departs this far from the median of its
            neighbours' shifts is flagged as an outlier.
        outlier_corr_z: a frame whose correlation with the template falls this many robust
            standard deviations below the median is flagged as an outlier.
    """

    pw_rigid: bool
    max_shift: float
    niter_rig: int = 2
    template_frames: int = 300
    upsample_factor: int = 20
    strides: tuple[int, int] = (48, 48)
    overlaps: tuple[int, int] = (24, 24)
    max_deviation_rigid: float = 3.0
    upsample_factor_grid: int = 4
    highpass: bool = False
    gSig_filt: float | None = None
    compress: float | None = 1.0
    outlier_shift: float = 3.0
    outlier_corr_z: float = 5.0

    def __post_init__(self) -> None:
        where = "params motion"
        object.__setattr__(self, "strides", _pair(self.strides, f"{where}.strides", low=8))
        object.__setattr__(self, "overlaps", _pair(self.overlaps, f"{where}.overlaps", low=0))
        _flag(f"{where}.pw_rigid", self.pw_rigid)
        _flag(f"{where}.highpass", self.highpass)
        check_number(f"{where}.max_shift", self.max_shift, low=0, low_open=True, high=MAX_SIDE_PX, unit="pixels")
        check_number(f"{where}.niter_rig", self.niter_rig, low=1, high=100, integer=True)
        check_number(f"{where}.template_frames", self.template_frames, low=1, high=MAX_TEMPLATE_FRAMES,
                     integer=True, unit="frames")
        check_number(f"{where}.upsample_factor", self.upsample_factor, low=1, high=100, integer=True)
        check_number(f"{where}.max_deviation_rigid", self.max_deviation_rigid, low=0, high=MAX_SIDE_PX,
                     unit="pixels")
        check_number(f"{where}.upsample_factor_grid", self.upsample_factor_grid, low=1, high=16, integer=True)
        check_number(f"{where}.gSig_filt", self.gSig_filt, low=0, low_open=True, high=MAX_CELL_PX, null=True,
                     unit="pixels")
        check_number(f"{where}.compress", self.compress, low=0, low_open=True, high=1000, null=True,
                     unit="robust standard deviations")
        check_number(f"{where}.outlier_shift", self.outlier_shift, low=0, low_open=True, high=MAX_SIDE_PX,
                     unit="pixels")
        check_number(f"{where}.outlier_corr_z", self.outlier_corr_z, low=0, low_open=True, high=1000,
                     unit="robust standard deviations")


@dataclass(frozen=True)
class ExtractionParams:
    """Source extraction: CNMF-E (one-photon) or CNMF (two-photon).

    Attributes:
        gSig: (pixels) Gaussian sigma of a soma, used for the seed filter; None derives it from
            the parameter set's ``cell_diameter`` (diameter / 4).
        gSiz: (pixels, odd) side of the square around a seed that bounds a footprint's initial
            support and of the seed filter; None derives it from ``cell_diameter``
            (2 * round(diameter) + 1).
        min_corr: smallest local correlation (of the seed-filtered movie) of a seed pixel.
        min_pnr: smallest peak-to-noise ratio (of the seed-filtered movie) of a seed pixel.
        background: ``"ring"`` (one-photon CNMF-E ring model plus a constant per pixel) or
            ``"low_rank"`` (two-photon: ``nb`` spatial x temporal components).
        ring_size_factor: ring radius of the ring background model in units of ``gSiz / 2`` (CNMF-E): the
            radius is ``ring_size_factor * gSiz / 2`` pixels.
        nb: number of low-rank background components (``background="low_rank"``).
        init: ``"greedy"`` (seeds from the correlation x peak-to-noise image, strongest first)
            or ``"sparse_nmf"`` (two-photon only).
        max_components: largest number of components initialised per patch; None: no limit.
        merge_thr: components whose footprints overlap and whose traces correlate above this
            are merged.
        n_iterations: rounds of spatial and temporal updates after initialisation.
        min_pixels: components with fewer non-zero footprint pixels are removed.
        patch_size: (pixels) side of the square patches processed independently; a field of
            view no larger than this is processed whole. 144 covers a 256-pixel field of view with
            2 x 2 patches (128 would need 3 x 3, 1.8 times the pixels).
        patch_overlap: (pixels) overlap of neighbouring patches; at least a cell diameter so a
            cell on a border is whole in one of them.
        border_pix: (pixels) band along the edges of the field of view where no component is
            seeded; None: the largest shift of the recording's motion correction, rounded up
            (motion correction moves pixels in from outside the frame there).
    """

    gSig: float | None = None
    gSiz: int | None = None
    min_corr: float = 0.8
    min_pnr: float = 6.0
    background: str = "ring"
    ring_size_factor: float = 1.4
    nb: int = 1
    init: str = "greedy"
    max_components: int | None = None
    merge_thr: float = 0.8
    n_iterations: int = 2
    min_pixels: int = 10
    patch_size: int = 144
    patch_overlap: int = 32
    border_pix: int | None = None

    def __post_init__(self) -> None:
        where = "params extraction"
        check_number(f"{where}.gSig", self.gSig, low=0, low_open=True, high=MAX_CELL_PX, null=True, unit="pixels")
        check_number(f"{where}.gSiz", self.gSiz, low=3, high=2 * MAX_CELL_PX + 1, integer=True, null=True,
                     unit="pixels")
        _require(self.gSiz is None or self.gSiz % 2 == 1, f"{where}.gSiz must be odd, got {self.gSiz}")
        check_number(f"{where}.min_corr", self.min_corr, low=-1, high=1)
        check_number(f"{where}.min_pnr", self.min_pnr, low=0)
        _require(self.background in BACKGROUND_MODELS,
                 f"{where}.background must be one of {BACKGROUND_MODELS}, got {self.background!r}")
        check_number(f"{where}.ring_size_factor", self.ring_size_factor, low=0, low_open=True, high=10)
        check_number(f"{where}.nb", self.nb, low=0, high=100, integer=True)
        _require(self.init in INIT_METHODS, f"{where}.init must be one of {INIT_METHODS}, got {self.init!r}")
        check_number(f"{where}.max_components", self.max_components, low=1, high=MAX_COUNT, integer=True, null=True)
        check_number(f"{where}.merge_thr", self.merge_thr, low=0, low_open=True, high=1)
        check_number(f"{where}.n_iterations", self.n_iterations, low=1, high=100, integer=True)
        check_number(f"{where}.min_pixels", self.min_pixels, low=1, high=MAX_SIDE_PX**2, integer=True, unit="pixels")
        check_number(f"{where}.patch_size", self.patch_size, low=32, high=MAX_SIDE_PX, integer=True, unit="pixels")
        check_number(f"{where}.patch_overlap", self.patch_overlap, low=0, high=self.patch_size // 2, high_open=True,
                     integer=True, unit="pixels (patch_size / 2)")
        check_number(f"{where}.border_pix", self.border_pix, low=0, high=MAX_SIDE_PX, integer=True, null=True,
                     unit="pixels")


@dataclass(frozen=True)
class DeconvolutionParams:
    """Deconvolution of calcium traces into spikes (OASIS).

    Attributes:
        p: order of the autoregressive calcium model: 0 (no deconvolution: the trace is only made
            non-negative), 1 (instant rise, exponential decay) or 2 (finite rise and decay).
        s_min: smallest spike kept, in multiples of the trace's noise standard deviation; 0 keeps
            every positive spike the noise-constrained fit finds.
        noise_range: (fraction of the sampling rate) band of the power spectrum whose mean
            power gives the noise; (0.25, 0.5) is the upper half of the spectrum.
        optimize_g: refine the AR coefficients while fitting (otherwise estimated once from the
            autocovariance).
    """

    p: int = 1
    s_min: float = 0.0
    noise_range: tuple[float, float] = (0.25, 0.5)
    optimize_g: bool = False

    def __post_init__(self) -> None:
        where = "params deconvolution"
        value = self.noise_range
        _require(isinstance(value, (list, tuple)) and len(value) == 2 and all(_real(v) for v in value),
                 f"{where}.noise_range must be two numbers, got {value!r}")
        object.__setattr__(self, "noise_range", (float(value[0]), float(value[1])))
        _require(_whole(self.p) and self.p in (0, 1, 2), f"{where}.p must be 0, 1 or 2, got {self.p!r}")
        check_number(f"{where}.s_min", self.s_min, low=0, unit="noise standard deviations")
        low, high = self.noise_range
        _require(0 <= low < high <= 0.5,
                 f"{where}.noise_range must satisfy 0 <= low < high <= 0.5, got {self.noise_range}")
        _flag(f"{where}.optimize_g", self.optimize_g)


@dataclass(frozen=True)
class DffParams:
    """dF/F: fluorescence over a running-percentile baseline.

    Attributes:
        window_s: (seconds) length of the running window the baseline is taken over.
        percentile: percentile (0-100) of the window that is the baseline F0.
    """

    window_s: float = 30.0
    percentile: float = 8.0

    def __post_init__(self) -> None:
        check_number("params dff.window_s", self.window_s, low=0, low_open=True, high=MAX_DURATION_S, unit="seconds")
        check_number("params dff.percentile", self.percentile, low=0, high=100)


@dataclass(frozen=True)
class ClassificationParams:
    """Mask classification from component quality.

    Attributes:
        min_snr: a soma's trace peaks at least this many noise standard deviations.
        min_spatial_corr: a soma's footprint correlates at least this much with the movie
            where and when the component is active.
        min_area_factor, max_area_factor: a soma's area lies between these multiples of the area
            of a disc of diameter ``cell_diameter``.
        min_compactness: a soma's compactness (4 pi area / perimeter^2, 1 for a disc) is at
            least this; elongated components with good signal are dendrites.
    """

    min_snr: float = 3.0
    min_spatial_corr: float = 0.5
    min_area_factor: float = 0.15
    max_area_factor: float = 4.0
    min_compactness: float = 0.4

    def __post_init__(self) -> None:
        where = "params classification"
        check_number(f"{where}.min_snr", self.min_snr, low=0)
        check_number(f"{where}.min_spatial_corr", self.min_spatial_corr, low=-1, high=1)
        check_number(f"{where}.max_area_factor", self.max_area_factor, low=0, low_open=True, high=1000)
        check_number(f"{where}.min_area_factor", self.min_area_factor, low=0, high=self.max_area_factor,
                     high_open=True, unit="(below max_area_factor)")
        check_number(f"{where}.min_compactness", self.min_compactness, low=0, high=1)


@dataclass(frozen=True)
class ProcessingParams:
    """Compute parameters of one processing run.

    Attributes:
        modality: ``"1p"`` (one-photon, e.g. head-mounted Miniscope) or ``"2p"`` (two-photon).
        cell_diameter: (pixels) expected soma diameter; filters and patch sizes derive from it.
        motion: motion-correction parameters.
        extraction: source-extraction parameters.
        deconvolution: deconvolution parameters (used inside extraction and for spikes).
        dff: dF/F parameters.
        classification: mask-classification parameters.
    """

    modality: str
    cell_diameter: float
    motion: MotionParams
    extraction: ExtractionParams = ExtractionParams()
    deconvolution: DeconvolutionParams = DeconvolutionParams()
    dff: DffParams = DffParams()
    classification: ClassificationParams = ClassificationParams()

    def __post_init__(self) -> None:
        _require(self.modality in MODALITIES, f"params 'modality' must be one of {MODALITIES}, got {self.modality!r}")
        check_number("params cell_diameter", self.cell_diameter, low=0, low_open=True, high=MAX_CELL_PX,
                     unit="pixels")
        _require(self.modality == "2p" or self.extraction.init == "greedy",
                 "params extraction.init 'sparse_nmf' is for two-photon data; one-photon uses 'greedy'")

    def to_dict(self) -> dict[str, Any]:
        as_dict = dataclasses.asdict(self)
        for section in _SECTIONS:
            as_dict[section] = {name: list(v) if isinstance(v, tuple) else v for name, v in as_dict[section].items()}
        return as_dict

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> ProcessingParams:
        """Build from a complete parameter dictionary (as stored in ProcessingParamSet)."""
        sections = {name: section_type(**params.get(name, {})) for name, section_type in _SECTIONS.items()}
        return cls(**{**params, **sections})


_SECTIONS = {
    "motion": MotionParams,
    "extraction": ExtractionParams,
    "deconvolution": DeconvolutionParams,
    "dff": DffParams,
    "classification": ClassificationParams,
}

_DEFAULTS = {
    "1p": ProcessingParams(
        modality="1p",
        cell_diameter=12.0,
        motion=MotionParams(pw_rigid=False, max_shift=20.0, highpass=True),
        extraction=ExtractionParams(background="ring", init="greedy"),
    ),
    "2p": ProcessingParams(
        modality="2p",
        cell_diameter=12.0,
        motion=MotionParams(pw_rigid=True, max_shift=15.0),
        extraction=ExtractionParams(background="low_rank", init="greedy", min_corr=0.8, min_pnr=5.0),
    ),
}


def default_params(modality: str) -> dict[str, Any]:
    """The built-in parameter dictionary for ``modality`` (``"1p"`` or ``"2p"``)."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return _DEFAULTS[modality].to_dict()


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} in {where}; known: {sorted(defaults)}")
    merged = dict(defaults)
    for name, value in given.items():
        if isinstance(defaults[name], dict):
            if not isinstance(value, dict):
                raise ValueError(f"parameter section {where}.{name} must be a dictionary")
            merged[name] = _merge(defaults[name], value, f"{where}.{name}")
        else:
            merged[name] = value
    return merged


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` and return the complete parameter dictionary.

    Args:
        params: a (possibly partial) parameter dictionary; it must name its ``modality``.

    Returns:
        The full dictionary: the user's values plus the modality's defaults for the rest.

    Raises:
        ValueError: not a dictionary, no or unknown modality, an unknown key, a value out of range.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dictionary, got {type(params).__name__}")
    modality = params.get("modality")
    if modality not in MODALITIES:
        raise ValueError(f"params must name a 'modality' in {MODALITIES}, got {modality!r}")
    merged = _merge(default_params(modality), params, "params")
    return ProcessingParams.from_dict(merged).to_dict()


# --- events: calcium transients and behaviour-aligned windows ---------------------------------------------

NOISE_STATISTICS = ("mean", "median", "max")
ALTERNATIVES = ("two-sided", "greater", "less")


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
        _require(self.noise_statistic in NOISE_STATISTICS,
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
    """

    pre_s: float = 2.0
    post_s: float = 5.0
    resample_ms: float | None = None
    response_start_s: float = 0.0
    response_end_s: float = 1.0
    n_shuffles: int = 1000
    seed: int = 0
    alternative: str = "two-sided"

    def __post_init__(self) -> None:
        where = "params peri_event"
        check_number(f"{where}.pre_s", self.pre_s, low=0, low_open=True, high=MAX_PERI_EVENT_S, unit="seconds")
        check_number(f"{where}.post_s", self.post_s, low=0, low_open=True, high=MAX_PERI_EVENT_S, unit="seconds")
        check_number(f"{where}.resample_ms", self.resample_ms, low=1, high=1000 * MAX_PERI_EVENT_S, null=True,
                     unit="milliseconds")
        for name in ("response_start_s", "response_end_s"):
            check_number(f"{where}.{name}", getattr(self, name), low=0, high=MAX_PERI_EVENT_S, unit="seconds")
        _require(0 <= self.response_start_s < self.response_end_s <= self.post_s,
                 f"{where}.response_start_s and response_end_s must satisfy "
                 f"0 <= start < end <= post_s, got ({self.response_start_s!r}, {self.response_end_s!r})")
        check_number(f"{where}.n_shuffles", self.n_shuffles, low=1, high=MAX_COUNT, integer=True)
        check_number(f"{where}.seed", self.seed, low=0, high=2**32 - 1, integer=True)
        _require(self.alternative in ALTERNATIVES,
                 f"{where}.alternative must be one of {ALTERNATIVES}, got {self.alternative!r}")


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
    """

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

    def __post_init__(self) -> None:
        where = "params spatial_events"
        for name in ("use_smoothing", "use_spatial", "use_temporal", "fill_holes", "remove_objects"):
            _flag(f"{where}.{name}", getattr(self, name))
        check_number(f"{where}.window", self.window, low=2, high=MAX_WINDOW_FRAMES, integer=True, unit="frames")
        _require(self.method in DELTA_METHODS, f"{where}.method must be one of {DELTA_METHODS}, got {self.method!r}")
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
        _require(self.comb_type in COMB_TYPES, f"{where}.comb_type must be one of {COMB_TYPES}, got {self.comb_type!r}")
        _require(self.threshold is not None or self.use_spatial or self.use_temporal,
                 f"{where} needs use_spatial or use_temporal to be true, or a threshold")
        check_number(f"{where}.exclude_border", self.exclude_border, low=0, high=MAX_SIDE_PX, integer=True,
                     unit="pixels")
        check_number(f"{where}.area_threshold", self.area_threshold, low=1, high=MAX_SIDE_PX**2, integer=True,
                     unit="pixels")
        check_number(f"{where}.min_size", self.min_size, low=1, integer=True, unit="voxels")
        _require(_whole(self.connectivity) and self.connectivity in (1, 2, 3),
                 f"{where}.connectivity must be 1, 2 or 3, got {self.connectivity!r}")
        check_number(f"{where}.ring_width", self.ring_width, low=1, high=MAX_CELL_PX, integer=True, unit="pixels")
        check_number(f"{where}.noise_frames", self.noise_frames, low=2, high=MAX_WINDOW_FRAMES, integer=True,
                     unit="frames")




# --- clustering: cells by activity spectrum, events by shape -----------------------------------------------------

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
    _require(isinstance(instructions, (list, tuple)),
             f"{where} must be a list of [operation, statistic] pairs, got {instructions!r}")
    steps = []
    for position, step in enumerate(instructions):
        _require(isinstance(step, (list, tuple)) and len(step) == 2,
                 f"{where}[{position}] must be an [operation, statistic] pair, got {step!r}")
        operation, statistic = step
        _require(operation in NORMALIZE_OPERATIONS,
                 f"{where}[{position}] operation must be one of {NORMALIZE_OPERATIONS}, got {operation!r}")
        _require(statistic in NORMALIZE_STATISTICS,
                 f"{where}[{position}] statistic must be one of {NORMALIZE_STATISTICS}, got {statistic!r}")
        steps.append((operation, statistic))
    return tuple(steps)


def _check_tree(where: str, params: Any, metrics: tuple[str, ...]) -> None:
    """Checks shared by the clustering sections: metric, linkage method and how the tree is cut."""
    _require(params.metric in metrics, f"{where}.metric must be one of {metrics}, got {params.metric!r}")
    _require(params.method in LINKAGE_METHODS,
             f"{where}.method must be one of {LINKAGE_METHODS}, got {params.method!r}")
    _require(params.method != "ward" or params.metric == "euclidean",
             f"{where}.method 'ward' needs metric 'euclidean', got {params.metric!r}")
    check_number(f"{where}.n_clusters", params.n_clusters, low=1, high=MAX_COUNT, integer=True, null=True)
    check_number(f"{where}.threshold", params.threshold, low=0, null=True, unit="(linkage distance)")
    _require(params.n_clusters is None or params.threshold is None,
             f"{where} takes n_clusters or threshold, not both")
    check_number(f"{where}.max_clusters", params.max_clusters, low=2, high=1000, integer=True)


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
        max_clusters: with neither n_clusters nor threshold, the cut into 2..max_clusters clusters with the
            highest silhouette is taken.
        silent_fraction: a cell whose total power is below this fraction of the median cell's is silent
            (excluded), in [0, 1).
    """

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

    def __post_init__(self) -> None:
        where = "params cell_clustering"
        _require(self.signal in CELL_SIGNALS, f"{where}.signal must be one of {CELL_SIGNALS}, got {self.signal!r}")
        _require(self.psd in PSD_METHODS, f"{where}.psd must be one of {PSD_METHODS}, got {self.psd!r}")
        check_number(f"{where}.segment_s", self.segment_s, low=0, low_open=True, high=MAX_DURATION_S, unit="seconds")
        check_number(f"{where}.max_freq_hz", self.max_freq_hz, low=0, low_open=True, null=True, unit="Hz")
        _require(self.scale in PSD_SCALES, f"{where}.scale must be one of {PSD_SCALES}, got {self.scale!r}")
        _check_tree(where, self, CELL_METRICS)
        _require(self.metric != "cosine" or self.scale == "power",
                 f"{where}.metric 'cosine' needs scale 'power', got {self.scale!r}")
        check_number(f"{where}.silent_fraction", self.silent_fraction, low=0, high=1, high_open=True)


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
        metric: ``"euclidean"``, ``"correlation"`` (1 - Pearson r) or ``"dtw"`` (dynamic time warping; needs
            the optional package tslearn).
        method: linkage method of `scipy.cluster.hierarchy.linkage`; ``"ward"`` needs ``"euclidean"``.
        n_clusters: cut the tree into at most this many clusters.
        threshold: cut the tree at this merge height (distance units of the linkage).
        max_clusters: with neither n_clusters nor threshold, the cut into 2..max_clusters clusters with the
            highest silhouette is taken.
    """

    normalize: tuple[tuple[str, str], ...] = (("subtract", "min"), ("divide", "max"))
    length: int | str = "longest"
    pad_mode: str = "edge"
    pad_value: float = 0.0
    metric: str = "euclidean"
    method: str = "average"
    n_clusters: int | None = None
    threshold: float | None = None
    max_clusters: int = 10

    def __post_init__(self) -> None:
        where = "params event_clustering"
        object.__setattr__(self, "normalize", normalization_steps(self.normalize, f"{where}.normalize"))
        if self.length not in LENGTH_RULES:
            check_number(f"{where}.length", self.length, low=2, high=MAX_WINDOW_FRAMES, integer=True,
                         unit=f"frames or one of {LENGTH_RULES}")
        _require(self.pad_mode in PAD_MODES, f"{where}.pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        check_number(f"{where}.pad_value", self.pad_value)
        _check_tree(where, self, EVENT_METRICS)


# --- parameter sets of the event and clustering steps ------------------------------------------------------------

STEP_PARAMS = {
    "transients": TransientParams,
    "peri_event": PeriEventParams,
    "spatial": SpatialEventParams,
    "cell_clustering": CellClusteringParams,
    "event_clustering": EventClusteringParams,
}


def default_step_params(step: str) -> dict[str, Any]:
    """The built-in parameter dictionary of a ``step`` (one of ``STEP_PARAMS``)."""
    if step not in STEP_PARAMS:
        raise ValueError(f"step must be one of {tuple(STEP_PARAMS)}, got {step!r}")
    return _as_dict(STEP_PARAMS[step]())


def validate_step_params(step: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check the parameters of a ``step`` and return the complete dictionary (defaults filled in).

    Raises:
        ValueError: unknown step, not a dictionary, an unknown key or a value out of range.
    """
    defaults = default_step_params(step)
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dictionary, got {type(params).__name__}")
    merged = _merge(defaults, params, f"params {step}")
    return _as_dict(STEP_PARAMS[step](**merged))


def _as_dict(section) -> dict[str, Any]:
    return {name: list(v) if isinstance(v, tuple) else v for name, v in dataclasses.asdict(section).items()}
