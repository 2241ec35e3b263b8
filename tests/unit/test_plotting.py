"""Figures and movies of element_calcium.plotting, drawn headless from simulated data."""

import io
import subprocess
import sys

import imageio
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import EventCollection, LineCollection
from matplotlib.path import Path
from scipy import sparse
from scipy.cluster import hierarchy

from element_calcium import plotting
from element_calcium.simulate import simulate

matplotlib.use("Agg")

FPS = 20.0


@pytest.fixture(scope="module")
def sim():
    return simulate(n_frames=30, height=33, width=47, n_cells=6, fps=FPS, seed=3)


@pytest.fixture(scope="module")
def movie(sim):
    return sim.render(0, len(sim))


@pytest.fixture(scope="module")
def footprints(sim):
    """(H * W, N) CSC footprints, pixel row y * W + x."""
    fp = sim.truth.footprints
    return sparse.csc_array(fp.reshape(-1, fp.shape[2]))


@pytest.fixture(scope="module")
def mask_rows(sim):
    """The footprints as Segmentation.Mask rows, ids 10, 11, ..."""
    fp = sim.truth.footprints
    rows = []
    for n in range(fp.shape[2]):
        y, x = np.nonzero(fp[:, :, n])
        rows.append({"mask_id": 10 + n, "mask_xpix": x.astype(np.int32), "mask_ypix": y.astype(np.int32),
                     "mask_weights": fp[y, x, n]})
    return rows


def render(figure):
    figure.savefig(io.BytesIO(), format="png")
    return figure


def gid_collections(ax, prefix):
    return [c for c in ax.collections if isinstance(c, LineCollection) and (c.get_gid() or "").startswith(prefix)]


def test_imports_without_datajoint_or_pyplot():
    code = ("import sys; sys.modules['datajoint'] = None; import element_calcium.plotting; "
            "print('matplotlib.pyplot' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- motion and summary images


def test_plot_motion_rigid_marks_outliers(sim):
    shifts = sim.truth.shifts
    fig = render(plotting.plot_motion(shifts[:, 0], shifts[:, 1], fps=FPS, outlier_frames=[3, 7]))
    (ax,) = fig.axes
    y_line, x_line, outliers = ax.lines
    assert np.allclose(y_line.get_ydata(), shifts[:, 0]) and np.allclose(x_line.get_ydata(), shifts[:, 1])
    assert np.isclose(y_line.get_xdata()[-1], (len(shifts) - 1) / FPS)
    assert outliers.get_label() == "outlier"
    assert np.allclose(outliers.get_xdata(), np.array([3, 7, 3, 7]) / FPS)


def test_plot_motion_blocks_are_images(sim):
    shifts = sim.truth.shifts
    mask = np.zeros(len(shifts), bool)
    mask[5] = True
    rng = np.random.default_rng(0)
    block_y, block_x = rng.normal(size=(2, 9, len(shifts)))
    fig = render(plotting.plot_motion(shifts[:, 0], shifts[:, 1], outlier_frames=mask,
                                      block_y_shifts=block_y, block_x_shifts=block_x))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [im.get_array().shape for im in images] == [(9, len(shifts))] * 2
    low, high = images[0].get_clim()
    assert low == -high == -np.abs([block_y, block_x]).max()
    assert fig.axes[0].lines[2].get_xdata().tolist() == [5, 5]  # frame numbers without fps


def test_plot_motion_rejects_bad_input():
    with pytest.raises(ValueError, match="x_shifts"):
        plotting.plot_motion(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="together"):
        plotting.plot_motion(np.zeros(5), np.zeros(5), block_y_shifts=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="outlier_frames"):
        plotting.plot_motion(np.zeros(5), np.zeros(5), outlier_frames=[5])


def test_plot_summary_images(movie):
    images = {"average": movie.mean(0), "max": movie.max(0), "correlation": np.full(movie.shape[1:], np.nan)}
    fig = render(plotting.plot_summary_images(images))
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == list(images)
    assert np.allclose(panels[0].images[0].get_array(), images["average"])
    with pytest.raises(ValueError, match="images"):
        plotting.plot_summary_images({})
    with pytest.raises(ValueError, match="'max'"):
        plotting.plot_summary_images({"max": movie})


# ---------------------------------------------------------------- footprints


def test_footprint_contours_one_outline_and_label_per_mask(movie, mask_rows):
    categories = {10: "soma", 11: "dendrite", 12: "soma"}  # the rest unclassified
    fig = render(plotting.plot_footprint_contours(movie.mean(0), mask_rows, colors_by=categories))
    ax = fig.axes[0]
    outlines = gid_collections(ax, "mask ")
    assert [c.get_gid() for c in outlines] == [f"mask {row['mask_id']}" for row in mask_rows]
    assert [t.get_text() for t in ax.texts] == [str(row["mask_id"]) for row in mask_rows]
    for outline, text in zip(outlines, ax.texts):  # each label sits inside its own outline
        assert any(Path(segment).contains_point(text.get_position()) for segment in outline.get_segments())
    colors = [tuple(c.get_colors()[0]) for c in outlines]
    assert colors[0] == colors[2] != colors[1]
    assert len({colors[3], colors[4], colors[5]}) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["dendrite", "soma", "none"]


def test_footprint_contours_from_fetched_rows(movie, mask_rows):
    """DataJoint's fetch() returns a structured array (blobs as objects); fetch(format="frame") a DataFrame."""
    records = np.empty(len(mask_rows), dtype=[(name, object) for name in mask_rows[0]])
    for record, row in zip(records, mask_rows):
        for name, value in row.items():
            record[name] = value
    for masks in (records, pd.DataFrame(mask_rows)):
        ax = render(plotting.plot_footprint_contours(movie.mean(0), masks)).axes[0]
        assert len(gid_collections(ax, "mask ")) == len(ax.texts) == 6


def test_footprint_contours_from_matrix(movie, footprints):
    ids = np.array([5, 6, 7, 8, 9, 4])
    fig = render(plotting.plot_footprint_contours(movie.mean(0), footprints, mask_ids=ids, fraction=0.3,
                                                  labels=[f"c{i}" for i in ids]))
    ax = fig.axes[0]
    assert len(gid_collections(ax, "mask ")) == 6
    assert [t.get_text() for t in ax.texts] == [f"c{i}" for i in ids]


def test_footprint_contours_rejects_bad_masks(movie, mask_rows, footprints):
    outside = dict(mask_rows[0], mask_xpix=mask_rows[0]["mask_xpix"] + 100)
    with pytest.raises(ValueError, match="outside"):
        plotting.plot_footprint_contours(movie.mean(0), [outside])
    with pytest.raises(ValueError, match="mask_ids"):
        plotting.plot_footprint_contours(movie.mean(0), mask_rows, mask_ids=[1])
    with pytest.raises(ValueError, match="H \\* W"):
        plotting.plot_footprint_contours(movie.mean(0)[:-1], footprints)
    with pytest.raises(ValueError, match="colors_by"):
        plotting.plot_footprint_contours(movie.mean(0), mask_rows, colors_by=["soma"])


# ---------------------------------------------------------------- cells and traces


def test_plot_cell(sim):
    footprint = sim.truth.footprints[:, :, 0]
    trace, spikes = sim.truth.calcium[0], sim.truth.spikes[0]
    fig = render(plotting.plot_cell(footprint[5:20, 5:20], trace, fps=FPS, spikes=spikes, cell_id=3))
    left, right = fig.axes
    assert left.images[0].get_array().shape == (15, 15) and left.get_title() == "cell 3"
    assert np.isclose(right.lines[0].get_xdata()[-1], (trace.size - 1) / FPS)
    (ticks,) = gid_collections(right, "spikes")
    assert len(ticks.get_segments()) == np.count_nonzero(spikes)


def test_plot_traces_stacks_rows_in_order(sim):
    calcium, spikes = sim.truth.calcium, sim.truth.spikes
    order = np.array([2, 0, 5, 1, 4, 3])
    fig = render(plotting.plot_traces(calcium, fps=FPS, spikes=spikes, order=order, cell_ids=np.arange(6) + 100))
    ax = fig.axes[0]
    (traces,) = gid_collections(ax, "traces")
    segments = traces.get_segments()
    assert len(segments) == 6
    tops = [segment[:, 1].mean() for segment in segments]
    assert tops == sorted(tops, reverse=True)  # first of order on top
    labels = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in labels] == [str(100 + i) for i in order]
    (ticks,) = gid_collections(ax, "spikes")
    assert len(ticks.get_segments()) == np.count_nonzero(spikes)
    with pytest.raises(ValueError, match="order"):
        plotting.plot_traces(calcium, fps=FPS, order=[0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="spikes"):
        plotting.plot_traces(calcium, fps=FPS, spikes=spikes[:, :-1])
    with pytest.raises(ValueError, match="fps"):
        plotting.plot_traces(calcium, fps=0)


def path_length(points, order):
    return np.linalg.norm(np.diff(points[order], axis=0), axis=1).sum()


def test_nn_walk_order_walks_neighbours():
    points = np.random.default_rng(7).uniform(0, 500, size=(200, 2))
    order = plotting.nn_walk_order(points)
    assert np.array_equal(np.sort(order), np.arange(200))
    assert order[0] == np.argmin(points.sum(axis=1))
    assert path_length(points, order) < 0.5 * path_length(points, np.arange(200))
    line = np.column_stack([np.zeros(8), np.array([3.0, 0.0, 7.0, 1.0, 6.0, 2.0, 5.0, 4.0])])
    assert np.array_equal(line[plotting.nn_walk_order(line), 1], np.arange(8.0))
    assert plotting.nn_walk_order(np.empty((0, 2))).size == 0
    with pytest.raises(ValueError, match="centroids"):
        plotting.nn_walk_order(np.zeros((4, 3)))


def test_nn_sort_gives_each_cells_place_in_the_walk_as_minian():
    """minian's NNsort: start at the smallest height + width, step to the nearest unvisited cell; the
    result holds, for each cell, the step at which it is visited. Here the walk is 1 (0, 0) -> 2 (0, 5)
    -> 0 (10, 10) -> 3 (20, 20), so the places are 2, 0, 1, 3."""
    centroids = np.array([[10.0, 10.0], [0.0, 0.0], [0.0, 5.0], [20.0, 20.0]])
    assert plotting.nn_walk_order(centroids).tolist() == [1, 2, 0, 3]
    assert plotting.nn_sort(centroids).tolist() == [2, 0, 1, 3]
    points = np.random.default_rng(8).uniform(0, 100, size=(50, 2))
    assert np.array_equal(np.argsort(plotting.nn_sort(points)), plotting.nn_walk_order(points))
    assert plotting.nn_sort(np.empty((0, 2))).size == 0
    with pytest.raises(ValueError, match="centroids"):
        plotting.nn_sort(np.zeros((4, 3)))


def test_plot_raster_from_raster_and_from_frames(sim):
    raster = sim.truth.spikes > 0
    fig = render(plotting.plot_raster(raster, fps=FPS))
    rows = [c for c in fig.axes[0].collections if isinstance(c, EventCollection)]
    assert len(rows) == raster.shape[0]
    for row, cell in zip(rows, raster):
        assert np.allclose(np.sort(row.get_positions()), np.flatnonzero(cell) / FPS)
    assert fig.axes[0].get_xlim() == (0, raster.shape[1] / FPS)
    frames = [np.array([1, 4]), [], np.array([9])]
    fig = render(plotting.plot_raster(frames, fps=10.0, cell_ids=["a", "b", "c"]))
    rows = [c for c in fig.axes[0].collections if isinstance(c, EventCollection)]
    assert [list(r.get_positions()) for r in rows] == [[0.1, 0.4], [], [0.9]]
    with pytest.raises(ValueError, match=r"events\[1\]"):
        plotting.plot_raster([[1], [-2]], fps=10.0)


def peri_event_windows():
    """(E=8, N=4, S=21) windows, cell 2 responds after t = 0, cell 0 is suppressed; one NaN trial end."""
    rng = np.random.default_rng(1)
    times = np.linspace(-1, 1, 21)
    windows = rng.normal(0, 0.05, size=(8, 4, 21))
    windows[:, 2, times >= 0] += 1.0
    windows[:, 1, times >= 0] += 0.5
    windows[:, 0, times >= 0] -= 0.5
    windows[0, :, -3:] = np.nan
    return windows, times


def test_plot_peri_event_population_sorted_by_response():
    windows, times = peri_event_windows()
    fig = render(plotting.plot_peri_event(windows, times, cell_ids=[10, 11, 12, 13]))
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (4, 21)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["12", "11", "13", "10"]
    assert np.allclose(image[0], np.nanmean(windows[:, 2], axis=0))


def test_plot_peri_event_one_cell():
    windows, times = peri_event_windows()
    fig = render(plotting.plot_peri_event(windows, times, cell=12, cell_ids=[10, 11, 12, 13]))
    average, trials = fig.axes[:2]
    assert trials.images[0].get_array().shape == (8, 21)
    assert np.allclose(average.lines[0].get_ydata(), np.nanmean(windows[:, 2], axis=0))
    with pytest.raises(ValueError, match="cell"):
        plotting.plot_peri_event(windows, times, cell=4)
    with pytest.raises(ValueError, match="times"):
        plotting.plot_peri_event(windows, times[:-1])


# ---------------------------------------------------------------- clusters


@pytest.fixture(scope="module")
def tree():
    rng = np.random.default_rng(4)
    points = np.concatenate([rng.normal(center, 0.3, size=(6, 2)) for center in ([0, 0], [5, 0], [0, 5])])
    return hierarchy.linkage(points, method="average")


def cut_line(ax):
    (line,) = [line for line in ax.lines if line.get_gid() == "cut"]
    return line.get_ydata()[0]


def test_plot_dendrogram_cut(tree):
    fig = render(plotting.plot_dendrogram(tree, threshold=2.5, labels=np.arange(18) + 100))
    assert cut_line(fig.axes[0]) == 2.5
    assert sorted(t.get_text() for t in fig.axes[0].get_xticklabels()) == sorted(str(i) for i in range(100, 118))
    for k in (1, 3, 18):
        height = cut_line(render(plotting.plot_dendrogram(tree, n_clusters=k)).axes[0])
        assert len(np.unique(hierarchy.fcluster(tree, height, criterion="distance"))) == k
    assert not [line for line in render(plotting.plot_dendrogram(tree)).axes[0].lines if line.get_gid() == "cut"]
    with pytest.raises(ValueError, match="not both"):
        plotting.plot_dendrogram(tree, threshold=1.0, n_clusters=2)
    with pytest.raises(ValueError, match="n_clusters"):
        plotting.plot_dendrogram(tree, n_clusters=19)
    with pytest.raises(ValueError, match="linkage"):
        plotting.plot_dendrogram(np.zeros((3, 3)))


def test_plot_cluster_footprints_colours(movie, sim, mask_rows):
    labels = pd.Series({14: 2, 11: 1, 12: 0, 13: -1, 10: 0})  # indexed by mask id; mask 15 absent: excluded
    fig = render(plotting.plot_cluster_footprints(movie.mean(0), mask_rows, labels))
    ax = fig.axes[0]
    overlay = ax.images[1].get_array()
    assert overlay.shape == (33, 47, 4)
    peaks = [np.unravel_index(np.argmax(sim.truth.footprints[:, :, n]), (33, 47)) for n in range(6)]
    colours = [tuple(np.round(overlay[p][:3], 6)) for p in peaks]
    grey = tuple(np.round(matplotlib.colors.to_rgb(plotting.GREY), 6))
    assert colours[0] == colours[2] and len({colours[0], colours[1], colours[4], grey}) == 4
    assert colours[3] == colours[5] == grey
    assert np.isclose(overlay[peaks[1]][3], 0.7)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["cluster 0 (2)", "cluster 1 (1)", "cluster 2 (1)", "excluded (2)"]
    with pytest.raises(ValueError, match="cluster_labels"):
        plotting.plot_cluster_footprints(movie.mean(0), mask_rows, [0, 1.5, 0, 0, 0, 0])


def test_plot_cluster_psd_one_line_per_cluster():
    rng = np.random.default_rng(2)
    frequencies = np.linspace(0, 5, 40)
    labels = np.array([0, 0, 1, 1, 1, 2, -1])
    features = rng.normal(size=(7, 40)) + labels[:, None]
    fig = render(plotting.plot_cluster_psd(frequencies, features, labels, spread="sem"))
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and len(ax.collections) == 3
    for line, cluster in zip(ax.lines, (0, 1, 2)):
        assert np.allclose(line.get_ydata(), features[labels == cluster].mean(0))
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_cluster_psd(frequencies, features, labels[:-1])
    with pytest.raises(ValueError, match="frequencies"):
        plotting.plot_cluster_psd(frequencies[:-1], features, labels)


def test_plot_cluster_counts_heatmap():
    counts = pd.DataFrame([[3, 0, 5], [1, 7, 2]], index=pd.Index([0, 1], name="cluster"),
                          columns=pd.Index(["s1", "s2", "s3"], name="session"))
    fig = render(plotting.plot_cluster_counts(counts))
    ax = fig.axes[0]
    assert np.array_equal(ax.images[0].get_array(), counts.to_numpy())
    assert [t.get_text() for t in ax.texts] == ["3", "0", "5", "1", "7", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s1", "s2", "s3"]
    assert ax.get_xlabel() == "session"
    counts.iloc[1, 1] = np.nan  # a combination never seen: blank, no text
    fig = render(plotting.plot_cluster_counts(counts.astype(float) / 2))
    assert [t.get_text() for t in fig.axes[0].texts] == ["1.5", "0", "2.5", "0.5", "1"]
    with pytest.raises(ValueError, match="counts"):
        plotting.plot_cluster_counts(counts.to_numpy())


# ---------------------------------------------------------------- movies


def read_video(path):
    reader = imageio.get_reader(path, format="ffmpeg")
    try:
        return np.stack([frame[:, :, 0] for frame in reader])
    finally:
        reader.close()


def test_write_video_odd_size_round_trip(tmp_path, movie):
    path = plotting.write_video(movie, tmp_path / "out" / "movie.mp4", fps=FPS)
    assert [p.name for p in path.parent.iterdir()] == ["movie.mp4"]
    frames = read_video(path)
    assert frames.shape == (30, 34, 48)  # padded to even sizes
    low, high = np.percentile(movie, [0.5, 99.9])
    expected = np.clip((movie - low) * 255 / (high - low), 0, 255)
    assert np.abs(frames[:, :33, :47].astype(float) - expected).mean() < 6


def test_write_video_streams_chunks(tmp_path, sim):
    def chunks():
        for chunk in sim.chunks(7):
            yield chunk.astype(np.float32)
    path = plotting.write_video(chunks(), tmp_path / "stream.mp4", fps=FPS, limits=(0, 255))
    assert read_video(path).shape == (30, 34, 48)


def test_write_video_failure_leaves_nothing(tmp_path, movie):
    def chunks():
        yield movie[:10]
        yield movie[10:20, :-1]
    with pytest.raises(ValueError, match="chunk at frame 10"):
        plotting.write_video(chunks(), tmp_path / "bad.mp4", fps=FPS)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no frames"):
        plotting.write_video(iter([]), tmp_path / "empty.mp4", fps=FPS)
    with pytest.raises(ValueError, match=".mp4"):
        plotting.write_video(movie, tmp_path / "movie.avi", fps=FPS)


def test_four_panel_frames(tmp_path, sim, movie, footprints):
    panels = list(plotting.four_panel_frames(movie, sim.chunks(7), footprints, sim.truth.calcium,
                                             chunk_frames=4, labels=False, min_panel_height=1))
    frames = np.concatenate(panels)
    assert frames.shape == (30, 2 * 33, 2 * 47) and frames.dtype == np.uint8
    (raw, corrected), (_, reconstructed) = (np.split(half, 2, axis=2) for half in np.split(frames, 2, axis=1))
    assert np.array_equal(raw, corrected)  # same movie, shared limits
    cover = sim.truth.footprints.max(axis=2)
    active = reconstructed.mean(axis=0)
    assert active[cover > 0.5].mean() > 3 * active[cover <= 0.5].mean()
    assert reconstructed[:, cover == 0].max() == 0 and reconstructed.max() > 200
    path = plotting.write_video(iter(panels), tmp_path / "review.mp4", fps=FPS, norm=False)
    assert read_video(path).shape == (30, 66, 94)


def test_four_panel_frames_are_enlarged_labelled_and_time_stamped(sim, movie, footprints):
    plain = np.concatenate(list(plotting.four_panel_frames(movie, movie, footprints, sim.truth.calcium,
                                                           labels=False)))
    factor = -(-240 // 33)  # the smallest whole factor making a 33-pixel panel at least 240 pixels high
    assert plain.shape == (30, 2 * factor * 33, 2 * factor * 47)
    small = np.concatenate(list(plotting.four_panel_frames(movie, movie, footprints, sim.truth.calcium,
                                                           labels=False, min_panel_height=1)))
    assert np.array_equal(plain, small.repeat(factor, axis=1).repeat(factor, axis=2))
    labelled = np.concatenate(list(plotting.four_panel_frames(movie, movie, footprints, sim.truth.calcium,
                                                              fps=FPS)))
    changed = labelled != plain
    height, width = factor * 33, factor * 47
    for top, left in ((0, 0), (0, width), (height, 0), (height, width)):  # each panel's name, top left
        assert changed[:, top : top + height // 4, left : left + width // 2].any()
    flat = np.full((2, 4, 6), 40.0, np.float32)
    still = np.concatenate(list(plotting.four_panel_frames(flat, flat, np.zeros((24, 1)), np.zeros((1, 2)),
                                                           fps=FPS)))
    rows, columns = np.nonzero(still[0] != still[1])  # only the time stamp differs between the two frames
    assert rows.size and rows.min() > 240 // 2 and rows.max() < 240 and columns.max() < 360  # raw, bottom


def test_four_panel_reconstruction_is_scaled_by_least_squares_and_gain_brightens():
    """corrected = background + 2.5 A.C exactly: the least-squares scale is 2.5 and the residual is flat."""
    rng = np.random.default_rng(0)
    footprint = np.zeros((4, 6, 2))
    footprint[1:3, 1:3, 0] = 1.0
    footprint[2:4, 3:6, 1] = 0.5
    calcium = rng.uniform(0.0, 10.0, size=(2, 20))
    background = rng.uniform(50.0, 60.0, size=(4, 6))
    reconstruction = np.einsum("hwn,nt->thw", footprint, calcium)
    movie = (background + 2.5 * reconstruction).astype(np.float32)
    matrix = footprint.reshape(24, 2)

    def residual(**options):
        frames = np.concatenate(list(plotting.four_panel_frames(movie, movie, matrix, calcium, labels=False,
                                                                min_panel_height=1, residual_limits=(-5, 15),
                                                                **options)))
        return frames[:, 4:, :6]

    assert (residual() == 64).all()  # fitted: nothing left, the grey level of 0 in -5..15
    assert (residual(background=background) == 64).all()
    assert np.ptp(residual(scale=1.0)) > 100  # the unscaled reconstruction leaves the cells behind
    flat = np.full((3, 4, 6), 40.0, np.float32)
    quiet = np.zeros((2, 3))
    brightness = {gain: np.concatenate(list(plotting.four_panel_frames(
        flat, flat, matrix, quiet, gain=gain, movie_limits=(0, 100), labels=False, min_panel_height=1)))[0, 0, 0]
        for gain in (1.0, 2.0, 4.0)}
    assert brightness == {1.0: 102, 2.0: 204, 4.0: 255}  # 40 of 0..100 is 102 of 255; doubled; clipped
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        plotting.four_panel_frames(flat, flat, matrix, quiet, gain=0)


def test_four_panel_frames_rejects_mismatches(sim, movie, footprints):
    with pytest.raises(ValueError, match="footprints"):
        plotting.four_panel_frames(movie, movie, footprints[:-1], sim.truth.calcium)
    with pytest.raises(ValueError, match="corrected frames"):
        plotting.four_panel_frames(movie, movie[:, :-1], footprints, sim.truth.calcium)
    with pytest.raises(ValueError, match="different numbers of frames"):
        list(plotting.four_panel_frames(movie, iter([movie[:20]]), footprints, sim.truth.calcium[:, :20]))
    with pytest.raises(ValueError, match="calcium has T = 40"):
        list(plotting.four_panel_frames(movie, movie, footprints, np.tile(sim.truth.calcium, 2)[:, :40]))
