"""The app in headless Chromium: open a recording, step the movie, select a cell and reject it, draw a cell and
see its trace, two curators on one curation, move the cluster cut, curate transients. Each page's screenshot is
saved under docs/img/app/ and checked not to be blank."""

import re

import numpy as np
import pytest
from PIL import Image

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.timeout(300)

# The visible text of an element drawn by Panel in its shadow root.
SHADOW_TEXT = ("element => element.shadowRoot ? [...element.shadowRoot.children]"
               ".filter(child => !['STYLE', 'LINK'].includes(child.tagName))"
               ".map(child => child.innerText).join(' ') : element.innerText")


def _screenshot(page, name: str) -> None:
    """Save the page as docs/img/app/<name>.png and check that it shows something (many colours, not flat)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert pixels.std() > 10 and colours > 200, f"{path.name} looks blank ({colours} colours)"


def _open(page, app_url, app_data, app_recording, tab: str | None = None) -> None:
    page.goto(f"{app_url}?task={app_data.task_id(app_recording)}")
    page.get_by_text(re.compile(r"frames of \d+ x \d+ pixels")).wait_for()
    _figure_titled(page, "Motion: rigid shifts")
    if tab:
        page.get_by_text(tab, exact=True).first.click()


def _bokeh(page, model: str, script: str) -> None:
    """Change a Bokeh model in the browser, as a tool would (``m`` is the model named ``model``)."""
    page.wait_for_function(f"() => window.Bokeh && Bokeh.documents.some(d => d.get_model_by_name({model!r}))")
    page.evaluate(f"() => {{ const m = Bokeh.documents.map(d => d.get_model_by_name({model!r})).find(Boolean); "
                  f"{script} }}")


# The page position of data point (x, y) of the Bokeh figure named ``name``: its plot view found among the views.
POINT_ON_PAGE = """([name, x, y]) => {
    const seen = new Set();
    function* views(view) {
        if (!view || seen.has(view)) return;
        seen.add(view);
        yield view;
        for (const child of view.child_views ?? []) yield* views(child);
    }
    for (const root of Object.values(Bokeh.index)) {
        for (const view of views(root)) {
            if (view.model?.name === name && view.frame && view.canvas_view) {
                const box = view.canvas_view.el.getBoundingClientRect();
                return [box.left + view.frame.x_scale.compute(x), box.top + view.frame.y_scale.compute(y)];
            }
        }
    }
    return null;
}"""


def _click(page, figure: str, x: float, y: float) -> None:
    """Click the figure named ``figure`` at its data point (x, y), as a user clicks it."""
    page.wait_for_function(f"() => ({POINT_ON_PAGE})([{figure!r}, 0, 0]) !== null")
    left, top = page.evaluate(POINT_ON_PAGE, [figure, x, y])
    page.mouse.click(left, top)


def _figure_titled(page, title: str) -> None:
    """Wait until the browser holds a Bokeh figure whose title contains ``title`` (figures draw on a canvas)."""
    page.wait_for_function(
        "title => window.Bokeh && Bokeh.documents.some(d => [...d.all_models].some(m => "
        "m.type === 'Title' && typeof m.text === 'string' && m.text.includes(title)))", arg=title)


def _text(page, css: str) -> str:
    """The text of the element of class ``css``, its shadow root's included (Panel draws there)."""
    return page.locator(css).first.evaluate(SHADOW_TEXT)


def _curation_ids(app_pipeline, app_recording) -> set[int]:
    return set((app_pipeline.imaging.Curation & app_recording).to_arrays("curation_id").tolist())


def test_the_recordings_page_lists_the_recording_with_its_stages(page, app_url, app_recording):
    page.goto(app_url)
    page.get_by_role("link", name="app-mouse / 0").wait_for()
    table = _text(page, ".recordings-table")
    assert "MotionCorrection" in table and "done" in table and "element_calcium" in table
    _screenshot(page, "recordings")


def test_open_a_recording_and_step_the_movie(page, app_url, app_data, app_recording):
    _open(page, app_url, app_data, app_recording)
    _screenshot(page, "recording")
    page.get_by_role("button", name="Open the movie viewer").click()
    page.get_by_text("frame 1 of 600").wait_for()
    page.get_by_role("button", name="Next frame").click()
    page.get_by_text("frame 2 of 600").wait_for()
    page.get_by_role("button", name="Next frame").click()
    page.get_by_text("frame 3 of 600").wait_for()
    page.get_by_role("button", name="Previous frame").click()
    page.get_by_text("frame 2 of 600").wait_for()
    _screenshot(page, "movie")


def test_select_a_cell_reject_it_and_find_the_new_curation(page, app_url, app_data, app_pipeline, app_recording):
    _open(page, app_url, app_data, app_recording, "Cells and curation")
    before = _curation_ids(app_pipeline, app_recording)
    latest = max(before)
    cells = app_data.cells({**app_recording, "curation_id": latest})
    chosen = int(cells["mask_id"].iloc[1])
    _click(page, "cells_image", float(cells["x"].iloc[1]) + 0.5, float(cells["y"].iloc[1]) + 0.5)
    page.get_by_text(f"Cell {chosen}", exact=True).wait_for()
    _figure_titled(page, f"cell {chosen}: dF/F")
    page.get_by_role("button", name="Reject").click()
    message = page.locator(".curation-message")
    message.get_by_text(re.compile(r"Curation \d+ made from curation")).wait_for()
    (new_id,) = _curation_ids(app_pipeline, app_recording) - before
    rejected = (app_pipeline.imaging.Curation.Rejected & app_recording & {"curation_id": new_id}).to_arrays("mask_id")
    parent = (app_pipeline.imaging.Curation & app_recording & {"curation_id": new_id}).fetch1("parent_curation_id")
    assert rejected.tolist() == [chosen] and parent == latest
    _bokeh(page, "curation_cells", "m.selected.indices = [0];")
    _figure_titled(page, f"cell {int(cells['mask_id'].iloc[0])}: dF/F")
    _screenshot(page, "cells")


def test_draw_a_missed_cell_and_see_its_trace(page, app_url, app_data, app_pipeline, app_recording):
    _open(page, app_url, app_data, app_recording, "Cells and curation")
    before = _curation_ids(app_pipeline, app_recording)
    # the polygon as the polygon draw tool leaves it in the figure's data source (pixel edges at integers)
    _bokeh(page, "drawn_cell", "m.data = {xs: [[20, 27, 27, 20]], ys: [[46, 46, 53, 53]]};")
    page.get_by_role("button", name="Add drawn cell").click()
    page.locator(".curation-message").get_by_text(re.compile(r"\(draw\)")).wait_for(timeout=60_000)
    (new_id,) = _curation_ids(app_pipeline, app_recording) - before
    added = (app_pipeline.imaging.Curation.Added & app_recording & {"curation_id": new_id}).to_dicts()
    assert len(added) == 1
    drawn = added[0]
    assert 20 <= drawn["mask_center_x"] <= 27 and 46 <= drawn["mask_center_y"] <= 53
    page.get_by_text(f"Cell {drawn['mask_id']}", exact=True).wait_for()
    _figure_titled(page, f"cell {drawn['mask_id']}: fluorescence (estimated from the movie)")
    _screenshot(page, "drawn_cell")


def test_two_curators_on_one_curation_make_two_children(chromium, app_url, app_data, app_pipeline, app_recording):
    contexts = [chromium.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    try:
        for page in pages:
            _open(page, app_url, app_data, app_recording, "Cells and curation")
        parent = max(_curation_ids(app_pipeline, app_recording))
        children = []
        for index, page in enumerate(pages):
            chosen = int(app_data.cells({**app_recording, "curation_id": parent})["mask_id"].iloc[index + 2])
            page.locator(".selected-cells input").fill(str(chosen))
            page.locator(".selected-cells input").press("Enter")
            page.get_by_text(f"Cell {chosen}", exact=True).wait_for()
            page.get_by_role("button", name="Verify").click()
            page.locator(".curation-message").get_by_text(re.compile("made from curation")).wait_for()
            children.append(max(_curation_ids(app_pipeline, app_recording)))
        stale_note = _text(pages[1], ".curation-message")
        assert f"Curation {parent} changed since this page read it" in stale_note and str(children[0]) in stale_note
        assert "changed since" not in _text(pages[0], ".curation-message")
        parents = (app_pipeline.imaging.Curation & app_recording & [{"curation_id": c} for c in children]).to_arrays(
            "parent_curation_id")
        assert len(set(children)) == 2 and parents.tolist() == [parent, parent]
    finally:
        for context in contexts:
            context.close()


def test_move_the_cluster_cut_and_recolour_the_cells(page, app_url, app_data, app_recording):
    _open(page, app_url, app_data, app_recording, "Events and clusters")
    summary = page.locator(".cluster-summary")
    summary.get_by_text(re.compile(r"cluster\(s\)")).wait_for()
    before = _text(page, ".cluster-summary")
    page.locator(".cut-height input").fill("0.5")
    page.locator(".cut-height input").press("Enter")
    summary.get_by_text("Cut at 0.5:").wait_for()
    _figure_titled(page, "spatial events active at the frame")
    count = int(re.search(r"(\d+) cluster\(s\)", _text(page, ".cluster-summary")).group(1))
    assert count > int(re.search(r"(\d+) cluster\(s\)", before).group(1))
    _screenshot(page, "events")


def test_curate_transients_as_a_new_transient_curation(page, app_url, app_data, app_pipeline, app_recording):
    _open(page, app_url, app_data, app_recording, "Transient curation")
    _figure_titled(page, "with its transients")
    page.locator(".marked-peaks input").fill("100")
    page.locator(".marked-peaks input").press("Enter")
    page.get_by_role("button", name="Save transient curation").click()
    page.locator(".transient-message").get_by_text(re.compile(r"transient curation \d+")).wait_for()
    rows = (app_pipeline.events.TransientCuration.Cell & app_recording).to_dicts()
    assert any(100 in np.asarray(row["marked_peaks"]).tolist() for row in rows)
    _screenshot(page, "transients")
