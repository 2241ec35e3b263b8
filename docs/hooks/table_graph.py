"""MkDocs hook: draw the pipeline's table graph as an SVG when the site is built, from the table definitions.

The graph is read from the source (``-> Parent`` lines of each table's ``definition``; no database, no
import of DataJoint) and laid out in layers, parents above children, so the page needs no script and no
network to show it. The image is ``img/table_graph.svg`` of the built site.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {  # schema drawn -> the module files that declare its tables
    "session": [ROOT / "workflow" / "session.py"],
    "imaging": [ROOT / "element_calcium" / name for name in ("imaging_recordings.py", "imaging_processing.py",
                                                            "imaging.py")],
    "events": [ROOT / "element_calcium" / "events.py"],
    "clusters": [ROOT / "element_calcium" / "clusters.py"],
}
LEFT_OUT = {"Subject", "Equipment", "AnatomicalLocation", "RecordingLocation", "AcquisitionSoftware", "Channel",
            "ProcessingMethod", "MaskType", "EventDetector"}
READS_WITHOUT_KEY = [("BehaviorEvent", "PeriEventWindow")]  # dependencies on rows read without a foreign key
TIERS = {"Manual": ("#d7ecd9", "#3b7d46"), "Lookup": ("#e6e6e6", "#777777"), "Imported": ("#d6e4f5", "#3a6ea5"),
         "Computed": ("#f5dcdc", "#a53a3a")}
IMAGE = "img/table_graph.svg"
_FOREIGN_KEY = re.compile(r"^\s*->\s*([\w.]+)", re.MULTILINE)

CHAR_W, BOX_H, GAP_X, LAYER_H, MARGIN = 7.4, 36, 18, 64, 10  # pixels at the 12 px font of the image


def _definition(node: ast.ClassDef) -> str:
    for statement in node.body:
        if isinstance(statement, ast.Assign) and any(getattr(t, "id", "") == "definition" for t in statement.targets):
            texts = [n.value for n in ast.walk(statement.value) if isinstance(n, ast.Constant)]
            return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def _tier(node: ast.ClassDef) -> str | None:
    names = {getattr(base, "attr", getattr(base, "id", "")) for base in node.bases}
    return next((tier for tier in TIERS if tier in names), None)


def _parent(reference: str) -> str:
    """The master table a ``-> reference`` points at: ``imaging.Activity.Trace`` -> ``Activity``."""
    names = [name for name in reference.split(".") if name not in SOURCES and name != "proj"]
    return names[0]


def read_graph() -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, bool]]]:
    """Tables ``{name: (schema, tier)}`` and edges ``(parent, child, through a part or read without key)``."""
    tables, edges = {}, []
    for schema, path in ((schema, path) for schema, files in SOURCES.items() for path in files):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef) or _tier(node) is None:
                continue
            tables[node.name] = (schema, _tier(node))
            direct = {_parent(ref) for ref in _FOREIGN_KEY.findall(_definition(node))}
            edges += [(parent, node.name, False) for parent in sorted(direct)]
            for part in (n for n in node.body if isinstance(n, ast.ClassDef)):
                through = {_parent(ref) for ref in _FOREIGN_KEY.findall(_definition(part))} - {"master"} - direct
                edges += [(parent, node.name, True) for parent in sorted(through)]
    edges += [(parent, child, True) for parent, child in READS_WITHOUT_KEY]
    shown = {name: value for name, value in tables.items() if name not in LEFT_OUT}
    edges = [(a, b, dashed) for a, b, dashed in dict.fromkeys(edges) if a in shown and b in shown]
    # a part's reference to a table that the master descends from anyway says nothing new
    return shown, [(a, b, dashed) for a, b, dashed in edges
                   if not dashed or a not in _ancestors(b, [(p, c) for p, c, d in edges if not (d and c == b)])]


def _ancestors(name: str, edges: list[tuple[str, str]]) -> set[str]:
    found, todo = set(), [name]
    while todo:
        child = todo.pop()
        parents = {a for a, b in edges if b == child} - found
        found |= parents
        todo += parents
    return found


def _layers(tables, edges) -> dict[str, int]:
    """Layer of each table: one below its lowest parent; a table without parents (a lookup, a session) just
    above its highest child, so that it stands beside what uses it."""
    layer = {name: 0 for name in tables}
    for _ in tables:
        for parent, child, _dashed in edges:
            layer[child] = max(layer[child], layer[parent] + 1)
    for name in tables:
        children = [layer[child] for parent, child, _dashed in edges if parent == name]
        if children and not any(child == name for _parent, child, _dashed in edges):
            layer[name] = min(children) - 1
    return layer


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def layout(tables, edges):
    """Positions of the tables and the routes of the edges (through a point per layer an edge crosses)."""
    layer = _layers(tables, edges)
    rows: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    for name in tables:
        rows[layer[name]].append(name)
    chains = []
    for index, (parent, child, dashed) in enumerate(edges):
        chain = [parent] + [f"~{index}.{level}" for level in range(layer[parent] + 1, layer[child])] + [child]
        for point in chain[1:-1]:
            rows[int(point.split(".")[1])].append(point)
        chains.append((chain, dashed))
    links = [(a, b) for chain, _ in chains for a, b in zip(chain, chain[1:])]
    parents = {name: [a for a, b in links if b == name] for row in rows for name in row}
    children = {name: [b for a, b in links if a == name] for row in rows for name in row}
    for sweep in range(24):  # barycentre ordering, downwards then upwards
        down = sweep % 2 == 0
        for row in rows[1:] if down else rows[-2::-1]:
            rank = {name: i for r in rows for i, name in enumerate(r)}
            row.sort(key=lambda name: _mean([rank[n] for n in (parents if down else children)[name]], rank[name]))
    width = {name: 6.0 if name.startswith("~") else CHAR_W * len(name) + 20 for row in rows for name in row}
    x = {}
    for row in rows:
        position = 0.0
        for name in row:
            x[name] = position + width[name] / 2
            position += width[name] + GAP_X
    widest = max(sum(width[name] for name in row) + GAP_X * (len(row) - 1) for row in rows)
    for row in rows:  # centre each layer
        used = sum(width[name] for name in row) + GAP_X * (len(row) - 1)
        for name in row:
            x[name] += (widest - used) / 2 + MARGIN
    top = MARGIN + 24 + BOX_H / 2  # below the legend
    y = {name: top + i * LAYER_H for i, row in enumerate(rows) for name in row}
    return x, y, width, chains, widest + 2 * MARGIN, top + (len(rows) - 1) * LAYER_H + BOX_H / 2 + MARGIN


def svg() -> str:
    """The table graph as an SVG document."""
    tables, edges = read_graph()
    x, y, width, chains, total_w, total_h = layout(tables, edges)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
           f'width="{total_w:.0f}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    legend_x = MARGIN
    for tier, (fill, stroke) in TIERS.items():
        out.append(f'<rect x="{legend_x}" y="{MARGIN}" width="12" height="12" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{legend_x + 16}" y="{MARGIN + 10}">{tier}</text>')
        legend_x += 30 + CHAR_W * len(tier)
    for chain, dashed in chains:
        points = [(x[chain[0]], y[chain[0]] + BOX_H / 2)]
        points += [(x[p], y[p] + BOX_H / 2) for p in chain[1:-1]]
        points.append((x[chain[-1]], y[chain[-1]] - BOX_H / 2 + 1))
        path = f"M{points[0][0]:.1f},{points[0][1]:.1f} " + " ".join(
            f"C{a[0]:.1f},{a[1] + LAYER_H / 2:.1f} {b[0]:.1f},{b[1] - LAYER_H / 2:.1f} {b[0]:.1f},{b[1]:.1f}"
            for a, b in zip(points, points[1:]))
        style = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(f'<path d="{path}" fill="none" stroke="#555"{style} marker-end="url(#arrow)"/>')
    for name, (schema, tier) in tables.items():
        fill, stroke = TIERS[tier]
        left, top = x[name] - width[name] / 2, y[name] - BOX_H / 2
        out.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{width[name]:.1f}" height="{BOX_H}" rx="4" '
                   f'fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x[name]:.1f}" y="{y[name] - 1:.1f}" text-anchor="middle">{html.escape(name)}</text>'
                   f'<text x="{x[name]:.1f}" y="{y[name] + 12:.1f}" text-anchor="middle" font-size="9" '
                   f'fill="#666">{schema}</text>')
    out.append("</svg>")
    return "\n".join(out)


def on_files(files, config):
    """Add the drawn graph to the site's files."""
    files.append(File.generated(config, IMAGE, content=svg()))
    return files
