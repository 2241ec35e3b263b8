"""The Recording page's source-extraction diagnostics, built from the populated recording's tables."""

from element_calcium.app.extraction_diagnostics import diagnostics_panel, extraction_figures


def test_extraction_figures_show_the_stored_seed_images_and_the_cells(app_data, app_pipeline, app_recording):
    figures = extraction_figures(app_data, app_recording)
    assert list(figures) == ["seeds", "seed peak-to-noise", "preprocessing"]
    legend = [text.get_text() for text in figures["seeds"].axes[0].get_legend().get_texts()]
    cells = int(next(label for label in legend if label.startswith("became a cell")).rsplit("(", 1)[1].rstrip(")"))
    n_masks = len(app_pipeline.imaging.Segmentation.Mask & app_recording)
    assert 0 < cells <= n_masks
    titles = [ax.get_title() for ax in figures["preprocessing"].axes if ax.images]
    assert titles == ["raw", "motion-corrected", "seed filter", "median removed", "over noise"]
    panel = diagnostics_panel(app_data, app_recording)
    panel[1].clicks += 1  # press the button: the figures replace it
    assert len(panel[1]) == 3


def test_the_recording_page_draws_the_diagnostics_when_asked(page, app_url, app_data, app_recording):
    page.goto(f"{app_url}?task={app_data.task_id(app_recording)}")
    page.get_by_text("Source extraction diagnostics").wait_for()
    page.get_by_role("button", name="Show extraction diagnostics").click()
    figures = page.locator("img[src^='data:image/png']")
    figures.nth(2).wait_for()
    assert figures.count() == 3
