"""Motion results of CaImAn and suite2p: layouts, axis and sign conventions, bad inputs."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from element_calcium.loaders.types import LoadedMotion
from element_calcium.loaders.caiman import find_caiman_file, load_caiman_motion
from element_calcium.loaders.suite2p import find_ops_file, load_suite2p_motion

T, H, W = 12, 20, 24
RNG = np.random.default_rng(0)


# ---- CaImAn: HDF5 as element-interface's caiman_loader writes it ----------------------------


def caiman_grid(height=H, width=W, strides=(8, 8), overlaps=(4, 4)):
    """Patch ranges as CaImAn's sliding_window lays them out: (row_start, row_end, col_start, col_end)."""
    size = np.add(strides, overlaps)
    rows = [*range(0, height - size[0], strides[0]), height - size[0]]
    cols = [*range(0, width - size[1], strides[1]), width - size[1]]
    return np.array([[r, r + size[0], c, c + size[1]] for r in rows for c in cols], dtype=np.int64)


def write_caiman(path, *, pw_rigid, nframes=T, with_rigid=True, images=True, params=True, extra=None):
    grid = caiman_grid()
    data = {"shifts_rig": RNG.normal(0, 2, (nframes, 2))} if with_rigid or not pw_rigid else {}
    if pw_rigid:
        data["x_shifts_els"] = RNG.normal(0, 2, (nframes, len(grid)))
        data["y_shifts_els"] = RNG.normal(0, 2, (nframes, len(grid)))
        data["coord_shifts_els"] = grid
    if images:
        for name in ("reference_image", "average_image", "correlation_image", "max_image"):
            data[name] = RNG.random((H, W))
    data.update(extra or {})
    with h5py.File(path, "w") as h5:
        h5["estimates/C"] = np.zeros((3, nframes))
        if params:
            h5["params/motion/pw_rigid"] = np.bool_(pw_rigid)
            h5["params/motion/is3D"] = np.bool_(False)
        for name, value in data.items():
            if value is not None:
                h5[f"motion_correction/{name}"] = value
    return data


def test_caiman_rigid_shifts_are_negated(tmp_path):
    data = write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False)
    motion = load_caiman_motion(tmp_path / "caiman.hdf5")
    assert isinstance(motion, LoadedMotion)
    assert motion.source == "caiman"
    assert motion.nframes == T
    assert motion.rigid_shifts.dtype == np.float32
    np.testing.assert_allclose(motion.rigid_shifts, -data["shifts_rig"], rtol=1e-6)
    assert motion.block_shifts is None and motion.block_y is None and motion.block_x is None
    assert motion.outlier_frames is None
    np.testing.assert_allclose(motion.ref_image, data["reference_image"], rtol=1e-6)
    np.testing.assert_allclose(motion.average_image, data["average_image"], rtol=1e-6)
    np.testing.assert_allclose(motion.correlation_image, data["correlation_image"], rtol=1e-6)
    np.testing.assert_allclose(motion.max_image, data["max_image"], rtol=1e-6)
    assert motion.max_image.dtype == np.float32


def test_caiman_axes_and_signs_on_a_known_frame(tmp_path):
    # CaImAn stores the shift it applies: content moved 1.5 rows down and 2 columns left means
    # the tissue had moved 1.5 rows up (dy = -1.5) and 2 columns right (dx = +2).
    write_caiman(tmp_path / "c.hdf5", pw_rigid=False, extra={"shifts_rig": np.tile([1.5, -2.0], (T, 1))})
    np.testing.assert_allclose(load_caiman_motion(tmp_path / "c.hdf5").rigid_shifts, np.tile([-1.5, 2.0], (T, 1)))


def test_caiman_piecewise_rigid(tmp_path):
    data = write_caiman(tmp_path / "caiman.hdf5", pw_rigid=True)
    motion = load_caiman_motion(tmp_path / "caiman.hdf5")
    grid = data["coord_shifts_els"]
    assert motion.block_shifts.shape == (T, len(grid), 2)
    np.testing.assert_allclose(motion.block_shifts[..., 0], -data["x_shifts_els"], rtol=1e-6)
    np.testing.assert_allclose(motion.block_shifts[..., 1], -data["y_shifts_els"], rtol=1e-6)
    np.testing.assert_array_equal(motion.block_y, grid[:, 0:2])
    np.testing.assert_array_equal(motion.block_x, grid[:, 2:4])
    assert motion.block_y.max() <= H and motion.block_x.max() <= W
    np.testing.assert_allclose(motion.rigid_shifts, -data["shifts_rig"], rtol=1e-6)


def test_caiman_piecewise_rigid_without_rigid_shifts(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=True, with_rigid=False)
    motion = load_caiman_motion(tmp_path / "caiman.hdf5")
    np.testing.assert_allclose(motion.rigid_shifts, motion.block_shifts.mean(axis=1), rtol=1e-6)


def test_caiman_images_are_optional(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False, images=False)
    motion = load_caiman_motion(tmp_path / "caiman.hdf5")
    assert motion.ref_image is None and motion.average_image is None
    assert motion.correlation_image is None and motion.max_image is None


def test_caiman_folder_with_one_file(tmp_path):
    write_caiman(tmp_path / "results.h5", pw_rigid=False)
    (tmp_path / "notes.txt").write_text("not a candidate")
    assert find_caiman_file(tmp_path) == tmp_path / "results.h5"
    assert load_caiman_motion(tmp_path).nframes == T


def test_caiman_folder_skips_hdf5_without_motion_group(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False)
    with h5py.File(tmp_path / "input_movie.h5", "w") as h5:
        h5["mov"] = np.zeros((T, H, W), np.uint16)
    assert find_caiman_file(tmp_path) == tmp_path / "caiman.hdf5"


def test_caiman_folder_with_two_results_files(tmp_path):
    write_caiman(tmp_path / "a.hdf5", pw_rigid=False)
    write_caiman(tmp_path / "b.hdf5", pw_rigid=False)
    with pytest.raises(ValueError, match="several candidate CaImAn results files \\(a.hdf5, b.hdf5\\)"):
        load_caiman_motion(tmp_path)


def test_caiman_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.hdf5: CaImAn results file or folder not found"):
        load_caiman_motion(tmp_path / "missing.hdf5")
    with pytest.raises(FileNotFoundError, match="no CaImAn results file"):
        load_caiman_motion(tmp_path)


def test_caiman_garbage_file(tmp_path):
    (tmp_path / "caiman.hdf5").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ValueError, match="caiman.hdf5: not an HDF5 file"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


@pytest.mark.parametrize(
    ("pw_rigid", "missing"),
    [(False, "shifts_rig"), (True, "x_shifts_els"), (True, "y_shifts_els"), (True, "coord_shifts_els")],
)
def test_caiman_missing_dataset(tmp_path, pw_rigid, missing):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=pw_rigid, extra={missing: None})
    with pytest.raises(ValueError, match=f"caiman.hdf5: dataset '/motion_correction/{missing}' is missing"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


def test_caiman_missing_parameters_or_group(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False, params=False)
    with pytest.raises(ValueError, match="caiman.hdf5: dataset '/params/motion/pw_rigid' is missing"):
        load_caiman_motion(tmp_path / "caiman.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as h5:
        h5["params/motion/pw_rigid"] = False
    with pytest.raises(ValueError, match="other.hdf5: no group '/motion_correction'"):
        load_caiman_motion(tmp_path / "other.hdf5")


def test_caiman_mismatched_block_shifts(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=True, extra={"y_shifts_els": RNG.normal(size=(T - 1, 6))})
    with pytest.raises(ValueError, match="x_shifts_els' \\(12, 6\\) and 'y_shifts_els' \\(11, 6\\)"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


def test_caiman_grid_not_matching_blocks(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=True, extra={"coord_shifts_els": caiman_grid()[:4]})
    with pytest.raises(ValueError, match="coord_shifts_els' has shape \\(4, 4\\), expected \\(6, 4\\)"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


def test_caiman_rigid_and_block_lengths_differ(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=True, extra={"shifts_rig": np.zeros((T + 2, 2))})
    with pytest.raises(ValueError, match="shifts_rig' has 14 frames, 'x_shifts_els' has 12"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


def test_caiman_bad_shapes(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False, extra={"shifts_rig": np.zeros((T, 3))})
    with pytest.raises(ValueError, match="'/motion_correction/shifts_rig' must be \\(T, 2\\)"):
        load_caiman_motion(tmp_path / "caiman.hdf5")
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False, extra={"max_image": np.zeros((H, W + 1))})
    with pytest.raises(ValueError, match="caiman.hdf5: summary images must all be"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


def test_caiman_volumetric_refused(tmp_path):
    write_caiman(tmp_path / "caiman.hdf5", pw_rigid=False)
    with h5py.File(tmp_path / "caiman.hdf5", "a") as h5:
        h5["params/motion/is3D"][()] = True
    with pytest.raises(ValueError, match="volumetric"):
        load_caiman_motion(tmp_path / "caiman.hdf5")


# ---- suite2p: ops.npy as suite2p's register_binary and detection leave it --------------------


def suite2p_blocks(height=H, width=W, block=(12, 12)):
    """Block ranges as suite2p's make_blocks lays them out (row-major over the block grid)."""
    ny, nx = int(np.ceil(1.5 * height / block[0])), int(np.ceil(1.5 * width / block[1]))
    ystart = np.linspace(0, height - block[0], ny).astype(int)
    xstart = np.linspace(0, width - block[1], nx).astype(int)
    yblock = [np.array([ystart[iy], ystart[iy] + block[0]]) for iy in range(ny) for _ in range(nx)]
    xblock = [np.array([xstart[ix], xstart[ix] + block[1]]) for _ in range(ny) for ix in range(nx)]
    return yblock, xblock


def suite2p_ops(*, nonrigid=False, nframes=T, **changes):
    yrange, xrange = [2, H - 3], [1, W - 2]
    crop = (yrange[1] - yrange[0], xrange[1] - xrange[0])
    ops = {
        "Ly": H,
        "Lx": W,
        "nframes": nframes,
        "nonrigid": nonrigid,
        "yoff": RNG.integers(-3, 4, nframes).astype(np.float32),
        "xoff": RNG.integers(-3, 4, nframes).astype(np.float32),
        "corrXY": RNG.random(nframes).astype(np.float32),
        "refImg": RNG.integers(0, 2000, (H, W)).astype(np.int16),
        "meanImg": RNG.random((H, W)),
        "Vcorr": RNG.random(crop).astype(np.float32),
        "max_proj": RNG.random(crop).astype(np.float32),
        "yrange": yrange,
        "xrange": xrange,
        "badframes": np.arange(nframes) % 5 == 0,
    }
    if nonrigid:
        yblock, xblock = suite2p_blocks()
        ops.update(
            yblock=yblock,
            xblock=xblock,
            nblocks=[3, 3],
            yoff1=RNG.normal(0, 0.5, (nframes, len(yblock))).astype(np.float32),
            xoff1=RNG.normal(0, 0.5, (nframes, len(yblock))).astype(np.float32),
        )
    ops.update(changes)
    return {k: v for k, v in ops.items() if v is not None}


def write_suite2p(root, ops, plane=0):
    folder = root / "suite2p" / f"plane{plane}"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "ops.npy", ops, allow_pickle=True)
    return folder


def test_suite2p_rigid(tmp_path):
    ops = suite2p_ops()
    folder = write_suite2p(tmp_path, ops)
    motion = load_suite2p_motion(folder)
    assert motion.source == "suite2p"
    assert motion.rigid_shifts.dtype == np.float32
    np.testing.assert_array_equal(motion.rigid_shifts[:, 0], ops["yoff"])
    np.testing.assert_array_equal(motion.rigid_shifts[:, 1], ops["xoff"])
    assert motion.block_shifts is None
    np.testing.assert_array_equal(motion.outlier_frames, ops["badframes"])
    np.testing.assert_array_equal(motion.ref_image, ops["refImg"].astype(np.float32))
    np.testing.assert_allclose(motion.average_image, ops["meanImg"], rtol=1e-6)


def test_suite2p_cropped_images_padded_with_nan(tmp_path):
    ops = suite2p_ops()
    motion = load_suite2p_motion(write_suite2p(tmp_path, ops))
    (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
    for image, cropped in ((motion.correlation_image, ops["Vcorr"]), (motion.max_image, ops["max_proj"])):
        assert image.shape == (H, W)
        np.testing.assert_array_equal(image[y0:y1, x0:x1], cropped)
        outside = np.ones((H, W), bool)
        outside[y0:y1, x0:x1] = False
        assert np.isnan(image[outside]).all()


def test_suite2p_full_frame_images_kept(tmp_path):
    full = RNG.random((H, W)).astype(np.float32)
    motion = load_suite2p_motion(write_suite2p(tmp_path, suite2p_ops(Vcorr=full)))
    np.testing.assert_array_equal(motion.correlation_image, full)


def test_suite2p_nonrigid_blocks_add_rigid_offsets(tmp_path):
    ops = suite2p_ops(nonrigid=True)
    motion = load_suite2p_motion(write_suite2p(tmp_path, ops))
    nblocks = len(ops["yblock"])
    assert motion.block_shifts.shape == (T, nblocks, 2)
    np.testing.assert_allclose(motion.block_shifts[..., 0], ops["yoff1"] + ops["yoff"][:, None], rtol=1e-6)
    np.testing.assert_allclose(motion.block_shifts[..., 1], ops["xoff1"] + ops["xoff"][:, None], rtol=1e-6)
    np.testing.assert_array_equal(motion.block_y, np.array(ops["yblock"]))
    np.testing.assert_array_equal(motion.block_x, np.array(ops["xblock"]))
    assert motion.block_y.dtype == np.int64


@pytest.mark.parametrize("level", ["plane", "suite2p", "above"])
def test_suite2p_folder_levels(tmp_path, level):
    ops = suite2p_ops()
    plane = write_suite2p(tmp_path, ops)
    given = {"plane": plane, "suite2p": plane.parent, "above": tmp_path}[level]
    assert find_ops_file(given) == plane / "ops.npy"
    np.testing.assert_array_equal(load_suite2p_motion(given).rigid_shifts[:, 0], ops["yoff"])


def test_suite2p_plane_choice(tmp_path):
    write_suite2p(tmp_path, suite2p_ops(), plane=0)
    ops1 = suite2p_ops(nframes=7)
    plane1 = write_suite2p(tmp_path, ops1, plane=1)
    assert load_suite2p_motion(tmp_path, plane=1).nframes == 7
    assert load_suite2p_motion(plane1, plane=1).nframes == 7
    with pytest.raises(ValueError, match="plane1: this is the folder of plane 1, but plane=0"):
        load_suite2p_motion(plane1)
    with pytest.raises(FileNotFoundError, match="no suite2p ops.npy for plane 2"):
        load_suite2p_motion(tmp_path, plane=2)
    with pytest.raises(ValueError, match="plane must be a non-negative integer"):
        load_suite2p_motion(tmp_path, plane=-1)


def test_suite2p_missing_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: suite2p output folder not found"):
        load_suite2p_motion(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no suite2p ops.npy for plane 0"):
        load_suite2p_motion(tmp_path)
    (tmp_path / "file.npy").write_bytes(b"")
    with pytest.raises(ValueError, match="not a folder"):
        load_suite2p_motion(tmp_path / "file.npy")


@pytest.mark.parametrize("key", ["yoff", "xoff", "Ly"])
def test_suite2p_missing_key(tmp_path, key):
    folder = write_suite2p(tmp_path, suite2p_ops(**{key: None}))
    with pytest.raises(ValueError, match=f"ops.npy: key '{key}' is missing"):
        load_suite2p_motion(folder)


@pytest.mark.parametrize("key", ["yoff1", "xoff1", "yblock", "xblock"])
def test_suite2p_nonrigid_missing_key(tmp_path, key):
    folder = write_suite2p(tmp_path, suite2p_ops(nonrigid=True, **{key: None}))
    with pytest.raises(ValueError, match=f"key '{key}' is missing"):
        load_suite2p_motion(folder)


def test_suite2p_mismatched_lengths(tmp_path):
    folder = write_suite2p(tmp_path, suite2p_ops(xoff=np.zeros(T - 1)))
    with pytest.raises(ValueError, match="'yoff' has 12 frames but 'xoff' has 11"):
        load_suite2p_motion(folder)
    ops = suite2p_ops(nonrigid=True)
    write_suite2p(tmp_path, {**ops, "xoff1": ops["xoff1"][:, :-1]})
    with pytest.raises(ValueError, match="'yoff1' \\(12, 9\\) and 'xoff1' \\(12, 8\\)"):
        load_suite2p_motion(folder)
    write_suite2p(tmp_path, {**ops, "yoff1": ops["yoff1"][:-1], "xoff1": ops["xoff1"][:-1]})
    with pytest.raises(ValueError, match="'yoff1' has 11 frames but 'yoff' has 12"):
        load_suite2p_motion(folder)
    write_suite2p(tmp_path, {**ops, "yblock": ops["yblock"][:-1]})
    with pytest.raises(ValueError, match="'yblock' has shape \\(8, 2\\), expected \\(9, 2\\)"):
        load_suite2p_motion(folder)
    write_suite2p(tmp_path, suite2p_ops(badframes=np.zeros(T + 1, bool)))
    with pytest.raises(ValueError, match="'badframes' has shape \\(13,\\)"):
        load_suite2p_motion(folder)


def test_suite2p_image_of_wrong_size(tmp_path):
    folder = write_suite2p(tmp_path, suite2p_ops(max_proj=np.zeros((5, 5))))
    with pytest.raises(ValueError, match="ops.npy: 'max_proj' has shape \\(5, 5\\)"):
        load_suite2p_motion(folder)


def test_suite2p_garbage_and_foreign_ops(tmp_path):
    folder = tmp_path / "suite2p" / "plane0"
    folder.mkdir(parents=True)
    (folder / "ops.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="ops.npy: cannot be read as a suite2p ops.npy"):
        load_suite2p_motion(folder)
    np.save(folder / "ops.npy", np.arange(5))
    with pytest.raises(ValueError, match="ops.npy: expected a pickled dict of suite2p options, found ndarray"):
        load_suite2p_motion(folder)


# ---- the neutral dataclass and the layering rule ----------------------------------------------


def test_loaded_motion_checks_shapes():
    rigid = np.zeros((T, 2), np.float32)
    blank = dict(
        rigid_shifts=rigid,
        block_shifts=None,
        block_y=None,
        block_x=None,
        ref_image=None,
        average_image=None,
        correlation_image=None,
        max_image=None,
        outlier_frames=None,
        source="test",
    )
    assert LoadedMotion(**blank).nframes == T
    spans = np.array([[0, 4], [4, 8]])
    bad = [
        ({"rigid_shifts": np.zeros((T, 3))}, "rigid_shifts must be"),
        ({"block_shifts": np.zeros((T, 2, 2))}, "all be given or all be None"),
        ({"block_shifts": np.zeros((T, 3, 2)), "block_y": spans, "block_x": spans}, "block_shifts must be"),
        ({"block_shifts": np.zeros((T, 2, 2)), "block_y": spans[:, ::-1], "block_x": spans}, "block_y must be"),
        ({"ref_image": np.zeros((4, 4)), "max_image": np.zeros((4, 5))}, "summary images"),
        ({"outlier_frames": np.zeros(T + 1, bool)}, "outlier_frames must be"),
    ]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            LoadedMotion(**{**blank, **change})


def test_loaders_import_no_foreign_tool_or_datajoint():
    code = (
        "import sys\n"
        "for name in ('datajoint', 'caiman', 'suite2p'): sys.modules[name] = None\n"
        "import element_calcium.loaders.caiman, element_calcium.loaders.suite2p, element_calcium.storage\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
