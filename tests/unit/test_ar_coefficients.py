"""Each cell's AR coefficients stored with its deconvolved or denoised Activity trace (minian's ``g``), and its
pulse response drawn from them.

Ground truth: `simulate_traces` with one rise and one decay time constant per group of cells, so every cell's
calcium is the AR(2) process with roots exp(-1 / (tau fps)) of each: g1 = d + r, g2 = -d r. The coefficients are
estimated from the autocovariance with the noise measured in the upper half of the spectrum (the parameter set's
``noise_range``); the rise adds power there, so the estimate is close where the rise spans a few frames (here
tau_rise 0.2 s at 20 frames/s).
"""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import signal, sparse

from element_calcium import extraction_file
from element_calcium.compute.deconvolution import ar_pulse_response
from element_calcium.compute.params import validate
from element_calcium.plotting import plot_pulse_responses, pulse_responses
from element_calcium.simulate import simulate_traces
from element_calcium.stages.activity import ActivityInputs, run

FPS = 20.0
TAU_RISE_S, TAU_DECAY_S = 0.2, 1.0
PARAMS = validate({"modality": "1p", "deconvolution": {"p": 2}})


def true_g() -> np.ndarray:
    decay, rise = math.exp(-1.0 / (TAU_DECAY_S * FPS)), math.exp(-1.0 / (TAU_RISE_S * FPS))
    return np.array([decay + rise, -decay * rise])


@pytest.fixture(scope="module")
def cells():
    sim = simulate_traces(n_cells=6, n_frames=6000, fps=FPS, rate_hz=0.3, snr=8.0, tau_rise_s=(TAU_RISE_S,) * 2,
                          tau_decay_s=(TAU_DECAY_S,) * 2, seed=5)
    return sim, (50.0 + 100.0 * sim.dff).astype(np.float32)  # grey levels over a baseline of 50


def activity_inputs(method, fluorescence, **tool) -> ActivityInputs:
    return ActivityInputs(extraction_method=method, mask_ids=np.arange(len(fluorescence), dtype=np.int64) + 10,
                          fluorescence=fluorescence, background=None, fps=FPS, params=PARAMS,
                          tool_trace_ids=tool.pop("tool_trace_ids", np.zeros(0, np.int64)), **tool)


def stored_g(rows) -> list:
    return [row["ar_coefficients"] for row in rows.parts["Trace"]]


def test_stored_g_of_simulated_ar2_cells_is_the_truth(cells):
    _, fluorescence = cells
    denoised = stored_g(run(activity_inputs("denoised", fluorescence)))
    deconvolved = stored_g(run(activity_inputs("deconvolved", fluorescence)))
    assert all(g.dtype == np.float32 and g.shape == (2,) for g in denoised)
    np.testing.assert_array_equal(np.stack(denoised), np.stack(deconvolved))  # one fit gives both traces
    assert np.abs(np.stack(denoised) - true_g()).max() < 0.02
    assert stored_g(run(activity_inputs("dff", fluorescence))) == [None] * len(fluorescence)


def test_pulse_response_from_stored_g_is_the_simulated_kernel(cells):
    _, fluorescence = cells
    stored = stored_g(run(activity_inputs("denoised", fluorescence)))
    length = int(3 * TAU_DECAY_S * FPS)
    impulse = np.zeros(length)
    impulse[0] = 1.0
    kernel = signal.lfilter([1.0], np.concatenate(([1.0], -true_g())), impulse)  # the simulator's AR(2) filter
    responses = pulse_responses(stored, length=length)
    np.testing.assert_array_equal(responses[0], ar_pulse_response(stored[0], length=length)[1])
    assert np.abs(responses.argmax(axis=1) - kernel.argmax()).max() <= 1  # the rise peaks when the truth's does
    # g within 0.02 moves the decay time constant by up to a fifth; the shape stays within a tenth of the peak
    assert np.abs(responses / responses.max(axis=1, keepdims=True) - kernel / kernel.max()).max() < 0.1
    figure = plot_pulse_responses(stored + [None], fps=FPS, cell_ids=np.arange(len(stored) + 1))
    assert isinstance(figure, Figure) and len(figure.axes[0].lines) == len(stored)


def test_a_tools_stored_trace_keeps_the_tools_g_and_a_flat_trace_has_none(cells, tmp_path):
    sim, fluorescence = cells
    traces = np.concatenate([fluorescence[:2], np.full((1, fluorescence.shape[1]), 50.0, np.float32)])
    ids = np.array([10, 11, 12], np.int64)
    path = extraction_file.write_sources(tmp_path / "segmentation.h5", extraction_file.ExtractedSources(
        height=4, width=4, footprints=sparse.csc_array(np.eye(16, 3, dtype=np.float32)),
        mask_ids=ids, fluorescence=traces, background=None, denoised=sim.calcium[:3].copy(), spikes=None,
        dff=None, fps=FPS))
    tool_g = [np.array([1.5, -0.55], np.float32), None]
    rows = run(activity_inputs("denoised", traces, tool_trace_ids=ids[:2], tool_ar_coefficients=tool_g,
                               results_file=str(path)))
    g = stored_g(rows)
    np.testing.assert_array_equal(g[0], tool_g[0])
    assert g[1] is None  # the tool recorded none for this cell
    assert g[2] is None  # computed, but a constant trace has no AR model
    np.testing.assert_array_equal(rows.parts["Trace"][0]["activity_trace"], sim.calcium[0])
