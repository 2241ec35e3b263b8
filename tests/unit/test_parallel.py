"""Workers: a run with several workers gives the results of a serial run, bit for bit; the worker count is a run
setting that is checked and never hashed."""

import dataclasses
import threading
import time

import numpy as np
import pytest

from element_calcium.compute import parallel
from element_calcium.compute.cnmf import extract_sources
from element_calcium.compute.motion import correct_motion
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.simulate import simulate
from element_calcium.stages import RunSettings


def extract(frames, modality, *, workers, as_float=False):
    params = ProcessingParams.from_dict(default_params(modality))
    extraction = dataclasses.replace(params.extraction, patch_size=56, patch_overlap=24)
    source = frames.astype(np.float32) if as_float else frames
    return extract_sources(
        lambda s, e, y0, y1, x0, x1: source[s:e, y0:y1, x0:x1], frames.shape, modality=modality, params=extraction,
        deconvolution=params.deconvolution, cell_diameter=params.cell_diameter, device="cpu", workers=workers,
    )


def assert_identical(first, second):
    for field in dataclasses.fields(first):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if hasattr(a, "toarray"):
            a, b = a.toarray(), b.toarray()
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name


@pytest.mark.parametrize("modality", ["1p", "2p"])
def test_extraction_with_workers_is_bitwise_the_serial_result(modality):
    movie = simulate(mode=modality, n_frames=300, height=112, width=112, n_cells=14, max_shift=0.0, seed=21)
    frames = movie.render(0, len(movie))
    serial = extract(frames, modality, workers=1)
    assert serial.footprints.shape[1] > 0
    for workers in (2, 3):
        assert_identical(serial, extract(frames, modality, workers=workers))


def test_integer_movie_kept_in_its_dtype_gives_the_float32_result():
    movie = simulate(mode="2p", n_frames=200, height=64, width=64, n_cells=6, max_shift=0.0, seed=4)
    frames = movie.render(0, len(movie))
    assert frames.dtype.kind in "ui" and frames.dtype.itemsize <= 2
    assert_identical(extract(frames, "2p", workers=1), extract(frames, "2p", workers=1, as_float=True))


def test_motion_correction_with_workers_is_bitwise_the_serial_result():
    movie = simulate(mode="1p", n_frames=240, height=96, width=96, n_cells=10, max_shift=3.0, seed=8)
    frames = movie.render(0, len(movie))
    params = ProcessingParams.from_dict(default_params("1p")).motion

    def correct(workers):
        written = []
        result = correct_motion(lambda s, e: frames[s:e], len(frames), params=params, device="cpu",
                                chunk_frames=50, workers=workers, write_corrected=written.append)
        return result, np.concatenate(written)

    serial, serial_movie = correct(1)
    for workers in (2, 4):
        parallel_result, parallel_movie = correct(workers)
        np.testing.assert_array_equal(serial_movie, parallel_movie)
        for name in ("rigid_shifts", "template_correlation", "template", "mean_image", "correlation_image"):
            np.testing.assert_array_equal(getattr(serial, name), getattr(parallel_result, name), err_msg=name)


def test_ordered_map_keeps_the_order_of_the_items():
    def slow_square(value):
        time.sleep(0.002 * (5 - value % 5))
        return value * value

    assert list(parallel.ordered_map(slow_square, range(20), workers=3)) == [v * v for v in range(20)]
    assert list(parallel.ordered_map(slow_square, range(7), workers=1)) == [v * v for v in range(7)]


def test_ordered_map_raises_the_error_of_an_item():
    def fail_on_three(value):
        if value == 3:
            raise RuntimeError("item 3")
        return value

    with pytest.raises(RuntimeError, match="item 3"):
        list(parallel.ordered_map(fail_on_three, range(10), workers=2))


def test_read_ahead_reads_in_order_one_at_a_time():
    active, most = [0], [0]
    lock = threading.Lock()

    def read(index):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.001)
        with lock:
            active[0] -= 1
        return index

    assert list(parallel.read_ahead(read, range(12))) == list(range(12))
    assert most[0] == 1
    assert list(parallel.read_ahead(read, [])) == []


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        RunSettings(workers=workers)


def test_workers_default_to_the_cores_available():
    assert RunSettings().workers == parallel.available_cores() >= 1
