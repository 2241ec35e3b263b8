"""Seeded populations with known activity classes, and event traces with known shapes, for testing clustering.

**Cells** (`simulate_cell_classes`): each activity class is a `CellClass` (mean spike rate, oscillation frequency
and depth). A cell of a class fires at most one spike a frame, with probability

    p(t) = rate_hz / fps * (1 + depth * sin(2 pi oscillation_hz t / fps + phase))

(phase drawn per cell, uniform), so a class differs from another in how often its cells fire and in the rhythm
of their firing. Every spike adds an AR(2) transient (time constants drawn per cell, as in
`element_calcium.simulate.simulate_traces`) whose peak is the spike's amplitude, drawn uniformly from ``amplitude``;
white noise of standard deviation ``noise`` is added.

**Events** (`simulate_event_shapes`): each shape is an `EventShape` (rise and decay time constants, frames, and
a length range). An event of a shape is ``amplitude * k(t) + noise`` over its length, with
``k(t) = (1 - exp(-t / rise)) * exp(-t / decay)`` scaled to peak 1, starting at 0 on the event's first frame,
and a constant baseline offset; amplitude, offset and length are drawn per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.special import comb

from element_calcium.simulate._checks import check_int, check_number
from element_calcium.simulate._traces import kernel_filter

__all__ = ["CLASS_CATALOGUE", "CellClass", "EventShape", "SimulatedClasses", "SimulatedEvents", "SimulatedSections",
           "adjusted_rand_index", "simulate_cell_classes", "simulate_cell_population", "simulate_event_shapes",
           "simulate_peri_event_classes"]


@dataclass(frozen=True)
class CellClass:
    """Firing of one activity class.

    Attributes:
        rate_hz: mean spike rate, spikes per second, >= 0.
        oscillation_hz: frequency of the rhythmic modulation of the rate, Hz (0: none).
        depth: modulation depth in [0, 1]; 1 silences the cell at the troughs.
    """

    rate_hz: float
    oscillation_hz: float = 0.0
    depth: float = 0.0


@dataclass(frozen=True)
class EventShape:
    """Shape of one class of events.

    Attributes:
        rise: rise time constant, frames, > 0.
        decay: decay time constant, frames, > 0.
        length: (low, high) range of event lengths, frames, 2 <= low <= high.
    """

    rise: float
    decay: float
    length: tuple[int, int]


DEFAULT_CLASSES = (
    CellClass(rate_hz=0.1),  # sparse, irregular
    CellClass(rate_hz=1.0, oscillation_hz=0.25, depth=1.0),  # busy, slow rhythm
    CellClass(rate_hz=1.0, oscillation_hz=1.0, depth=1.0),  # busy, fast rhythm
)
CLASS_CATALOGUE = (
    CellClass(rate_hz=0.05),  # nearly silent
    CellClass(rate_hz=0.3),  # moderate, irregular
    CellClass(rate_hz=1.5),  # busy, irregular
    CellClass(rate_hz=0.5, oscillation_hz=0.1, depth=1.0),  # slow waves of activity (10 s period)
    CellClass(rate_hz=1.0, oscillation_hz=0.4, depth=1.0),  # busy, slow rhythm
    CellClass(rate_hz=1.0, oscillation_hz=1.2, depth=1.0),  # busy, fast rhythm
    CellClass(rate_hz=0.15, oscillation_hz=0.25, depth=1.0),  # sparse, rhythmic
)
DEFAULT_SHAPES = (
    EventShape(rise=0.5, decay=3.0, length=(15, 25)),  # brief
    EventShape(rise=2.0, decay=20.0, length=(50, 70)),  # fast rise, slow decay
    EventShape(rise=10.0, decay=6.0, length=(50, 70)),  # slow rise
)


@dataclass(frozen=True)
class SimulatedClasses:
    """Traces of a population and the class of each cell.

    Attributes:
        dff: (N, T) float32 noisy dF/F.
        calcium: (N, T) float32 noise-free dF/F.
        spikes: (N, T) float32 spike amplitude at each spike's frame, 0 elsewhere.
        labels: (N,) int64 class of each cell (index into the classes).
        fps: frames per second.
    """

    dff: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    labels: np.ndarray
    fps: float


@dataclass(frozen=True)
class SimulatedEvents:
    """Event traces and the shape of each.

    Attributes:
        traces: E 1-D float64 arrays of different lengths (frames).
        labels: (E,) int64 shape of each event (index into the shapes).
    """

    traces: list
    labels: np.ndarray


def adjusted_rand_index(truth, found) -> float:
    """Agreement of two partitions, the adjusted Rand index (Hubert and Arabie 1985): 1 when identical, about
    0 for chance. From the contingency table: (index - expected) / (max - expected), pairs counted as comb(n, 2).

    Args:
        truth: (N,) class of each item (any labels).
        found: (N,) cluster of each item (any labels).
    """
    _, a = np.unique(np.asarray(truth), return_inverse=True)
    _, b = np.unique(np.asarray(found), return_inverse=True)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"truth and found must label the same >= 2 items, got {a.size} and {b.size}")
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    index = comb(table, 2).sum()
    rows, cols = comb(table.sum(axis=1), 2).sum(), comb(table.sum(axis=0), 2).sum()
    expected = rows * cols / comb(a.size, 2)
    if rows == cols == expected:
        return 1.0
    return float((index - expected) / ((rows + cols) / 2 - expected))


def _check_class(cell_class: CellClass, fps: float) -> None:
    check_number("rate_hz", cell_class.rate_hz, 0.0, fps / 2)
    check_number("oscillation_hz", cell_class.oscillation_hz, 0.0, fps / 2)
    check_number("depth", cell_class.depth, 0.0, 1.0)


def _class_spikes(rng, cell_class: CellClass, n_cells: int, n_frames: int, fps: float) -> np.ndarray:
    """(n_cells, T) 0/1 spikes at the class's modulated rate, one random phase per cell."""
    phase = rng.uniform(0.0, 2 * np.pi, (n_cells, 1))
    angle = 2 * np.pi * cell_class.oscillation_hz * np.arange(n_frames) / fps + phase
    probability = cell_class.rate_hz / fps * (1.0 + cell_class.depth * np.sin(angle))
    return (rng.random((n_cells, n_frames)) < probability).astype(np.float32)


def _class_sizes(n_per_class, n_classes: int) -> list[int]:
    if isinstance(n_per_class, (tuple, list)):
        if len(n_per_class) != n_classes:
            raise ValueError(f"n_per_class must give one size per class ({n_classes}), got {len(n_per_class)}")
        return [check_int(f"n_per_class[{i}]", n, 1) for i, n in enumerate(n_per_class)]
    return [check_int("n_per_class", n_per_class, 1)] * n_classes


def _transients(rng, spikes: np.ndarray, fps: float, tau_rise_s, tau_decay_s) -> np.ndarray:
    """(N, T) float32 AR(2) calcium of the spike trains, one pair of time constants drawn per cell."""
    calcium = np.empty_like(spikes)
    for cell in range(spikes.shape[0]):
        denominator, gain = kernel_filter(rng, fps, tau_rise_s, tau_decay_s)
        calcium[cell] = signal.lfilter([gain], denominator, spikes[cell])
    return calcium


def simulate_cell_classes(
    *,
    n_per_class: int | tuple[int, ...] = 10,
    classes: tuple[CellClass, ...] = DEFAULT_CLASSES,
    n_frames: int = 12000,
    fps: float = 20.0,
    amplitude: tuple[float, float] = (1.0, 1.5),
    noise: float = 0.1,
    tau_rise_s: tuple[float, float] = (0.04, 0.08),
    tau_decay_s: tuple[float, float] = (0.3, 0.7),
    seed: int = 0,
) -> SimulatedClasses:
    """Seeded dF/F of ``n_per_class`` cells of each class, class by class (cells 0..n-1 are class 0, ...).

    Args:
        n_per_class: cells per class, >= 1: one number for every class, or one per class (unequal sizes).
        classes: the activity classes.
        n_frames: T >= 1.
        fps: frames per second, > 0.
        amplitude: (low, high) peak dF/F of one spike's transient, 0 < low <= high.
        noise: standard deviation of the added white noise, dF/F, >= 0.
        tau_rise_s, tau_decay_s: (low, high) ranges of the transient time constants, seconds.
        seed: seed of every random draw.
    """
    sizes = _class_sizes(n_per_class, len(classes))
    n_frames = check_int("n_frames", n_frames, 1)
    fps = check_number("fps", fps, 0.0, strict=True)
    low = check_number("amplitude[0]", amplitude[0], 0.0, strict=True)
    high = check_number("amplitude[1]", amplitude[1], low)
    noise = check_number("noise", noise, 0.0)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    for cell_class in classes:
        _check_class(cell_class, fps)
    spikes = np.concatenate([_class_spikes(rng, c, n, n_frames, fps) for c, n in zip(classes, sizes)])
    spikes *= rng.uniform(low, high, spikes.shape).astype(np.float32)
    calcium = _transients(rng, spikes, fps, tau_rise_s, tau_decay_s)
    dff = calcium + noise * rng.standard_normal(calcium.shape, dtype=np.float32)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), sizes)
    return SimulatedClasses(dff=dff, calcium=calcium, spikes=spikes, labels=labels, fps=fps)


def simulate_cell_population(n_classes: int, *, seed: int = 0, sizes: tuple[int, int] = (4, 24),
                             n_frames: int = 12000, fps: float = 20.0) -> SimulatedClasses:
    """A population of ``n_classes`` classes drawn from ``CLASS_CATALOGUE`` (without replacement), each of a
    size drawn uniformly from ``sizes`` (so classes differ in size), simulated by `simulate_cell_classes`.

    Args:
        n_classes: classes, 1..len(CLASS_CATALOGUE).
        seed: seed of the draws and of the simulation.
        sizes: (low, high) cells per class, inclusive, 1 <= low <= high.
        n_frames, fps: as `simulate_cell_classes`.

    Returns:
        `SimulatedClasses`; ``labels`` index the classes in the order drawn.
    """
    n_classes = check_int("n_classes", n_classes, 1, len(CLASS_CATALOGUE))
    low = check_int("sizes[0]", sizes[0], 1)
    high = check_int("sizes[1]", sizes[1], low)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    chosen = rng.choice(len(CLASS_CATALOGUE), size=n_classes, replace=False)
    counts = tuple(int(n) for n in rng.integers(low, high + 1, n_classes))
    return simulate_cell_classes(n_per_class=counts, classes=tuple(CLASS_CATALOGUE[i] for i in chosen),
                                 n_frames=n_frames, fps=fps, seed=seed)


@dataclass(frozen=True)
class SimulatedSections:
    """A population whose classes differ only around behaviour events, crossed with background classes that
    differ everywhere else.

    Attributes:
        dff: (N, T) float32 noisy dF/F.
        labels: (N,) int64 response class of each cell (how it fires within ``response_s`` after each event).
        background_labels: (N,) int64 background class (how it fires outside those windows).
        event_times: (E,) float64 s, 0 at the first frame.
        frame_times: (T,) float64 s of each frame.
        response_s: seconds after each event during which cells fire by their response class.
        fps: frames per second.
    """

    dff: np.ndarray
    labels: np.ndarray
    background_labels: np.ndarray
    event_times: np.ndarray
    frame_times: np.ndarray
    response_s: float
    fps: float


RESPONSE_CLASSES = (
    CellClass(rate_hz=0.1),  # quiet after the event
    CellClass(rate_hz=0.6),  # moderately excited
    CellClass(rate_hz=3.0),  # strongly excited
)
BACKGROUND_CLASSES = (
    CellClass(rate_hz=0.1),  # sparse, irregular
    CellClass(rate_hz=0.6, oscillation_hz=0.2, depth=1.0),  # busy, slow rhythm
)


def simulate_peri_event_classes(*, n_per_class: int = 10, responses: tuple[CellClass, ...] = RESPONSE_CLASSES,
                                backgrounds: tuple[CellClass, ...] = BACKGROUND_CLASSES, n_events: int = 30,
                                response_s: float = 6.0, n_frames: int = 12000, fps: float = 20.0,
                                noise: float = 0.1, seed: int = 0) -> SimulatedSections:
    """Seeded dF/F of cells that fire by their response class within ``response_s`` after each event and by
    their background class elsewhere; cell i of a response class has background class i mod len(backgrounds),
    so the two groupings cross. Events are one per equal slot of the recording, at a random time in the slot
    such that each response window ends inside it (windows never overlap). Spikes, transients (amplitude 1-1.5,
    decay 0.3-0.7 s) and noise as `simulate_cell_classes`.

    Args:
        n_per_class: cells per response class, >= 1.
        responses, backgrounds: the classes.
        n_events: events, >= 1, with n_frames / fps / n_events > response_s.
        response_s: seconds, > 0.
        n_frames, fps, noise, seed: as `simulate_cell_classes`.
    """
    n_per_class = check_int("n_per_class", n_per_class, 1)
    n_events = check_int("n_events", n_events, 1)
    n_frames = check_int("n_frames", n_frames, 2)
    fps = check_number("fps", fps, 0.0, strict=True)
    slot = n_frames / fps / n_events
    response_s = check_number("response_s", response_s, 0.0, slot, strict=True)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    for cell_class in (*responses, *backgrounds):
        _check_class(cell_class, fps)
    event_times = slot * np.arange(n_events) + rng.uniform(0.0, slot - response_s, n_events)
    frame_times = np.arange(n_frames) / fps
    inside = np.zeros(n_frames, dtype=bool)
    for time in event_times:
        inside |= (frame_times >= time) & (frame_times < time + response_s)
    labels = np.repeat(np.arange(len(responses), dtype=np.int64), n_per_class)
    background_labels = np.tile(np.arange(n_per_class) % len(backgrounds), len(responses)).astype(np.int64)
    spikes = np.empty((labels.size, n_frames), dtype=np.float32)
    for cell, (response, background) in enumerate(zip(labels, background_labels)):
        spikes[cell] = np.where(inside, _class_spikes(rng, responses[response], 1, n_frames, fps)[0],
                                _class_spikes(rng, backgrounds[background], 1, n_frames, fps)[0])
    spikes *= rng.uniform(1.0, 1.5, spikes.shape).astype(np.float32)
    calcium = _transients(rng, spikes, fps, (0.04, 0.08), (0.3, 0.7))
    dff = calcium + check_number("noise", noise, 0.0) * rng.standard_normal(calcium.shape, dtype=np.float32)
    return SimulatedSections(dff=dff, labels=labels, background_labels=background_labels, event_times=event_times,
                             frame_times=frame_times, response_s=response_s, fps=fps)


def _kernel(shape: EventShape, length: int) -> np.ndarray:
    t = np.arange(length, dtype=np.float64)
    kernel = (1.0 - np.exp(-t / shape.rise)) * np.exp(-t / shape.decay)
    return kernel / kernel.max()


def simulate_event_shapes(
    *,
    n_per_shape: int = 20,
    shapes: tuple[EventShape, ...] = DEFAULT_SHAPES,
    amplitude: tuple[float, float] = (0.5, 3.0),
    offset: tuple[float, float] = (-1.0, 1.0),
    snr: float = 20.0,
    seed: int = 0,
) -> SimulatedEvents:
    """Seeded events of each shape, shape by shape, with random amplitude, baseline offset and length.

    Args:
        n_per_shape: events per shape, >= 1.
        shapes: the event shapes.
        amplitude: (low, high) peak above the event's baseline, 0 < low <= high.
        offset: (low, high) constant baseline added to each event.
        snr: peak over the standard deviation of the added white noise, > 0.
        seed: seed of every random draw.
    """
    n_per_shape = check_int("n_per_shape", n_per_shape, 1)
    low = check_number("amplitude[0]", amplitude[0], 0.0, strict=True)
    high = check_number("amplitude[1]", amplitude[1], low)
    snr = check_number("snr", snr, 0.0, strict=True)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    traces = []
    for shape in shapes:
        for _ in range(n_per_shape):
            length = check_int("length", int(rng.integers(shape.length[0], shape.length[1] + 1)), 2)
            peak = rng.uniform(low, high)
            trace = peak * (_kernel(shape, length) + rng.standard_normal(length) / snr) + rng.uniform(*offset)
            traces.append(trace)
    labels = np.repeat(np.arange(len(shapes), dtype=np.int64), n_per_shape)
    return SimulatedEvents(traces=traces, labels=labels)
