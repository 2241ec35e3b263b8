"""A patch too large to hold is read from its source chunk by chunk and its ring background predicted again per
chunk: the same numbers as when both are held, with no read longer than a chunk but the seeding's (at most
`_fit.INIT_FRAMES` block-mean frames)."""

import dataclasses

import numpy as np
import pytest

from element_calcium.compute.cnmf import _updates, extract_sources
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.simulate import simulate


def extract(frames, modality, reads):
    params = ProcessingParams.from_dict(default_params(modality))
    extraction = dataclasses.replace(params.extraction, patch_size=56, patch_overlap=24)

    def read_region(start, stop, y0, y1, x0, x1):
        reads.append(stop - start)
        return frames[start:stop, y0:y1, x0:x1]

    return extract_sources(read_region, frames.shape, modality=modality, params=extraction,
                           deconvolution=params.deconvolution, cell_diameter=params.cell_diameter, device="cpu",
                           workers=2)


@pytest.mark.parametrize("modality", ["1p", "2p"])
def test_streamed_patches_give_the_held_result(modality, monkeypatch):
    movie = simulate(mode=modality, n_frames=700, height=96, width=96, n_cells=10, max_shift=0.0, seed=8)
    frames = movie.render(0, len(movie))  # 700 frames: the ring fit averages blocks of 2 frames
    held_reads, streamed_reads = [], []
    held = extract(frames, modality, held_reads)
    monkeypatch.setattr(_updates, "HELD_BYTES", 0)
    streamed = extract(frames, modality, streamed_reads)
    assert held.footprints.shape[1] >= 5
    assert held_reads == [700] * len(held_reads)  # each patch read once, whole
    long_reads = [n for n in streamed_reads if n > _updates.CHUNK_FRAMES]
    assert long_reads == [700] * len(held_reads)  # only the seeding's frames (at most _fit.INIT_FRAMES) at once
    assert len(streamed_reads) > 10 * len(held_reads)
    for field in dataclasses.fields(held):
        a, b = getattr(held, field.name), getattr(streamed, field.name)
        if hasattr(a, "toarray"):
            a, b = a.toarray(), b.toarray()
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name
