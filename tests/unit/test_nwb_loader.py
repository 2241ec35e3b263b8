"""Load mode ``nwb``: cells, traces and motion read from NWB files written here with pynwb as DANDI holds them
(neuroconv's layout: masks and images in NWB's (x, y) order, ``Fluorescence`` with ``RoiResponseSeries``,
``Neuropil`` and ``Deconvolved``, ``DfOverF``, an ``Accepted`` column), and bad files refused with one line."""

import datetime

import numpy as np
import pytest

from element_calcium.loaders.nwb import find_nwb_file, load_nwb_extraction, load_nwb_motion

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO, NWBFile  # noqa: E402
from pynwb.image import ImageSeries  # noqa: E402
from pynwb.ophys import (  # noqa: E402
    CorrectedImageStack,
    DfOverF,
    Fluorescence,
    ImageSegmentation,
    MotionCorrection,
    OpticalChannel,
    TwoPhotonSeries,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

HEIGHT, WIDTH, N_FRAMES, RATE = 30, 40, 90, 15.0
CENTERS = [(5, 8), (12, 30), (22, 17), (25, 4)]  # (row, column)


def _cells(rng):
    """(N, H, W) footprints: 3x4 blocks of distinct weights at CENTERS, and (N, T) traces of each kind."""
    images = np.zeros((len(CENTERS), HEIGHT, WIDTH), np.float32)
    for n, (y, x) in enumerate(CENTERS):
        images[n, y - 1 : y + 2, x - 2 : x + 2] = rng.uniform(0.2, 1.0, (3, 4))
    traces = {kind: rng.normal(10 * n, 1, (len(CENTERS), N_FRAMES)).astype(np.float32)
              for n, kind in enumerate(("fluorescence", "neuropil", "spikes", "dff"))}
    return images, traces


def _nwbfile() -> NWBFile:
    return NWBFile(session_description="two-photon session", identifier="test",
                   session_start_time=datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.timezone.utc))


def _plane(nwbfile):
    device = nwbfile.create_device(name="Microscope")
    channel = OpticalChannel(name="OpticalChannel", description="green", emission_lambda=510.0)
    return nwbfile.create_imaging_plane(name="ImagingPlane", optical_channel=channel, description="layer 2/3",
                                        device=device, excitation_lambda=920.0, indicator="GCaMP6f",
                                        location="V1", imaging_rate=RATE)


def write_dandi_file(path, images, traces, *, masks="pixel", shuffled_series=False, accepted=(1, 0, 1, 1)):
    """An NWB file laid out as neuroconv writes DANDI's ophys files; ``shuffled_series`` lists the cells of the
    Neuropil series in another order than the table's."""
    nwbfile = _nwbfile()
    plane = _plane(nwbfile)
    nwbfile.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", imaging_plane=plane, external_file=["m.tif"],
                                            starting_frame=[0], format="external", dimension=[WIDTH, HEIGHT],
                                            num_samples=N_FRAMES, rate=RATE))
    ophys = nwbfile.create_processing_module("ophys", "processed optical physiology")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="cells",
                                                   imaging_plane=plane)
    for n, image in enumerate(images):
        if masks == "image":
            table.add_roi(id=10 + n, image_mask=image.T)
        else:
            rows, columns = np.nonzero(image)
            pixels = [(int(x), int(y), float(image[y, x])) for y, x in zip(rows, columns)]
            table.add_roi(id=10 + n, pixel_mask=pixels)
    table.add_column("Accepted", "1: accepted as a cell", data=list(accepted))
    every = table.create_roi_table_region("all cells", region=list(range(len(images))))
    order = [2, 0, 3, 1] if shuffled_series else list(range(len(images)))
    reordered = table.create_roi_table_region("all cells, reordered", region=order)
    fluorescence = Fluorescence(name="Fluorescence")
    ophys.add(fluorescence)
    fluorescence.create_roi_response_series(name="RoiResponseSeries", data=traces["fluorescence"].T, rois=every,
                                            unit="n.a.", rate=RATE)
    fluorescence.create_roi_response_series(name="Neuropil", data=traces["neuropil"][order].T, rois=reordered,
                                            unit="n.a.", rate=RATE)
    fluorescence.create_roi_response_series(name="Deconvolved", data=traces["spikes"].T, rois=every,
                                            unit="n.a.", rate=RATE)
    dff = DfOverF(name="DfOverF")
    ophys.add(dff)
    dff.create_roi_response_series(name="RoiResponseSeries", data=traces["dff"].T, rois=every, unit="n.a.",
                                   rate=RATE)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.mark.parametrize("masks", ["pixel", "image"])
def test_dandi_layout_gives_footprints_traces_and_classification(tmp_path, masks):
    images, traces = _cells(np.random.default_rng(0))
    file = write_dandi_file(tmp_path / "sub-1_ses-1_ophys.nwb", images, traces, masks=masks, shuffled_series=True)
    loaded = load_nwb_extraction(tmp_path)
    assert (loaded.height, loaded.width) == (HEIGHT, WIDTH)
    assert loaded.source == file
    np.testing.assert_array_equal(loaded.mask_ids, [10, 11, 12, 13])
    np.testing.assert_allclose(loaded.footprint_images(), images, rtol=1e-6)
    for kind in ("fluorescence", "neuropil", "spikes", "dff"):
        np.testing.assert_allclose(getattr(loaded, kind), traces[kind], rtol=1e-6, err_msg=kind)
    assert loaded.denoised is None
    np.testing.assert_array_equal(loaded.accepted, [True, False, True, True])
    assert loaded.confidence is None
    assert loaded.fps == RATE


def test_named_plane_segmentation_and_folder_rules(tmp_path):
    images, traces = _cells(np.random.default_rng(1))
    write_dandi_file(tmp_path / "a.nwb", images, traces)
    assert find_nwb_file(tmp_path) == tmp_path / "a.nwb"
    assert load_nwb_extraction(tmp_path / "a.nwb", plane_segmentation="PlaneSegmentation").nmasks == 4
    with pytest.raises(ValueError, match="PlaneSegmentation 'Other' not found.*PlaneSegmentation"):
        load_nwb_extraction(tmp_path / "a.nwb", plane_segmentation="Other")
    write_dandi_file(tmp_path / "b.nwb", images, traces)
    with pytest.raises(ValueError, match=r"2 \.nwb files \(a\.nwb, b\.nwb\)"):
        load_nwb_extraction(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no .nwb file"):
        load_nwb_extraction(empty)


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_file_that_is_not_nwb_is_refused_naming_it(tmp_path):
    bad = tmp_path / "results.nwb"
    bad.write_text("not an HDF5 file")
    with pytest.raises(ValueError) as error:
        load_nwb_extraction(bad)
    assert _one_line(error).startswith(f"{bad}: cannot be read as an NWB file")


def test_files_without_cells_or_fluorescence_are_refused(tmp_path):
    empty = tmp_path / "empty.nwb"
    with NWBHDF5IO(str(empty), "w") as io:
        io.write(_nwbfile())
    with pytest.raises(ValueError) as error:
        load_nwb_extraction(empty)
    assert "no PlaneSegmentation" in _one_line(error)

    nwbfile = _nwbfile()
    plane = _plane(nwbfile)
    ophys = nwbfile.create_processing_module("ophys", "processed")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="cells",
                                                   imaging_plane=plane)
    table.add_roi(image_mask=np.ones((WIDTH, HEIGHT), np.float32))
    dff = DfOverF(name="DfOverF")
    ophys.add(dff)
    dff.create_roi_response_series(name="RoiResponseSeries", data=np.zeros((N_FRAMES, 1)), unit="n.a.", rate=RATE,
                                   rois=table.create_roi_table_region("all", region=[0]))
    only_dff = tmp_path / "only_dff.nwb"
    with NWBHDF5IO(str(only_dff), "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError) as error:
        load_nwb_extraction(only_dff)
    message = _one_line(error)
    assert message.startswith(f"{only_dff}: PlaneSegmentation 'PlaneSegmentation': no raw fluorescence")
    assert "['dff']" in message


def test_motion_from_a_core_motion_correction_and_refused_without_one(tmp_path):
    images, traces = _cells(np.random.default_rng(2))
    without = write_dandi_file(tmp_path / "no_motion.nwb", images, traces)
    with pytest.raises(ValueError) as error:
        load_nwb_motion(without)
    assert "no motion correction to load" in _one_line(error)

    nwbfile = _nwbfile()
    plane = _plane(nwbfile)
    raw = TwoPhotonSeries(name="raw", imaging_plane=plane, data=np.zeros((N_FRAMES, WIDTH, HEIGHT), np.uint16),
                          unit="n.a.", rate=RATE)
    nwbfile.add_acquisition(raw)
    corrected = ImageSeries(name="corrected", data=np.zeros((N_FRAMES, WIDTH, HEIGHT), np.uint16), unit="n.a.",
                            rate=RATE)
    translation = np.random.default_rng(3).normal(0, 2, (N_FRAMES, 2)).astype(np.float32)  # (x, y) to align
    xy = pynwb.TimeSeries(name="xy_translation", data=translation, unit="pixels", rate=RATE)
    stack = CorrectedImageStack(corrected=corrected, original=raw, xy_translation=xy)
    nwbfile.create_processing_module("ophys", "processed").add(MotionCorrection(corrected_image_stacks=[stack]))
    with NWBHDF5IO(str(tmp_path / "motion.nwb"), "w") as io:
        io.write(nwbfile)
    motion = load_nwb_motion(tmp_path / "motion.nwb")
    np.testing.assert_array_equal(motion.rigid_shifts[:, 0], -translation[:, 1])
    np.testing.assert_array_equal(motion.rigid_shifts[:, 1], -translation[:, 0])
    assert motion.block_shifts is None and motion.source == "nwb"
