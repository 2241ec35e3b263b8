"""Source-extraction results of CaImAn, suite2p and minian (and minian's motion): layouts, pixel order, bad inputs."""

import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scipy.sparse

from element_calcium.loaders.types import LoadedExtraction
from element_calcium.loaders.caiman import load_caiman_extraction, load_caiman_motion
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.loaders.suite2p import load_suite2p_extraction

zarr = pytest.importorskip("zarr")

H, W, T = 9, 13, 15  # H != W so that a row / column mix-up moves pixels
RNG = np.random.default_rng(7)
# Four components on known pixels (y, x), each with its own weights; corners catch order mistakes.
PIXELS = [
    [(0, 12), (0, 11), (1, 12)],
    [(8, 0), (7, 0), (8, 1), (7, 1)],
    [(4, 6), (4, 7), (5, 6)],
    [(2, 3)],
]


def truth_images():
    images = np.zeros((len(PIXELS), H, W))
    for k, pixels in enumerate(PIXELS):
        for j, (y, x) in enumerate(pixels):
            images[k, y, x] = 1.0 + k + 0.25 * j
    return images


def traces(n=4, t=T):
    return RNG.random((n, t)).astype(np.float32)


def assert_footprints(loaded, images):
    assert isinstance(loaded.footprints, scipy.sparse.csc_array)
    assert loaded.footprints.dtype == np.float32
    assert loaded.footprints.shape == (H * W, len(images))
    assert (loaded.height, loaded.width) == (H, W)
    np.testing.assert_allclose(loaded.footprint_images(), images, rtol=1e-6)
    y, x = PIXELS[0][0]
    assert loaded.footprints[y * W + x, 0] == pytest.approx(images[0, y, x])


# ---- CaImAn: the HDF5 file of CNMF.save() ---------------------------------------------------


def caiman_data(images):
    n = len(images)
    # CaImAn's A is (pixels, components) with pixels in Fortran order: pixel = x * H + y.
    a = scipy.sparse.csc_matrix(images.reshape(n, -1, order="F").T)
    return {
        "A": a,
        "C": traces(n),
        "S": traces(n),
        "YrA": traces(n),
        "F_dff": traces(n),
        "idx_components": np.array([0, 2]),
        "idx_components_bad": np.array([1, 3]),
        "dims": np.array([H, W]),
        "b": np.ones((H * W, 1)),
        "f": np.ones((1, T)),
    }


def write_caiman(path, images=None, *, fr=30.0, top_dims=True, **changes):
    """A file laid out as CaImAn's save_dict_to_hdf5 writes it; a change to None stores 'NoneType'."""
    data = caiman_data(truth_images() if images is None else images)
    data.update(changes)
    with h5py.File(path, "w") as h5:
        for name, value in data.items():
            key = f"estimates/{name}"
            if isinstance(value, scipy.sparse.csc_matrix):
                for part in ("data", "indices", "indptr", "shape"):
                    h5[f"{key}/{part}"] = np.asarray(getattr(value, part))
            elif value is None:
                h5[key] = "NoneType"
            elif not isinstance(value, str):
                h5[key] = value
        if top_dims:
            h5["dims"] = np.array([H, W])
        h5["params/data/fr"] = "NoneType" if fr is None else fr
    return data


def test_caiman_footprints_traces_and_classification(tmp_path):
    data = write_caiman(tmp_path / "cnmf.hdf5")
    loaded = load_caiman_extraction(tmp_path / "cnmf.hdf5")
    assert isinstance(loaded, LoadedExtraction)
    assert loaded.source == tmp_path / "cnmf.hdf5"
    assert_footprints(loaded, truth_images())
    np.testing.assert_array_equal(loaded.mask_ids, np.arange(4))
    assert loaded.mask_ids.dtype == np.int64
    np.testing.assert_allclose(loaded.fluorescence, data["C"] + data["YrA"], rtol=1e-6)
    np.testing.assert_array_equal(loaded.denoised, data["C"])
    np.testing.assert_array_equal(loaded.spikes, data["S"])
    np.testing.assert_array_equal(loaded.dff, data["F_dff"])
    assert loaded.neuropil is None and loaded.confidence is None
    np.testing.assert_array_equal(loaded.accepted, [True, False, True, False])
    assert loaded.fps == 30.0
    assert (loaded.nmasks, loaded.nframes) == (4, T)
    assert all(trace.dtype == np.float32 for trace in (loaded.fluorescence, loaded.denoised, loaded.spikes))


def test_caiman_values_saved_as_none_and_other_places(tmp_path):
    data = write_caiman(tmp_path / "c.hdf5", F_dff=None, S=None, idx_components=None, fr=None, dims=None)
    loaded = load_caiman_extraction(tmp_path / "c.hdf5")
    assert loaded.dff is None and loaded.spikes is None and loaded.fps is None
    np.testing.assert_array_equal(loaded.accepted, [True, False, True, False])  # from idx_components_bad
    assert_footprints(loaded, truth_images())  # dims from /dims
    write_caiman(tmp_path / "c.hdf5", idx_components=None, idx_components_bad=None)
    assert load_caiman_extraction(tmp_path / "c.hdf5").accepted is None
    write_caiman(tmp_path / "c.hdf5", A=data["A"].toarray())
    assert_footprints(load_caiman_extraction(tmp_path / "c.hdf5"), truth_images())


def test_caiman_folder_picks_the_file_with_estimates(tmp_path):
    write_caiman(tmp_path / "cnmf.hdf5")
    with h5py.File(tmp_path / "movie.h5", "w") as h5:
        h5["mov"] = np.zeros((T, H, W), np.uint16)
    with h5py.File(tmp_path / "motion.hdf5", "w") as h5:
        h5["params/motion/pw_rigid"] = False
        h5["motion_correction/shifts_rig"] = np.zeros((T, 2))
    assert load_caiman_extraction(tmp_path).source == tmp_path / "cnmf.hdf5"
    assert load_caiman_motion(tmp_path).nframes == T


def test_caiman_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.hdf5: CaImAn results file or folder not found"):
        load_caiman_extraction(tmp_path / "missing.hdf5")
    write_caiman(tmp_path / "cnmf.hdf5")
    content = (tmp_path / "cnmf.hdf5").read_bytes()
    (tmp_path / "cnmf.hdf5").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="cnmf.hdf5: cannot open the HDF5 file"):
        load_caiman_extraction(tmp_path / "cnmf.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as h5:
        h5["mov"] = np.zeros(3)
    with pytest.raises(ValueError, match="other.hdf5: no group '/estimates'"):
        load_caiman_extraction(tmp_path / "other.hdf5")


@pytest.mark.parametrize("name", ["A", "C"])
def test_caiman_missing_dataset(tmp_path, name):
    write_caiman(tmp_path / "cnmf.hdf5", **{name: "absent"})
    with pytest.raises(ValueError, match=f"cnmf.hdf5: dataset '/estimates/{name}' is missing"):
        load_caiman_extraction(tmp_path / "cnmf.hdf5")


@pytest.mark.parametrize("residual", ["absent", None, np.zeros(0), np.zeros((4, 0))])
def test_caiman_without_residual_gives_the_denoised_trace(tmp_path, residual):
    # CaImAn leaves YrA empty ((0,) or (N, 0)) or None when the residual was not computed.
    data = write_caiman(tmp_path / "cnmf.hdf5", YrA=residual)
    loaded = load_caiman_extraction(tmp_path / "cnmf.hdf5")
    np.testing.assert_array_equal(loaded.fluorescence, data["C"])
    np.testing.assert_array_equal(loaded.denoised, data["C"])


def test_caiman_background_model_in_pixel_order(tmp_path):
    # b is (pixels, nb) in Fortran order like A; f is (nb, T).
    images = np.stack([np.arange(H * W, dtype=float).reshape(H, W), np.ones((H, W))])
    b = images.reshape(2, -1, order="F").T
    f = traces(2)
    write_caiman(tmp_path / "cnmf.hdf5", b=b, f=f)
    loaded = load_caiman_extraction(tmp_path / "cnmf.hdf5")
    np.testing.assert_array_equal(loaded.background_footprints, images.reshape(2, -1).T.astype(np.float32))
    np.testing.assert_array_equal(loaded.background_traces, f)
    for change in ({"b": np.zeros((H * W, 0))}, {"f": None}, {"b": "absent"}):
        write_caiman(tmp_path / "cnmf.hdf5", **change)
        loaded = load_caiman_extraction(tmp_path / "cnmf.hdf5")
        assert loaded.background_footprints is None and loaded.background_traces is None
    write_caiman(tmp_path / "cnmf.hdf5", b=b, f=traces(3))
    with pytest.raises(ValueError, match="cnmf.hdf5: '/estimates/f' has shape \\(3, 15\\), expected \\(2, 15\\)"):
        load_caiman_extraction(tmp_path / "cnmf.hdf5")


def test_caiman_missing_field_of_view(tmp_path):
    write_caiman(tmp_path / "cnmf.hdf5", dims="absent", top_dims=False)
    with pytest.raises(ValueError, match="cnmf.hdf5: the field of view is not stored"):
        load_caiman_extraction(tmp_path / "cnmf.hdf5")


def test_caiman_mismatched_shapes(tmp_path):
    file = tmp_path / "cnmf.hdf5"
    write_caiman(file, YrA=traces(4, T - 1))
    message = "cnmf.hdf5: '/estimates/YrA' has shape \\(4, 14\\) but '/estimates/C' has \\(4, 15\\)"
    with pytest.raises(ValueError, match=message):
        load_caiman_extraction(file)
    write_caiman(file, C=traces(3), YrA=traces(3), S=traces(3), F_dff=traces(3))
    with pytest.raises(ValueError, match="'/estimates/A' has 4 components but '/estimates/C' has 3"):
        load_caiman_extraction(file)
    write_caiman(file, dims=np.array([H, W + 1]))
    with pytest.raises(ValueError, match="'/estimates/A' has 117 pixel rows but the field of view is 9 x 14"):
        load_caiman_extraction(file)


def test_caiman_malformed_values(tmp_path):
    file = tmp_path / "cnmf.hdf5"
    bad = [
        ({"dims": np.array([4, H, W])}, "'/estimates/dims' is \\(4, 9, 13\\): only 2-D \\(rows, columns\\)"),
        ({"C": traces(4)[0]}, "'/estimates/C' must be 2-D"),
        ({"C": np.full((4, T), np.nan)}, "'/estimates/C' holds only NaN"),
        ({"idx_components": np.array([0, 4])}, "'/estimates/idx_components' must be component indices in \\[0, 4\\)"),
    ]
    for change, message in bad:
        write_caiman(file, **change)
        with pytest.raises(ValueError, match=f"cnmf.hdf5: {message}"):
            load_caiman_extraction(file)
    write_caiman(file, fr=-1.0)
    with pytest.raises(ValueError, match="'/params/data/fr' must be a positive frame rate"):
        load_caiman_extraction(file)


def test_caiman_broken_sparse_matrix(tmp_path):
    file = tmp_path / "cnmf.hdf5"
    write_caiman(file)
    with h5py.File(file, "a") as h5:
        indptr = h5["estimates/A/indptr"][()]
        del h5["estimates/A/indptr"]
        h5["estimates/A/indptr"] = indptr[:-1]
    with pytest.raises(ValueError, match="'/estimates/A' is not a valid CSC matrix: 'indptr' must be 5 integers"):
        load_caiman_extraction(file)
    write_caiman(file)
    with h5py.File(file, "a") as h5:
        h5["estimates/A/indices"][0] = H * W
    with pytest.raises(ValueError, match="'indices' must lie in \\[0, 117\\)"):
        load_caiman_extraction(file)


# ---- suite2p: a plane folder ------------------------------------------------------------------


def suite2p_stat(images):
    stat = []
    for image in images:
        ypix, xpix = np.nonzero(image)
        overlap = np.zeros(ypix.size, bool)
        overlap[0] = True  # shared with another ROI: still part of this one
        stat.append(
            {
                "ypix": ypix,
                "xpix": xpix,
                "lam": image[ypix, xpix].astype(np.float32),
                "overlap": overlap,
                "med": [int(np.median(ypix)), int(np.median(xpix))],
            }
        )
    return np.array(stat, dtype=object)


def write_suite2p(root, *, images=None, skip=(), **changes):
    images = truth_images() if images is None else images
    n = len(images)
    files = {
        "ops.npy": {"Ly": H, "Lx": W, "fs": 15.5, "yrange": [0, H], "xrange": [0, W], "nframes": T},
        "stat.npy": suite2p_stat(images),
        "F.npy": traces(n),
        "Fneu.npy": traces(n),
        "spks.npy": traces(n),
        "iscell.npy": np.column_stack([[1.0, 0.0, 1.0, 1.0][:n], RNG.random(n)]),
    }
    files.update(changes)
    folder = root / "suite2p" / "plane0"
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (folder / name).unlink(missing_ok=True)
        if name not in skip:
            np.save(folder / name, value, allow_pickle=name in ("ops.npy", "stat.npy"))
    return folder, files


def test_suite2p_footprints_traces_and_classification(tmp_path):
    folder, files = write_suite2p(tmp_path)
    loaded = load_suite2p_extraction(tmp_path)
    assert loaded.source == folder
    assert_footprints(loaded, truth_images())
    np.testing.assert_array_equal(loaded.mask_ids, np.arange(4))
    np.testing.assert_array_equal(loaded.fluorescence, files["F.npy"])
    np.testing.assert_array_equal(loaded.neuropil, files["Fneu.npy"])
    np.testing.assert_array_equal(loaded.spikes, files["spks.npy"])
    assert loaded.denoised is None and loaded.dff is None
    np.testing.assert_array_equal(loaded.accepted, [True, False, True, True])
    np.testing.assert_allclose(loaded.confidence, files["iscell.npy"][:, 1], rtol=1e-6)
    assert loaded.confidence.dtype == np.float32
    assert loaded.fps == 15.5
    assert load_suite2p_extraction(folder).nmasks == 4


def test_suite2p_optional_files(tmp_path):
    write_suite2p(tmp_path, skip=("spks.npy", "iscell.npy"))
    loaded = load_suite2p_extraction(tmp_path)
    assert loaded.spikes is None and loaded.accepted is None and loaded.confidence is None


@pytest.mark.parametrize("name", ["stat.npy", "F.npy", "Fneu.npy"])
def test_suite2p_missing_file(tmp_path, name):
    write_suite2p(tmp_path, skip=(name,))
    with pytest.raises(FileNotFoundError, match=f"plane0/{name}: suite2p output file not found"):
        load_suite2p_extraction(tmp_path)


def test_suite2p_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: suite2p output folder not found"):
        load_suite2p_extraction(tmp_path / "nowhere")


def test_suite2p_mismatched_files(tmp_path):
    write_suite2p(tmp_path, **{"Fneu.npy": traces(4, T - 1)})
    with pytest.raises(ValueError, match="plane0: 'Fneu.npy' has shape \\(4, 14\\) but 'F.npy' has \\(4, 15\\)"):
        load_suite2p_extraction(tmp_path)
    write_suite2p(tmp_path, **{"stat.npy": suite2p_stat(truth_images()[:3])})
    with pytest.raises(ValueError, match="plane0: 'stat.npy' has 3 ROIs but 'F.npy' has 4"):
        load_suite2p_extraction(tmp_path)
    write_suite2p(tmp_path, **{"iscell.npy": np.ones((3, 2))})
    with pytest.raises(ValueError, match="iscell.npy: expected \\(4, 2\\) numbers"):
        load_suite2p_extraction(tmp_path)


def test_suite2p_malformed_rois(tmp_path):
    stat = suite2p_stat(truth_images())
    stat[1] = {**stat[1], "xpix": stat[1]["xpix"] + W - 1}
    write_suite2p(tmp_path, **{"stat.npy": stat})
    with pytest.raises(ValueError, match="stat.npy: ROI 1 has pixels outside the 9 x 13 frame"):
        load_suite2p_extraction(tmp_path)
    stat = suite2p_stat(truth_images())
    del stat[2]["lam"]
    write_suite2p(tmp_path, **{"stat.npy": stat})
    with pytest.raises(ValueError, match="stat.npy: ROI 2 has no 'lam'"):
        load_suite2p_extraction(tmp_path)


def test_suite2p_truncated_or_wrong_files(tmp_path):
    folder, _ = write_suite2p(tmp_path)
    content = (folder / "F.npy").read_bytes()
    (folder / "F.npy").write_bytes(content[: len(content) - 40])
    with pytest.raises(ValueError, match="F.npy: cannot be read as a .npy file"):
        load_suite2p_extraction(tmp_path)
    write_suite2p(tmp_path, **{"F.npy": np.full((4, T), np.nan)})
    with pytest.raises(ValueError, match="F.npy: 'F.npy' holds only NaN"):
        load_suite2p_extraction(tmp_path)
    write_suite2p(tmp_path, **{"spks.npy": traces(4)[0]})
    with pytest.raises(ValueError, match="spks.npy: 'spks.npy' must be 2-D"):
        load_suite2p_extraction(tmp_path)


# ---- minian: zarr stores (as xarray's to_zarr writes them) and a netCDF4 file -----------------


UNIT_IDS = np.array([3, 7, 10, 42])


def minian_variables(images=None, *, yra=True):
    images = truth_images() if images is None else images
    n = len(images)
    variables = {
        "A": (("unit_id", "height", "width"), images),
        "C": (("unit_id", "frame"), traces(n).astype(np.float64)),
        "S": (("unit_id", "frame"), traces(n).astype(np.float64)),
        "motion": (("frame", "shift_dim"), RNG.normal(0, 2, (T, 2))),
        "max_proj": (("height", "width"), RNG.random((H, W))),
    }
    if yra:
        variables["YrA"] = (("unit_id", "frame"), traces(n).astype(np.float64))
    return variables


def coordinates(n):
    return {
        "unit_id": UNIT_IDS[:n],
        "frame": np.arange(T),
        "height": np.arange(H),
        "width": np.arange(W),
        "shift_dim": np.array(["height", "width"]),
    }


def write_minian_zarr(folder, variables, *, coords=None, chunks=None):
    """One zarr v2 store per variable, as minian's save_minian (xarray's to_zarr) lays it out."""
    coords = coordinates(len(variables["A"][1])) if coords is None else coords
    folder.mkdir(parents=True, exist_ok=True)
    for name, (dims, values) in variables.items():
        group = zarr.open_group(folder / f"{name}.zarr", mode="w", zarr_format=2)
        attributes = {"_ARRAY_DIMENSIONS": list(dims), "coordinates": "animal session"}
        group.create_array(name, data=values, attributes=attributes, fill_value=np.nan, chunks=chunks or values.shape)
        for dim in dims:
            if dim in coords:
                group.create_array(dim, data=coords[dim], attributes={"_ARRAY_DIMENSIONS": [dim]})
        for meta, value in (("animal", "mouse1"), ("session", "day1")):
            group.create_array(meta, data=np.array(value), attributes={"_ARRAY_DIMENSIONS": []})
    return folder


def write_minian_netcdf(file, variables, *, coords=None):
    """A netCDF4 file (HDF5 with dimension scales) holding every variable, as netCDF4 writes it."""
    coords = coordinates(len(variables["A"][1])) if coords is None else coords
    sizes = {}
    for dims, values in variables.values():
        sizes.update(zip(dims, values.shape, strict=True))
    with h5py.File(file, "w") as h5:
        for dim, size in sizes.items():
            if dim in coords:
                values = coords[dim].astype(h5py.string_dtype()) if coords[dim].dtype.kind == "U" else coords[dim]
                h5.create_dataset(dim, data=values)
                h5[dim].make_scale(dim)
            else:
                h5.create_dataset(dim, data=np.zeros(size, np.float32))
                h5[dim].make_scale(f"This is a netCDF dimension but not a netCDF variable.{size:10d}")
        for name, (dims, values) in variables.items():
            h5[name] = values
            for axis, dim in enumerate(dims):
                h5[name].dims[axis].attach_scale(h5[dim])
    return file


def transposed(variables, name, dims):
    old_dims, values = variables[name]
    variables[name] = (dims, np.transpose(values, [old_dims.index(d) for d in dims]))


def check_minian(loaded, variables, *, source):
    assert loaded.source == source
    assert_footprints(loaded, truth_images())
    np.testing.assert_array_equal(loaded.mask_ids, UNIT_IDS)
    c = variables["C"][1].astype(np.float32)
    np.testing.assert_allclose(loaded.fluorescence, c + variables["YrA"][1].astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(loaded.denoised, c)
    np.testing.assert_array_equal(loaded.spikes, variables["S"][1].astype(np.float32))
    assert loaded.neuropil is None and loaded.dff is None and loaded.fps is None
    assert loaded.accepted is None and loaded.confidence is None


def test_minian_zarr_output_folder(tmp_path):
    variables = minian_variables()
    folder = write_minian_zarr(tmp_path / "minian", variables)
    check_minian(load_minian_extraction(folder), variables, source=folder)
    check_minian(load_minian_extraction(folder / "A.zarr"), variables, source=folder)


def test_minian_netcdf_file(tmp_path):
    variables = minian_variables()
    file = write_minian_netcdf(tmp_path / "minian.nc", variables)
    check_minian(load_minian_extraction(file), variables, source=file)
    check_minian(load_minian_extraction(tmp_path), variables, source=file)


@pytest.mark.parametrize("form", ["zarr", "netcdf"])
def test_minian_dimensions_found_by_name(tmp_path, form):
    variables = minian_variables()
    expected = {name: (dims, values.copy()) for name, (dims, values) in variables.items()}
    transposed(variables, "A", ("width", "unit_id", "height"))
    transposed(variables, "C", ("frame", "unit_id"))
    path = (
        write_minian_zarr(tmp_path / "minian", variables)
        if form == "zarr"
        else write_minian_netcdf(tmp_path / "minian.nc", variables)
    )
    check_minian(load_minian_extraction(path), expected, source=path)


def test_minian_traces_matched_by_unit_id(tmp_path):
    variables = minian_variables()
    folder = write_minian_zarr(tmp_path / "minian", variables)
    order = [2, 0, 3, 1]
    group = zarr.open_group(folder / "S.zarr", mode="w", zarr_format=2)
    group.create_array("S", data=variables["S"][1][order], attributes={"_ARRAY_DIMENSIONS": ["unit_id", "frame"]})
    group.create_array("unit_id", data=UNIT_IDS[order], attributes={"_ARRAY_DIMENSIONS": ["unit_id"]})
    np.testing.assert_array_equal(load_minian_extraction(folder).spikes, variables["S"][1].astype(np.float32))
    group["unit_id"][0] = 99
    with pytest.raises(ValueError, match="minian: the 'unit_id' of 'S' are not those of 'A'"):
        load_minian_extraction(folder)


def test_minian_without_residual_or_spikes(tmp_path):
    variables = minian_variables(yra=False)
    del variables["S"]
    loaded = load_minian_extraction(write_minian_zarr(tmp_path / "minian", variables))
    np.testing.assert_array_equal(loaded.fluorescence, variables["C"][1].astype(np.float32))
    assert loaded.spikes is None


@pytest.mark.parametrize("form", ["zarr", "netcdf"])
def test_minian_motion_is_negated_and_found_by_name(tmp_path, form):
    # minian's motion is the shift that moves a frame's content back onto the template: content
    # moved 1.5 rows up and 2 columns right to correct means the tissue had moved 1.5 rows down
    # (dy = +1.5) and 2 columns left (dx = -2).
    variables = minian_variables()
    variables["motion"] = (("frame", "shift_dim"), np.tile([-1.5, 2.0], (T, 1)))
    transposed(variables, "motion", ("shift_dim", "frame"))
    coords = {**coordinates(4), "shift_dim": np.array(["height", "width"])}
    path = (
        write_minian_zarr(tmp_path / "minian", variables, coords=coords)
        if form == "zarr"
        else write_minian_netcdf(tmp_path / "minian.nc", variables, coords=coords)
    )
    motion = load_minian_motion(path)
    assert motion.source == "minian" and motion.nframes == T
    assert motion.rigid_shifts.dtype == np.float32
    np.testing.assert_allclose(motion.rigid_shifts, np.tile([1.5, -2.0], (T, 1)))
    np.testing.assert_allclose(motion.max_image, variables["max_proj"][1], rtol=1e-6)
    assert motion.block_shifts is None and motion.ref_image is None and motion.outlier_frames is None


def test_minian_before_1_0_motion_layout(tmp_path):
    # minian < 1.0 saves the motion as 'shifts' (frame, variable = height, width), same sign as 'motion'.
    variables = minian_variables()
    shifts = variables.pop("motion")[1]
    variables["shifts"] = (("variable", "frame"), shifts.T.copy())
    coords = {**coordinates(4), "variable": np.array(["width", "height"])}
    folder = write_minian_zarr(tmp_path / "minian", variables, coords=coords)
    motion = load_minian_motion(folder)
    np.testing.assert_allclose(motion.rigid_shifts, -shifts[:, ::-1], rtol=1e-6)
    write_minian_zarr(folder, {"motion": (("frame", "shift_dim"), shifts)}, coords=coordinates(4))
    np.testing.assert_allclose(load_minian_motion(folder).rigid_shifts, -shifts, rtol=1e-6)  # the newer layout first


def test_minian_background_model(tmp_path):
    variables = minian_variables()
    variables["b"] = (("width", "height"), RNG.random((W, H)))
    variables["f"] = (("frame",), RNG.random(T))
    loaded = load_minian_extraction(write_minian_zarr(tmp_path / "minian", variables))
    np.testing.assert_allclose(loaded.background_footprints[:, 0], variables["b"][1].T.ravel(), rtol=1e-6)
    np.testing.assert_allclose(loaded.background_traces[0], variables["f"][1], rtol=1e-6)
    variables["f"] = (("frame",), RNG.random(T - 1))
    write_minian_zarr(tmp_path / "minian", variables)
    with pytest.raises(ValueError, match="f.zarr: 'f' has 14 frames but 'C' has 15"):
        load_minian_extraction(tmp_path / "minian")


def test_minian_motion_shift_dim_in_stored_order(tmp_path):
    variables = minian_variables()
    shifts = variables["motion"][1]
    coords = {**coordinates(4), "shift_dim": np.array(["width", "height"])}
    folder = write_minian_zarr(tmp_path / "minian", variables, coords=coords)
    np.testing.assert_allclose(load_minian_motion(folder / "motion.zarr").rigid_shifts, -shifts[:, ::-1], rtol=1e-6)


def test_minian_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: minian output folder or file not found"):
        load_minian_extraction(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no minian output in the folder"):
        load_minian_motion(tmp_path)
    variables = minian_variables()
    write_minian_netcdf(tmp_path / "a.nc", variables)
    write_minian_netcdf(tmp_path / "b.nc", variables)
    with pytest.raises(ValueError, match="several minian netCDF files \\(a.nc, b.nc\\)"):
        load_minian_extraction(tmp_path)


@pytest.mark.parametrize("name", ["A", "C"])
def test_minian_missing_variable(tmp_path, name):
    variables = minian_variables()
    del variables[name]
    folder = write_minian_zarr(tmp_path / "minian", variables, coords=coordinates(4))
    with pytest.raises(ValueError, match=f"minian: the minian store '{name}.zarr' is missing"):
        load_minian_extraction(folder)
    write_minian_netcdf(tmp_path / "minian.nc", variables, coords=coordinates(4))
    with pytest.raises(ValueError, match=f"minian.nc: the minian variable '{name}' is missing"):
        load_minian_extraction(tmp_path / "minian.nc")


def test_minian_missing_motion(tmp_path):
    variables = minian_variables()
    del variables["motion"]
    folder = write_minian_zarr(tmp_path / "minian", variables)
    message = "minian: the minian store 'motion.zarr' is missing \\(and so is the pre-1.0 store 'shifts.zarr'\\)"
    with pytest.raises(ValueError, match=message):
        load_minian_motion(folder)


def test_minian_mismatched_units_or_frames(tmp_path):
    folder = tmp_path / "minian"
    variables = minian_variables()
    variables["C"] = (("unit_id", "frame"), traces(3).astype(np.float64))
    write_minian_zarr(folder, {"C": variables["C"]}, coords={"unit_id": UNIT_IDS[:3]})
    write_minian_zarr(folder, {k: v for k, v in variables.items() if k != "C"})
    with pytest.raises(ValueError, match="minian: 'C' has 3 units but 'A' has 4"):
        load_minian_extraction(folder)
    variables = minian_variables()
    variables["S"] = (("unit_id", "frame"), traces(4, T - 2).astype(np.float64))
    write_minian_zarr(folder, variables)
    with pytest.raises(ValueError, match="minian: 'S' has shape \\(4, 13\\) but 'C' has \\(4, 15\\)"):
        load_minian_extraction(folder)


def test_minian_wrong_dimensions(tmp_path):
    folder = tmp_path / "minian"
    variables = minian_variables()
    variables["A"] = (("unit_id", "frame", "width"), truth_images())
    write_minian_zarr(folder, variables)
    with pytest.raises(ValueError, match="A.zarr: 'A' has dimensions \\('unit_id', 'frame', 'width'\\), expected"):
        load_minian_extraction(folder)
    variables = minian_variables()
    variables["motion"] = (("frame", "shift_dim", "grid0", "grid1"), np.zeros((T, 2, 2, 2)))
    write_minian_zarr(folder, variables)
    with pytest.raises(ValueError, match="motion.zarr: non-rigid \\(BSpline mesh\\) minian motion is not supported"):
        load_minian_motion(folder)


def test_minian_malformed_stores(tmp_path):
    folder = write_minian_zarr(tmp_path / "minian", minian_variables())
    (folder / "C.zarr" / "C" / ".zattrs").write_text("{}")
    with pytest.raises(ValueError, match="C.zarr: 'C' has no valid '_ARRAY_DIMENSIONS' attribute"):
        load_minian_extraction(folder)
    (folder / "C.zarr" / "C" / ".zarray").write_text('{"shape": [4, ')
    with pytest.raises(ValueError, match="C.zarr: cannot be read as a zarr store"):
        load_minian_extraction(folder)
    shutil.rmtree(folder / "motion.zarr" / "shift_dim")
    with pytest.raises(ValueError, match="motion.zarr: 'motion' needs 'shift_dim' coordinates"):
        load_minian_motion(folder)


def test_minian_missing_chunk_reads_as_nan(tmp_path):
    variables = minian_variables()
    folder = write_minian_zarr(tmp_path / "minian", variables)
    write_minian_zarr(folder, {"A": variables["A"]}, coords=coordinates(4), chunks=(2, H, W))
    (folder / "A.zarr" / "A" / "1.0.0").unlink()
    with pytest.raises(ValueError, match="A.zarr: 'A' holds NaN \\(missing or unreadable chunks\\?\\)"):
        load_minian_extraction(folder)


def test_minian_truncated_or_foreign_netcdf(tmp_path):
    file = write_minian_netcdf(tmp_path / "minian.nc", minian_variables())
    content = file.read_bytes()
    file.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="minian.nc: cannot open the HDF5 file"):
        load_minian_extraction(file)
    with h5py.File(file, "w") as h5:
        h5["A"] = truth_images()
    with pytest.raises(ValueError, match="minian.nc: 'A' has no dimension scale on axis 0"):
        load_minian_extraction(file)


def test_minian_zarr_needs_the_zarr_package(tmp_path, monkeypatch):
    folder = write_minian_zarr(tmp_path / "minian", minian_variables())
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(ImportError, match="pip install element-calcium\\[minian\\]"):
        load_minian_extraction(folder)


# ---- the neutral dataclass and the layering rule ----------------------------------------------


def test_loaded_extraction_checks_shapes(tmp_path):
    footprints = scipy.sparse.csc_array(np.zeros((H * W, 2), np.float32))
    blank = dict(
        source=tmp_path,
        height=H,
        width=W,
        footprints=footprints,
        mask_ids=np.array([0, 1]),
        fluorescence=np.zeros((2, T), np.float32),
        neuropil=None,
        denoised=None,
        spikes=None,
        dff=None,
        accepted=None,
        confidence=None,
        fps=None,
    )
    assert LoadedExtraction(**blank).nmasks == 2
    bad = [
        ({"height": 0}, "height must be a positive integer"),
        ({"fluorescence": np.zeros(T, np.float32)}, "fluorescence must be \\(N, T\\)"),
        ({"footprints": scipy.sparse.csc_array(np.zeros((H * W, 3), np.float32))}, "footprints must be"),
        ({"footprints": footprints.astype(np.float64)}, "float32 scipy.sparse.csc_array"),
        ({"spikes": np.zeros((2, T + 1), np.float32)}, "spikes must be \\(N, T\\)"),
        ({"mask_ids": np.array([1, 1])}, "mask_ids must be \\(2,\\) unique int64"),
        ({"accepted": np.ones(3, bool)}, "accepted must be"),
        ({"confidence": np.ones(2)}, "confidence must be"),
        ({"fps": -1.0}, "fps must be a positive float"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            LoadedExtraction(**{**blank, **change})


def test_extraction_loaders_import_no_foreign_tool_or_datajoint():
    code = (
        "import sys\n"
        "for name in ('datajoint', 'caiman', 'suite2p', 'minian', 'xarray', 'zarr'): sys.modules[name] = None\n"
        "import element_calcium.loaders.caiman, element_calcium.loaders.suite2p, element_calcium.loaders.minian\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
