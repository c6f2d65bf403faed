"""The audit's files: audit.json (everything), audit.csv (one row per cell), images.csv (one row per
synthetic image: what the filter reads) and audit.html (per-cell bars; per cell, real images beside
the synthetic images scored worst and best)."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import numpy as np

from synaug.audit.verdict import NOT_RECOGNISED, RECOGNISED, RULE
from synaug.data.imageset import ImageSet
from synaug.fileio import atomic_write_text, write_json
from synaug.pages import page
from synaug.plots import png_uri, pyplot

CELL_COLUMNS = ["cell", "key", "name", "real", "real_val", "synthetic", "score", "transfer", "fidelity", "gap",
                "precision", "recall", "duplicate_rate", "copy_rate", "confused_with", "assigned_to", "false_alarm",
                "verdict"]
IMAGE_COLUMNS = ["file_name", "cell", "own_prob", "assigned", "manifold_ratio"]
BARS = [("transfer", "transfer: recall of a synthetic-only probe\non real validation images"),
        ("fidelity", "label fidelity: synthetic images a real\nclassifier assigns to their own cell"),
        ("gap", "domain gap: real-vs-synthetic probe\naccuracy (0.5 = indistinguishable)"),
        ("precision", "precision: synthetic inside the\nreal k-NN manifold"),
        ("recall", "recall: real inside the\nsynthetic k-NN manifold"),
        ("duplicate_rate", "near-duplicate rate\n(synthetic vs synthetic)")]


def _csv_text(rows, columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _fmt(v):
    return "" if v is None else (f"{v:.4f}" if isinstance(v, float) else v)


def write_outputs(result: dict, real: ImageSet, synthetic: ImageSet, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    cells = []
    for r in result["cells"]:
        row = {k: _fmt(r.get(k)) for k in CELL_COLUMNS}
        row["confused_with"] = "; ".join(f"{c['name']} {c['share']:.2f}" for c in r["confused_with"])
        row["assigned_to"] = "; ".join(f"{c['name']} {c['share']:.2f}" for c in r["assigned_to"])
        cells.append(row)
    atomic_write_text(out_dir / "audit.csv", _csv_text(cells, CELL_COLUMNS))
    atomic_write_text(out_dir / "images.csv", _csv_text(
        [{k: _fmt(im[k]) for k in IMAGE_COLUMNS} for im in result["images"]], IMAGE_COLUMNS))
    summary = {k: v for k, v in result.items() if k not in ("images", "val_index")}
    summary["images_csv"] = "images.csv"
    write_json(out_dir / "audit.json", summary)
    atomic_write_text(out_dir / "audit.html", audit_html(result, real, synthetic))


def bars_figure(rows: list[dict]) -> str:
    plt = pyplot()
    names = [r["name"] for r in rows]
    x = np.arange(len(names))
    fig, axes = plt.subplots(2, 3, figsize=(max(9, 0.5 * len(x) * 3), 6.5), sharex=True)
    for ax, (key, title) in zip(axes.ravel(), BARS):
        vals = [r[key] for r in rows]
        ax.bar(x, [0 if v is None else v for v in vals], color="#3b6ea8")
        for i, v in enumerate(vals):
            if v is None:
                ax.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#888")
        if key == "gap":
            ax.axhline(0.5, color="#e39b3c", lw=1, ls="--")
        ax.set_ylim(0, 1.05)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    return png_uri(fig)


def _strip(images: np.ndarray, n: int, H: int, W: int, C: int) -> np.ndarray:
    tiles = np.zeros((n, H, W, C), np.uint8)
    tiles[:len(images)] = images[:n]
    return np.concatenate(list(tiles), axis=1)


def examples_png(real: ImageSet, synthetic: ImageSet, result: dict, cell: int, n: int, zoom: int = 3,
                 seed: int = 0) -> str | None:
    """real | worst synthetic | best synthetic (by the probability a real classifier gives the image's
    own cell), as an inline PNG; None if the cell has no image at all."""
    from PIL import Image

    H, W, C = real.image_shape
    ridx = np.where(real.cells() == cell)[0]
    sidx = np.array([im["index"] for im in result["images"] if im["cell"] == cell], np.int64)
    if not len(ridx) and not len(sidx):
        return None
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(ridx, min(n, len(ridx)), replace=False)) if len(ridx) else ridx
    score = np.array([result["images"][i]["own_prob"] for i in sidx])
    order = sidx[np.argsort(score, kind="stable")]
    worst, best = order[:n], order[::-1][:n]
    gap = np.full((H, W // 2, C), 255, np.uint8)
    take = lambda ds, idx: ds.images[np.asarray(idx, np.int64)] if len(idx) else np.zeros((0, H, W, C), np.uint8)  # noqa: E731
    row = np.concatenate([_strip(take(real, pick), n, H, W, C), gap, _strip(take(synthetic, worst), n, H, W, C),
                          gap, _strip(take(synthetic, best), n, H, W, C)], axis=1)
    img = Image.fromarray(row[:, :, 0] if C == 1 else row)
    img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def _verdict_class(verdict: str) -> str:
    return "warn" if verdict.startswith(NOT_RECOGNISED) else "ok" if verdict.startswith(RECOGNISED) else "note"


def verdicts_html(rows: list[dict]) -> str:
    """The verdict per cell (`synaug.audit.verdict`), cells not recognised in red, recognised in green,
    the rest (partly, too few images to tell) plain, above the numbers."""
    e = html.escape
    items = "".join(f"<li><b>{e(r['name'])}</b>: <span class={_verdict_class(r['verdict'])}>"
                    f"{e(r['verdict'])}</span></li>" for r in rows if r.get("verdict"))
    return f"<h2>Verdict per cell</h2><ul>{items}</ul><p class=note>{e(RULE)}.</p>" if items else ""


def audit_html(result: dict, real: ImageSet, synthetic: ImageSet) -> str:
    rows = result["cells"]
    n = int(result.get("config", {}).get("examples", 6))
    e = html.escape
    head = ("<tr><th>cell</th><th>real</th><th>synthetic</th><th>transfer %</th><th>fidelity %</th>"
            "<th>gap %</th><th>precision %</th><th>recall %</th><th>duplicates %</th><th>copies %</th>"
            "<th>real val images mistaken for</th></tr>")
    body = "".join(
        f"<tr><td>{e(r['name'])}</td><td>{r['real']}</td><td>{r['synthetic']}</td><td>{_pct(r['transfer'])}</td>"
        f"<td>{_pct(r['fidelity'])}</td><td>{_pct(r['gap'])}</td><td>{_pct(r['precision'])}</td>"
        f"<td>{_pct(r['recall'])}</td><td>{_pct(r['duplicate_rate'])}</td><td>{_pct(r['copy_rate'])}</td>"
        f"<td>{e(', '.join(c['name'] + ' ' + _pct(c['share']) for c in r['confused_with']))}</td></tr>"
        for r in rows)
    examples = []
    for r in rows:
        src = examples_png(real, synthetic, result, r["cell"], n)
        if src:
            examples.append(f"<h3>{e(r['name'])}</h3><p>real (left) | {n} synthetic scored worst | {n} scored best "
                            f"(by the real classifier's probability of the cell)</p><img src='{src}'>")
    split = result["split"]
    return page("synaug audit", f"""<h1>Synthetic data audit: {e(str(result.get('dataset', '')))}</h1>
<p>Synthetic folder <code>{e(str(result.get('synthetic_dir', '')))}</code>; cells: {e(result['cell_kind'])};
features: {e(result['features'])}. Validation: {split['val']} real images carved from the training data
(seeded, stratified, fraction {split['fraction']}); the test set is not read.</p>
<p><b>transfer</b>: recall, on the cell's real validation images, of a linear probe trained on synthetic images only
(the score budgets act on). <b>fidelity</b>: share of the cell's synthetic images that a class-balanced linear probe
on real images assigns to the cell. <b>gap</b>: accuracy of a linear probe telling the cell's real from synthetic
images (50 % = indistinguishable). <b>precision / recall</b>: k-NN manifolds (Kynkaanniemi et al. 2019,
k = {result['config']['k']}). <b>duplicates / copies</b>: synthetic images much closer to another synthetic / a real
image than real images are to each other.</p>
{verdicts_html(rows)}
<table><thead>{head}</thead><tbody>{body}</tbody></table>
<img src="{bars_figure(rows)}">
<h2>Examples per cell</h2>{''.join(examples)}
""")
