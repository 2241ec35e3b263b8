"""astroCAST's per-event shape properties (``characterize_event``: regionprops of the 3-D mask and of the 2-D
footprint), its ``Events.filter`` and ``Events.to_numpy``.

References: shapes of known geometry (an ellipse of known axes, a square, an L), scikit-image's regionprops on
the same regions, and events of simulated astrocyte movies.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from skimage.draw import ellipse
from skimage.measure import regionprops

from element_calcium.compute.events import (
    MASK_COLUMNS,
    EventShapes,
    detect_spatial_events,
    events_to_timeline,
    filter_events,
    footprint_properties,
    mask_properties,
)
from element_calcium.compute.params import SpatialEventParams
from element_calcium.simulate import simulate_astro
from element_calcium.stages.spatial_events import event_rows


def test_ellipse_footprint_has_its_axes_and_orientation():
    rows, cols = ellipse(60, 70, 12, 30, rotation=np.deg2rad(30))  # semi-axes 12 (rows) and 30 (columns)
    props = footprint_properties(rows, cols)
    assert props["fp_axis_major_length"] == pytest.approx(60, rel=0.02)
    assert props["fp_axis_minor_length"] == pytest.approx(24, rel=0.03)
    assert props["fp_eccentricity"] == pytest.approx(math.sqrt(1 - (12 / 30) ** 2), abs=0.01)
    assert props["fp_equivalent_diameter"] == pytest.approx(2 * math.sqrt(len(rows) / math.pi))
    assert props["fp_solidity"] == pytest.approx(1, abs=0.03)
    # the outline runs just outside the pixels and closes on itself
    contour = props["contour"]
    assert np.isfinite(contour).all() and np.allclose(contour[0], contour[-1])
    assert contour[:, 0].min() == pytest.approx(rows.min() - 0.1) and contour[:, 1].max() == pytest.approx(
        cols.max() + 0.1)


def test_square_and_l_shape_extent_solidity_and_perimeter():
    ys, xs = np.nonzero(np.ones((10, 10)))
    square = footprint_properties(ys + 5, xs + 3)
    assert square["fp_extent"] == 1 and square["fp_solidity"] == 1 and square["fp_area_convex"] == 100
    image = np.zeros((10, 10), dtype=np.uint8)
    image[:, :3] = image[-3:, :] = 1  # an L: 51 pixels in a 10 x 10 box
    ys, xs = np.nonzero(image)
    shape = footprint_properties(ys, xs)
    reference = regionprops(image)[0]
    assert shape["fp_extent"] == pytest.approx(51 / 100)
    for name in ("solidity", "perimeter", "feret_diameter_max", "orientation", "area_convex"):
        assert shape[f"fp_{name}"] == pytest.approx(getattr(reference, name)), name
    assert shape["fp_solidity"] < 0.8


def test_footprint_outline_of_a_ring_has_two_closed_parts():
    image = np.zeros((20, 20), dtype=bool)
    image[3:17, 3:17] = True
    image[8:12, 8:12] = False
    ys, xs = np.nonzero(image)
    contour = footprint_properties(ys, xs)["contour"]
    gaps = np.flatnonzero(np.isnan(contour[:, 0]))
    assert len(gaps) == 1
    for piece in (contour[: gaps[0]], contour[gaps[0] + 1 :]):
        assert np.allclose(piece[0], piece[-1])


def test_mask_properties_of_an_ellipsoid_match_its_axes():
    z, y, x = np.mgrid[-12:13, -12:13, -12:13]
    mask = (z / 12.0) ** 2 + (y / 6.0) ** 2 + (x / 4.0) ** 2 <= 1
    props = mask_properties(mask)
    assert props["mask_axis_major_length"] == pytest.approx(24, rel=0.05)
    assert props["mask_axis_minor_length"] == pytest.approx(8, rel=0.1)
    assert props["mask_equivalent_diameter"] == pytest.approx((6 * mask.sum() / math.pi) ** (1 / 3))
    assert props["mask_extent"] == pytest.approx(mask.sum() / (25 * 13 * 9))  # of its bounding box
    assert props["mask_centroid_local_z"] == pytest.approx(12 / 25)  # centre index over depth, as astroCAST
    assert math.isnan(mask_properties(mask[:1])["mask_axis_major_length"])  # one frame: astroCAST computes none


def _events_of(volume):
    labels, n = ndimage.label(volume)
    boxes = np.array([[s[0].start, s[0].stop, s[1].start, s[1].stop, s[2].start, s[2].stop]
                      for s in ndimage.find_objects(labels)])
    return labels, n, boxes


@pytest.mark.parametrize("chunk", [1, 9, 100])
def test_streamed_mask_properties_equal_regionprops_of_each_event(chunk):
    rng = np.random.default_rng(7)
    labels, n, boxes = _events_of(ndimage.gaussian_filter(rng.random((50, 40, 45)), 2) > 0.53)
    shapes = EventShapes(boxes)
    for start in range(0, len(labels), chunk):
        shapes.add(start, labels[start : start + chunk])
    table = shapes.table()
    assert len(table) == n > 20
    for index, box in enumerate(boxes):
        z0, z1, y0, y1, x0, x1 = box
        expected = mask_properties(labels[z0:z1, y0:y1, x0:x1] == index + 1)
        for name in MASK_COLUMNS:
            got, want = table[name][index], expected[name]
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-6), name
    assert np.isfinite(table["mask_solidity"]).sum() > n // 2


def test_stored_rows_carry_the_shape_of_each_detected_event():
    movie = simulate_astro(n_frames=200, height=64, width=64, n_waves=1, n_blobs=2, seed=1)
    frames = movie.render(0, 200)
    chunks = {}
    result = detect_spatial_events(lambda a, b: frames[a:b], 200, fps=movie.fps, device="cpu",
                                   params=SpatialEventParams(min_size=50),
                                   write_labels=lambda start, labels: chunks.__setitem__(start, labels.copy()))
    labels = result.label_lookup[np.concatenate([chunks[s] for s in sorted(chunks)])]
    shapes = EventShapes(result.events[["z0", "z1", "y0", "y1", "x0", "x1"]].to_numpy())
    shapes.add(0, labels)
    rows = event_rows(result, np.arange(200) / movie.fps, shapes.table())
    assert len(rows) == len(result.events) >= 3
    for row in rows:
        event = labels[row["z0"] : row["z1"], row["y0"] : row["y1"], row["x0"] : row["x1"]] == row["event_id"]
        footprint = event.any(axis=0).astype(np.uint8)
        reference = regionprops(footprint)[0]
        assert row["fp_perimeter"] == pytest.approx(reference.perimeter, rel=1e-6)
        assert row["fp_solidity"] == pytest.approx(reference.solidity, rel=1e-6)
        assert row["mask_solidity"] == pytest.approx(regionprops(event.astype(np.uint8))[0].solidity, rel=1e-6)
        assert row["contour"].dtype == np.float32 and row["contour"].shape[1] == 2


def _table():
    rng = np.random.default_rng(3)
    z0 = rng.integers(0, 80, 40)
    return pd.DataFrame({"event_id": np.arange(1, 41), "z0": z0, "z1": z0 + rng.integers(1, 25, 40),
                         "area": rng.integers(1, 60, 40), "snr": np.where(rng.random(40) < 0.2, np.nan,
                                                                          rng.random(40) * 10)})


@pytest.mark.parametrize("as_records", [False, True])
def test_filter_keeps_exactly_the_rows_in_the_ranges(as_records):
    table = _table()
    source = table.to_records(index=False) if as_records else table
    kept = filter_events(source, {"area": (10, None), "dz": (2, 20)})
    dz = table.z1 - table.z0
    expected = table.event_id[(table.area >= 10) & (dz >= 2) & (dz <= 20)]
    assert list(kept["event_id"]) == list(expected) and len(expected) > 5
    # both ends included; -1 as an open end (astroCAST); a missing value never passes
    edge = int(table.area.iloc[0])
    assert edge in list(filter_events(source, {"area": (edge, edge)})["area"])
    assert len(filter_events(source, {"area": (-1, -1)})) == len(table)
    assert list(filter_events(source, {"snr": (None, None)})["event_id"]) == list(table.event_id[table.snr.notna()])


def test_filter_refuses_unknown_properties_in_one_line():
    with pytest.raises(ValueError, match=r"unknown event property 'volume'; known properties: area, dz, event_id,"
                                         r" snr, z0, z1$"):
        filter_events(_table(), {"volume": (1, 2)})
    with pytest.raises(ValueError, match="must be a \\(low, high\\) pair"):
        filter_events(_table(), {"area": 3})


def test_timeline_places_each_trace_at_its_frames():
    traces = [np.array([1.0, 2.0, 0.0]), np.array([5.0])]
    timeline = events_to_timeline([2, 0], [5, 1], traces, 6)
    assert timeline.shape == (2, 6) and timeline.dtype == np.float32
    np.testing.assert_array_equal(timeline[0], [np.nan, np.nan, 1, 2, 0, np.nan])  # a 0 inside the event stays
    np.testing.assert_array_equal(timeline[1], [5, np.nan, np.nan, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(events_to_timeline([2, 0], [5, 1], traces, 6, empty_as_nan=False)[0],
                                  [0, 0, 1, 2, 0, 0])
    with pytest.raises(ValueError, match="event 0: frames 2..5 with a trace of 3 samples do not fit a recording"):
        events_to_timeline([2], [5], traces[:1], 4)
