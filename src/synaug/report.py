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


def counts_figure(class_names, real_counts, synthetic_counts) -> str:
    plt = _matplotlib()
    x = np.arange(len(class_names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(x)), 3.2))
    ax.bar(x, real_counts, label="real", color="#3b6ea8")
    if synthetic_counts is not None:
        ax.bar(x, synthetic_counts, bottom=real_counts, label="synthetic", color="#e39b3c")
    ax.set_xticks(x, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0, ha="right")
    ax.set_ylabel("training images")
    ax.set_title("Class counts before (real) and after uniformization (real + synthetic)")
    ax.legend()
    return _png(fig)


def sample_grid(real: ImageSet, synthetic: ImageSet | None, per_side: int = 6, seed: int = 0) -> np.ndarray:
    """One row per class: up to `per_side` real images, a gap, up to `per_side` synthetic ones."""
    rng = np.random.default_rng(seed)
    H, W, C = real.image_shape
    rows = []
    for c in range(real.num_classes):
        row = []
        for ds in (real, synthetic):
            tiles = np.zeros((per_side, H, W, C), dtype=np.uint8)
            if ds is not None:
                idx = np.where(ds.labels == c)[0]
                if len(idx):
                    pick = rng.choice(idx, min(per_side, len(idx)), replace=False)
                    tiles[:len(pick)] = ds.images[np.sort(pick)]
            row.append(np.concatenate(list(tiles), axis=1))
            row.append(np.full((H, W // 2, C), 128, dtype=np.uint8))
        rows.append(np.concatenate(row[:-1], axis=1))
    return np.concatenate(rows, axis=0)


def grid_figure(real: ImageSet, synthetic: ImageSet | None) -> str:
    plt = _matplotlib()
    grid = sample_grid(real, synthetic)
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 28 * 0.55, grid.shape[0] / 28 * 0.55))
    ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=255)
    H = real.image_shape[0]
    ax.set_yticks(np.arange(real.num_classes) * H + H / 2, real.class_names)
    ax.set_xticks([])
    ax.set_title("Real (left) vs synthetic (right) samples per class")
    return _png(fig)


def per_class_figure(class_names, per_method: dict) -> str:
    plt = _matplotlib()
    x = np.arange(len(class_names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(x)), 3.2))
    width = 0.8 / max(1, len(per_method))
    for k, (name, acc) in enumerate(per_method.items()):
        ax.bar(x + (k - (len(per_method) - 1) / 2) * width, acc, width, label=name)
    ax.set_xticks(x, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Per-class test accuracy (mean over seeds); classes ordered head to tail")
    ax.legend(fontsize=8)
    return _png(fig)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.note{color:#555;font-size:0.92em}"""


def _table(results: dict, keys, labels) -> str:
    rows = ["<tr><th>method</th>" + "".join(f"<th>{lab}</th>" for lab in labels) + "<th>what it is</th></tr>"]
    for name, r in results["methods"].items():
        cells = []
        for k in keys:
            s = r["summary"][k]
            cells.append("<td>-</td>" if s["mean"] is None else f"<td>{s['mean']:.2f} ± {s['std']:.2f}</td>")
        rows.append(f"<tr><td><b>{html.escape(name)}</b></td>{''.join(cells)}"
                    f"<td class=note style='text-align:left'>{html.escape(r['description'])}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def write_longtail_report(results: dict, splits, synthetic: ImageSet | None, path: Path) -> Path:
    from synaug.experiments.runner import LT_KEYS, LT_LABELS

    cfg = results["config"]
    names = results["class_names"]
    th = cfg["thresholds"]
    seeds = cfg["seeds"]
    undrawable = results.get("undrawable") or {}
    body = [
        f"<h1>synaug: {html.escape(cfg['dataset'])}, imbalance factor {cfg['imbalance']}</h1>",
        f"<p>Training set: {sum(results['train_counts'])} real images in {len(names)} classes "
        f"({results['train_counts'][0]} in the largest, {results['train_counts'][-1]} in the smallest); "
        f"test set: {len(splits.test)} images, balanced. Seeds: {', '.join(map(str, seeds))}. "
        f"Numbers are top-1 accuracy in percent, mean ± sample standard deviation over seeds "
        f"(± 0 with one seed), measured at the <b>last training step</b>: nothing is selected on the test set.</p>",
        _table(results, LT_KEYS, LT_LABELS),
        "<ul class=note>"
        "<li><b>All</b>: accuracy over the whole balanced test set.</li>"
        f"<li><b>Many / Medium / Few</b>: mean per-class test accuracy over classes with more than {th['many']}"
        f" / {th['few']} to {th['many']} / fewer than {th['few']} real training images (LDAM-DRW convention).</li>"
        "<li><b>Balanced</b>: mean per-class recall; <b>G-mean</b>: geometric mean of per-class recalls "
        "(imbalanced-learn's geometric_mean_score).</li>"
        "<li><b>SYNAuG</b>: every class filled with synthetic images up to the largest class, training with "
        "Mixup between real and synthetic samples, then only the last linear layer fine-tuned on a real "
        "subset with the same number of images per class (the smallest class count).</li></ul>",
    ]
    if synthetic is not None:
        body.append(f"<h2>Uniformization</h2><p>{len(synthetic)} synthetic images from the "
                    f"<code>{html.escape(cfg['generate']['generator'])}</code> generator.</p>")
        if undrawable:
            body.append("<p><b>Not uniformized</b> (the generator cannot draw them; these classes keep only real "
                        "images): " + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in undrawable.items())
                        + "</p>")
        body.append(f"<img src='{counts_figure(names, results['train_counts'], results['synthetic_counts'])}'>")
        body.append(f"<img src='{grid_figure(splits.train, synthetic)}'>")
        if cfg["generate"]["generator"] == "render":
            body.append("<p class=note>The offline <code>render</code> generator stands in for a text-to-image "
                        "model: it draws classes from fonts and emoji that ship in Debian packages. Its domain gap "
                        "to real photos differs from Stable Diffusion's; read these numbers as a test of the "
                        "pipeline on real data, not as a reproduction of the paper's figures.</p>")
    body.append(f"<h2>Per-class accuracy</h2><img src='"
                f"{per_class_figure(names, {m: r['per_class_mean'] for m, r in results['methods'].items()})}'>")
    body.append(f"<p class=note>Run time {results['seconds']:.0f} s. Configuration: "
                f"<code>config.yaml</code>; per-run metrics, checkpoints and versions under <code>runs/</code>.</p>")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"<!doctype html><meta charset=utf-8><title>synaug report</title><style>{CSS}</style>"
                   + "\n".join(body))
    tmp.replace(path)
    return path
