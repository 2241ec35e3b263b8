"""The documentation: the site builds with ``mkdocs build --strict`` (every page, nav entry, link and API reference)
and draws the table graph without a script from the network; the README's snippets run as written; the notebooks are
committed with their outputs."""

import ast
import builtins
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not importable; install the docs extra: pip install -e '.[docs]'",
)


@needs_mkdocs
def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (site / "index.html").is_file()
    # the API reference is generated from the docstrings, not left empty
    imaging = (site / "reference" / "imaging" / "index.html").read_text(encoding="utf-8")
    assert 'id="element_calcium.imaging.populate_all"' in imaging
    params = (site / "reference" / "compute_params" / "index.html").read_text(encoding="utf-8")
    assert 'id="element_calcium.compute.params.MotionParams"' in params


@needs_mkdocs
def test_concepts_page_draws_the_table_graph_without_a_script_from_the_network(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    page = (site / "concepts" / "index.html").read_text(encoding="utf-8")
    assert 'src="../img/table_graph.svg"' in page
    assert "mermaid" not in page.lower() and not re.search(r"https?://[^\"']*(cdn|unpkg|jsdelivr)", page)
    graph = (site / "img" / "table_graph.svg").read_text(encoding="utf-8")
    for table in ("Recording", "MotionCorrection", "Segmentation", "Activity", "Transients", "EventClustering"):
        assert f">{table}</text>" in graph
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', graph).group(1))
    assert width <= 800  # readable at the page's width without scaling the text down


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def undefined_names(blocks: list[str]) -> list[str]:
    """Names the blocks read before any of them (in order) assigns or imports them."""
    defined = set(dir(builtins))
    missing = []
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                defined |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        for statement in tree.body:
            loads = [n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
            missing += [name for name in loads if name not in defined]
            defined |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return missing


def test_readme_snippets_define_every_name_they_use():
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    assert not undefined_names(blocks)
    assert undefined_names(["x = key"]) == ["key"]  # the check itself sees an undefined name


def test_readme_and_howto_document_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ("setup-db", "demo", "ingest", "worker", "status", "jobs", "report", "video", "cleanup"):
        assert f"element-calcium {command}" in readme or f"scripts/{command}" in readme, command
    howto = (ROOT / "docs" / "howto" / "report.md").read_text(encoding="utf-8")
    assert "element-calcium report --recording" in howto and "element-calcium video --task" in howto


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebooks_are_committed_with_their_outputs_and_no_machine_paths(notebook):
    cells = [cell for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]
    assert sum(bool(cell["outputs"]) for cell in cells) >= len(cells) // 2
    outputs = json.dumps([cell["outputs"] for cell in cells])
    if notebook.name != "01_ingest_and_populate.ipynb":
        assert "image/png" in outputs, "no figure"
    assert not re.search(r"(/tmp/|/root/|/home/|/Users/|site-packages)", outputs)  # no path of the machine run on
    assert '"output_type": "error"' not in outputs


def resolve_dotted(name: str):
    """The object a dotted ``element_calcium...`` name points to: the longest importable module prefix, then
    attributes; a table column or a parameter dataclass field resolves to its name. LookupError when none."""
    import dataclasses
    import importlib

    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for index, attribute in enumerate(parts[split:], start=split):
            if hasattr(target, attribute):
                target = getattr(target, attribute)
                continue
            last = index == len(parts) - 1
            definition = getattr(target, "definition", None)
            if last and isinstance(definition, str) and re.search(rf"^\s*{re.escape(attribute)}\s*[:=]", definition, re.M):
                return attribute
            if last and dataclasses.is_dataclass(target) and attribute in {f.name for f in dataclasses.fields(target)}:
                return attribute
            raise LookupError(f"{'.'.join(parts[:index])} has no attribute, column or field {attribute!r}")
        return target
    raise LookupError(f"no module of {name} can be imported")


def test_capability_table_names_only_what_exists():
    page = (ROOT / "docs" / "capabilities.md").read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"`(element_calcium(?:\.\w+)+)`", page)))
    assert len(names) >= 100
    missing = {}
    for name in names:
        try:
            resolve_dotted(name)
        except LookupError as error:
            missing[name] = str(error)
    assert not missing, missing
    with pytest.raises(LookupError):  # the check itself sees a name that does not exist
        resolve_dotted("element_calcium.imaging.Segmentation.Mask.no_such_column")


STATUSES = ("same", "differs", "not offered", "in progress")


def capability_counts(page: str) -> dict[str, dict[str, int]]:
    """Per tool section of the capability page, the number of rows of each status (the third column)."""
    counts = {}
    for section in re.split(r"^## ", page, flags=re.M)[1:]:
        title, *lines = section.splitlines()
        rows = [line for line in lines if line.startswith("|") and not line.startswith("|---")][1:]
        statuses = [re.sub(r"<!--.*?-->", "", line.strip("|").split("|")[2]).strip() for line in rows]
        if title != "Count":
            assert set(statuses) <= set(STATUSES), (title, set(statuses) - set(STATUSES))
            counts[title] = {status: statuses.count(status) for status in STATUSES}
    return counts


def test_capability_table_counts_its_rows():
    page = (ROOT / "docs" / "capabilities.md").read_text(encoding="utf-8")
    counts = capability_counts(page)
    assert set(counts) == {"CalTrig backend", "element-miniscope", "astroCAST", "minian visualization", "CalSciPy"}
    summary = page.split("## Count", 1)[1]
    for tool, by_status in [*counts.items(), ("all", {s: sum(c[s] for c in counts.values()) for s in STATUSES})]:
        expected = f"| {tool} | {sum(by_status.values())} | " + " | ".join(str(by_status[s]) for s in STATUSES) + " |"
        assert expected in summary, expected
