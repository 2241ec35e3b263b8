"""Parameters of the processing chain (motion correction, source extraction, deconvolution, dF/F, mask
classification) and their defaults per modality."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from element_calcium.compute.params._rules import (
    MAX_CELL_PX,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_SIDE_PX,
    MAX_TEMPLATE_FRAMES,
    check_flag,
    check_number,
    check_pair,
    is_real,
    is_whole,
    merge,
    require,
)

MODALITIES = ("1p", "2p")
BACKGROUND_MODELS = ("ring", "low_rank")
INIT_METHODS = ("greedy", "sparse_nmf")
MAX_CHANNEL = 3  # the last 0-based channel a recording may have (imaging.Channel holds 0 to 3)
OPTIONAL_FIELDS = {"functional_channel": 0, "align_channel": None}  # stored only when they differ from these


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
        object.__setattr__(self, "strides", check_pair(self.strides, f"{where}.strides", low=8))
        object.__setattr__(self, "overlaps", check_pair(self.overlaps, f"{where}.overlaps", low=0))
        check_flag(f"{where}.pw_rigid", self.pw_rigid)
        check_flag(f"{where}.highpass", self.highpass)
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
        require(self.gSiz is None or self.gSiz % 2 == 1, f"{where}.gSiz must be odd, got {self.gSiz}")
        check_number(f"{where}.min_corr", self.min_corr, low=-1, high=1)
        check_number(f"{where}.min_pnr", self.min_pnr, low=0)
        require(self.background in BACKGROUND_MODELS,
                 f"{where}.background must be one of {BACKGROUND_MODELS}, got {self.background!r}")
        check_number(f"{where}.ring_size_factor", self.ring_size_factor, low=0, low_open=True, high=10)
        check_number(f"{where}.nb", self.nb, low=0, high=100, integer=True)
        require(self.init in INIT_METHODS, f"{where}.init must be one of {INIT_METHODS}, got {self.init!r}")
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
        require(isinstance(value, (list, tuple)) and len(value) == 2 and all(is_real(v) for v in value),
                 f"{where}.noise_range must be two numbers, got {value!r}")
        object.__setattr__(self, "noise_range", (float(value[0]), float(value[1])))
        require(is_whole(self.p) and self.p in (0, 1, 2), f"{where}.p must be 0, 1 or 2, got {self.p!r}")
        check_number(f"{where}.s_min", self.s_min, low=0, unit="noise standard deviations")
        low, high = self.noise_range
        require(0 <= low < high <= 0.5,
                 f"{where}.noise_range must satisfy 0 <= low < high <= 0.5, got {self.noise_range}")
        check_flag(f"{where}.optimize_g", self.optimize_g)


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
        functional_channel: 0-based channel of the recording whose cells are found and whose traces are read
            (e.g. GCaMP); its motion-corrected movie is the one segmented.
        align_channel: 0-based channel the motion is measured on (e.g. a structural tdTomato channel, bright and
            steady where the functional channel is dim and sparse); its shifts are applied to the functional
            channel (suite2p's ``align_by_chan``). None measures the motion on the functional channel itself.

    ``functional_channel`` and ``align_channel`` are stored only when they differ from their defaults (0 and
    None), so parameter sets made before they existed keep their content and their hash (`OPTIONAL_FIELDS`).
    """

    modality: str
    cell_diameter: float
    motion: MotionParams
    extraction: ExtractionParams = ExtractionParams()
    deconvolution: DeconvolutionParams = DeconvolutionParams()
    dff: DffParams = DffParams()
    classification: ClassificationParams = ClassificationParams()
    functional_channel: int = 0
    align_channel: int | None = None

    def __post_init__(self) -> None:
        require(self.modality in MODALITIES, f"params 'modality' must be one of {MODALITIES}, got {self.modality!r}")
        check_number("params cell_diameter", self.cell_diameter, low=0, low_open=True, high=MAX_CELL_PX,
                     unit="pixels")
        require(self.modality == "2p" or self.extraction.init == "greedy",
                 "params extraction.init 'sparse_nmf' is for two-photon data; one-photon uses 'greedy'")
        check_number("params functional_channel", self.functional_channel, low=0, high=MAX_CHANNEL, integer=True)
        check_number("params align_channel", self.align_channel, low=0, high=MAX_CHANNEL, integer=True, null=True)

    @property
    def reference_channel(self) -> int:
        """The channel the motion is measured on: ``align_channel``, or the functional channel when it is None."""
        return self.functional_channel if self.align_channel is None else self.align_channel

    def to_dict(self) -> dict[str, Any]:
        as_dict = dataclasses.asdict(self)
        for section in _SECTIONS:
            as_dict[section] = {name: list(v) if isinstance(v, tuple) else v for name, v in as_dict[section].items()}
        for name, default in OPTIONAL_FIELDS.items():
            if as_dict[name] == default:
                del as_dict[name]
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
    given = {name: value for name, value in params.items() if name not in OPTIONAL_FIELDS}
    optional = {name: value for name, value in params.items() if name in OPTIONAL_FIELDS}
    merged = merge(default_params(modality), given, "params")
    return ProcessingParams.from_dict({**merged, **optional}).to_dict()
