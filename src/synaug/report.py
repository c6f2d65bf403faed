"""A self-contained HTML report (plots inlined as PNG) that a reader can follow without the code."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from synaug.data.imageset import ImageSet


def _matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _matplotlib().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def counts_figure(names, real_counts, synthetic_counts, title) -> str:
    plt = _matplotlib()
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(x)), 3.4))
    ax.bar(x, real_counts, label="real", color="#3b6ea8")
    if synthetic_counts is not None:
        ax.bar(x, synthetic_counts, bottom=real_counts, label="synthetic", color="#e39b3c")
    ax.set_xticks(x, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_ylabel("training images")
    ax.set_title(title)
    ax.legend()
    return _png(fig)


def _rows_of(ds: ImageSet, by_cell: bool) -> np.ndarray:
    return ds.cells() if by_cell and ds.has_groups else ds.labels


def sample_grid(real: ImageSet, synthetic: ImageSet | None, per_side: int = 6, seed: int = 0) -> tuple[np.ndarray, list]:
    """One row per cell (class, or class x group when both sets have groups): up to `per_side` real
    images, a grey gap, up to `per_side` synthetic ones. Returns (grid, row names)."""
    rng = np.random.default_rng(seed)
    H, W, C = real.image_shape
    by_cell = real.has_groups and (synthetic is None or synthetic.has_groups)
    names = real.cell_names() if by_cell else list(real.class_names)
    ids = range(len(names))
    rows = []
    for cell in ids:
        row = []
        for ds in (real, synthetic):
            tiles = np.zeros((per_side, H, W, C), dtype=np.uint8)
            if ds is not None:
                idx = np.where(_rows_of(ds, by_cell) == cell)[0]
                if len(idx):
                    pick = np.sort(rng.choice(idx, min(per_side, len(idx)), replace=False))
                    tiles[:len(pick)] = ds.images[pick]
            row += [np.concatenate(list(tiles), axis=1), np.full((H, W // 2, C), 128, dtype=np.uint8)]
        rows.append(np.concatenate(row[:-1], axis=1))
    return np.concatenate(rows, axis=0), names


def save_grid_png(real: ImageSet, synthetic: ImageSet | None, path: Path, zoom: int = 3) -> Path:
    """The real | synthetic grid as a plain PNG (rows = cells), for a quick look outside the report."""
    from PIL import Image

    grid, _ = sample_grid(real, synthetic)
    img = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    img.resize((img.width * zoom, img.height * zoom), Image.NEAREST).save(path)
    return Path(path)


def grid_figure(real: ImageSet, synthetic: ImageSet | None) -> str:
    plt = _matplotlib()
    grid, names = sample_grid(real, synthetic)
    H = real.image_shape[0]
    fig, ax = plt.subplots(figsize=(grid.shape[1] / H * 0.55, grid.shape[0] / H * 0.55))
    ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=255)
    ax.set_yticks(np.arange(len(names)) * H + H / 2, names)
    ax.set_xticks([])
    ax.set_title("Real (left) vs synthetic (right) samples")
    return _png(fig)


def accuracy_figure(names, per_method: dict, title: str) -> str:
    plt = _matplotlib()
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(x) * max(1, len(per_method)) / 3), 3.4))
    width = 0.8 / max(1, len(per_method))
    for k, (name, acc) in enumerate(per_method.items()):
        ax.bar(x + (k - (len(per_method) - 1) / 2) * width, acc, width, label=name)
    ax.set_xticks(x, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th:last-child{text-align:left}td.note{white-space:normal}
img{max-width:100%}.note{color:#555;font-size:0.92em}"""


def _table(results: dict, task) -> str:
    rows = ["<tr><th>method</th>" + "".join(f"<th>{lab}</th>" for lab in task.labels) + "<th>what it is</th></tr>"]
    for name, r in results["methods"].items():
        cells = []
        for k, f in zip(task.keys, task.fmt):
            st = r["summary"][k]
            cells.append("<td>-</td>" if st["mean"] is None else f"<td>{f.format(st['mean'])} ± {f.format(st['std'])}</td>")
        rows.append(f"<tr><td><b>{html.escape(name)}</b></td>{''.join(cells)}"
                    f"<td class=note style='text-align:left'>{html.escape(r['description'])}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


SYNAUG_TEXT = ("<li><b>SYNAuG</b>: every cell (class, or class x group) filled with synthetic images up to the "
               "largest cell, training with Mixup between real and synthetic samples, then only the last "
               "linear layer fine-tuned on a real subset with the same number of images per cell.</li>")


def write_report(results: dict, splits, synthetic: dict, path: Path) -> Path:
    from synaug.experiments.tasks import task_for

    cfg = results["config"]
    task = task_for(results["task"])
    train = splits.train
    th = cfg["thresholds"]
    info = results.get("data", {})
    body = [f"<h1>synaug {html.escape(task.name)}: {html.escape(cfg['dataset'])}"
            + (f", imbalance factor {cfg['imbalance']}" if task.name == "longtail" else "") + "</h1>"]
    if info.get("stand_in_for"):
        body.append(f"<p><b>Embedded stand-in</b> for {html.escape(info['stand_in_for'])}: real images with a "
                    "group attribute applied by synaug, so the effect of the imbalance is known. Not the real "
                    "dataset; do not compare its numbers with the paper's.</p>")
    cells = results["train_cells"]
    body.append(
        f"<p>Training set: {len(train)} real images in {len(cells)} cells "
        f"({max(cells.values())} in the largest, {min(cells.values())} in the smallest); test set: "
        f"{len(splits.test)} images. Seeds: {', '.join(map(str, cfg['seeds']))}. Numbers are mean ± sample "
        f"standard deviation over seeds (± 0 with one seed), measured at the <b>last training step</b>: nothing "
        f"is selected on the test set.</p>")
    body.append(_table(results, task))
    body.append("<ul class=note>" + task.explain.format(many=th["many"], few=th["few"]) + SYNAUG_TEXT + "</ul>")
    for use_groups, syn in synthetic.items():
        by_cell = train.has_groups and use_groups
        label = "class x group cells" if by_cell else "classes"
        body.append(f"<h2>Uniformization over {label}</h2><p>{len(syn)} synthetic images from the "
                    f"<code>{html.escape(cfg['generate']['generator'])}</code> generator.</p>")
        undrawable = results["undrawable"].get(str(use_groups)) or {}
        if undrawable:
            body.append("<p><b>Not uniformized</b> (the generator cannot draw them; these keep only real images): "
                        + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in undrawable.items()) + "</p>")
        names = list(results["train_cells"]) if by_cell else list(train.class_names)
        real_counts = list(results["train_cells"].values()) if by_cell else train.class_counts().tolist()
        syn_counts = list(results["synthetic_cells"][str(use_groups)].values())
        body.append(f"<img src='{counts_figure(names, real_counts, syn_counts, f'Training images per {label[:-1]}: real and synthetic')}'>")
        real_rows = train if by_cell else train.without_groups()
        grid_name = f"grid-{'cells' if by_cell else 'classes'}.png"
        save_grid_png(real_rows, syn, Path(path).parent / grid_name)
        body.append(f"<img src='{grid_figure(real_rows, syn)}'><p class=note>Also saved as "
                    f"<code>{grid_name}</code>: real (left) | synthetic (right), one row per "
                    f"{'cell' if by_cell else 'class'}.</p>")
    if synthetic and cfg["generate"]["generator"] == "render":
        body.append("<p class=note>The offline <code>render</code> generator stands in for a text-to-image model: it "
                    "draws from fonts, emoji and textures that ship in Debian and scikit-image. Its domain gap "
                    "differs from Stable Diffusion's; read these numbers as a test of the pipeline on real data, not "
                    "as a reproduction of the paper's figures.</p>")
    if train.has_groups:
        per = {m: list(r["per_cell_mean"].values()) for m, r in results["methods"].items()}
        names = list(next(iter(results["methods"].values()))["per_cell_mean"])
        body.append(f"<h2>Accuracy per class x group cell</h2><img src='{accuracy_figure(names, per, 'Test accuracy per cell (mean over seeds)')}'>")
    else:
        per = {m: r["per_class_mean"] for m, r in results["methods"].items()}
        body.append(f"<h2>Per-class accuracy</h2><img src='"
                    f"{accuracy_figure(train.class_names, per, 'Per-class test accuracy (mean over seeds); head to tail')}'>")
    body.append(f"<p class=note>Run time {results['seconds']:.0f} s. Configuration: <code>config.yaml</code>; "
                "per-run metrics, checkpoints and versions under <code>runs/</code>.</p>")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"<!doctype html><meta charset=utf-8><title>synaug report</title><style>{CSS}</style>"
                   + "\n".join(body))
    tmp.replace(path)
    return path
