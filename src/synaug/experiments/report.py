"""A run's own sections of the one report (`experiment_report.section_html` writes every results.json,
an experiment's or a run's): the data, the training setup, the chance level, the metric definitions,
each synthetic set (counts real vs synthetic, the real | synthetic grid), the audit verdicts and the
accuracy per class or cell. Every section reads the plain results dict; only the grid, drawn from the
images, is made by the collector (`save_grid_png`) and inlined from its file."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from synaug.audit.verdict import NOT_RECOGNISED, RECOGNISED, RULE as VERDICT_RULE
from synaug.data.imageset import ImageSet
from synaug.eval.chance import chance_note
from synaug.eval.metrics import split_text
from synaug.eval.specs import definitions_html
from synaug.pages import figure_html
from synaug.experiments.tasks import TASKS
from synaug.generators.base import generator_note
from synaug.plots import png_uri, pyplot


def head_to_tail(counts) -> list[int]:
    """Indices ordered by training count, largest first (ties keep their order)."""
    return sorted(range(len(counts)), key=lambda i: -counts[i])


def counts_figure(names, real_counts, synthetic_counts, title) -> str:
    plt = pyplot()
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(x)), 3.4))
    ax.bar(x, real_counts, label="real", color="#3b6ea8")
    if synthetic_counts is not None:
        ax.bar(x, synthetic_counts, bottom=real_counts, label="synthetic", color="#e39b3c")
    ax.set_xticks(x, names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_ylabel("training images")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return png_uri(fig)


def _rows_of(ds: ImageSet, by_cell: bool) -> np.ndarray:
    return ds.cells() if by_cell and ds.has_groups else ds.labels


def sample_grid(real: ImageSet, synthetic: ImageSet | None, per_side: int = 6, seed: int = 0,
                with_missing: bool = False):
    """One row per cell (class, or class x group when both sets have groups): up to `per_side` real
    images, a grey gap, up to `per_side` synthetic ones. Returns (grid, row names), plus with
    `with_missing` the row indices that have no synthetic image (cells the generator did not draw)."""
    rng = np.random.default_rng(seed)
    H, W, C = real.image_shape
    by_cell = real.has_groups and (synthetic is None or synthetic.has_groups)
    names = real.cell_names() if by_cell else list(real.class_names)
    ids = range(len(names))
    rows, missing = [], []
    for cell in ids:
        row = []
        for ds in (real, synthetic):
            tiles = np.zeros((per_side, H, W, C), dtype=np.uint8)
            if ds is not None:
                idx = np.where(_rows_of(ds, by_cell) == cell)[0]
                if len(idx):
                    pick = np.sort(rng.choice(idx, min(per_side, len(idx)), replace=False))
                    tiles[:len(pick)] = ds.images[pick]
                elif ds is synthetic:
                    missing.append(cell)
            row += [np.concatenate(list(tiles), axis=1), np.full((H, W // 2, C), 128, dtype=np.uint8)]
        rows.append(np.concatenate(row[:-1], axis=1))
    grid = np.concatenate(rows, axis=0)
    return (grid, names, missing) if with_missing else (grid, names)


NOT_DRAWN = "not drawn"


def _missing_label(name: str, undrawable) -> str:
    return NOT_DRAWN if name in undrawable else "none needed"


def save_grid_png(real: ImageSet, synthetic: ImageSet | None, path: Path, zoom: int = 3,
              undrawable=()) -> Path:
    """The real | synthetic grid as a plain PNG for a quick look outside the report: a header,
    the cell name left of each row and, where a cell has no synthetic image, "not drawn" (the
    generator cannot draw it: `undrawable`) or "none needed" (the plan added none)."""
    from PIL import Image, ImageDraw, ImageFont

    grid, names, missing = sample_grid(real, synthetic, with_missing=True)
    H = real.image_shape[0]
    img = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid).convert("RGB")
    img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
    try:
        font = ImageFont.load_default(size=max(11, min(H * zoom // 2, 18)))
    except TypeError:  # Pillow < 10.1: one fixed-size bitmap font
        font = ImageFont.load_default()
    measure = ImageDraw.Draw(img)
    margin = 12 + max(int(measure.textlength(n, font=font)) for n in names)
    header = 24
    canvas = Image.new("RGB", (img.width + margin, img.height + header), "white")
    canvas.paste(img, (margin, header))
    draw = ImageDraw.Draw(canvas)
    row_h, side_w = H * zoom, (img.width - real.image_shape[1] * zoom // 2) // 2
    draw.text((margin, header // 2), "real", fill="black", font=font, anchor="lm")
    if synthetic is not None:
        draw.text((margin + img.width - side_w, header // 2), "synthetic", fill="black", font=font, anchor="lm")
    for r, name in enumerate(names):
        y = header + r * row_h + row_h // 2
        draw.text((margin - 6, y), name, fill="black", font=font, anchor="rm")
        if synthetic is not None and r in missing:
            draw.text((margin + img.width - side_w // 2, y), _missing_label(name, undrawable), fill="#e39b3c",
                      font=font, anchor="mm")
    canvas.save(path)
    return Path(path)


def accuracy_figure(names, per_method: dict, title: str) -> str:
    plt = pyplot()
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
    return png_uri(fig)


SYNAUG_TEXT = ("<li><b>SYNAuG</b>: every cell (class, or class x group) filled with synthetic images up to the "
               "largest cell, training with Mixup between real and synthetic samples, then only the last "
               "linear layer fine-tuned on a real subset with the same number of images per cell.</li>")


def run_header_html(results: dict) -> str:
    """A run's data (the factor it really has, an embedded stand-in's caveat, its training set) and how
    its rows were trained; '' for an experiment, which records no data section."""
    info, cfg = results.get("data"), results["config"]
    if not info:
        return ""
    shot_groups = TASKS[cfg["task"]].shot_groups
    # the factor the data really has: the configured one only where synaug built the long tail
    factor = info["imbalance"] if "imbalance" in info else info["imbalance_factor"]
    body = []
    if shot_groups and factor is not None and "imbalance" not in info:  # a built long tail's factor heads the section
        body.append(f"<p>This dataset keeps its own class counts: measured imbalance factor {factor:.1f} (largest / "
                    "smallest class).</p>")
    if info.get("stand_in_for"):
        body.append(f"<p><b>Embedded stand-in</b> for {html.escape(info['stand_in_for'])}: real images with a "
                    "group attribute applied by synaug, so the effect of the imbalance is known. Not the real "
                    "dataset; do not compare its numbers with the paper's.</p>")
    cells = info["train_cells"]
    body.append(f"<p>Training set: {info['train_images']} real images in {len(cells)} {info['cells']} "
                f"({max(cells.values())} in the largest, {min(cells.values())} in the smallest); test set: "
                f"{info['test_images']} images.</p>")
    body.append(setup_html(results.get("setup") or {}))
    return "\n".join(body)


def run_notes_html(results: dict) -> str:
    """Under a run's table: what each metric means and, for a long tail, which classes are Many / Medium / Few."""
    if not results.get("data"):
        return ""
    th, keys = results.get("thresholds"), results["tables"][0]["columns"]
    body = ["<ul class=note>" + (definitions_html(keys, th["many"], th["few"]) if th else definitions_html(keys))
            + SYNAUG_TEXT + "</ul>"]
    if th:
        body.append(f"<p class=note>{html.escape(split_text(th))}: "
                    + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in th["classes"].items()) + ".</p>")
    return "\n".join(body)


def run_sets_html(results: dict, out: Path) -> str:
    """Each synthetic set (counts and grid), the generators' notes, the audits and the accuracy per
    class or cell: a run's sections after its table ('' for an experiment)."""
    if not results.get("data"):
        return ""
    body = []
    for syn in (results.get("synthetic") or {}).values():
        body += uniformization_html(results, syn, out)
    generators = (results.get("setup") or {}).get("generator") or [results["config"]["generate"]["generator"]]
    notes = [generator_note(g) for g in generators] if results.get("synthetic") else []
    body += [f"<p class=note>{n}</p>" for n in notes if n]
    body += [audit_section(summary) for summary in (results.get("audit") or {}).values()]
    body.append(accuracy_html(results))
    return "\n".join(body)


def _bar(v: float | None, color: str = "#3b6ea8") -> str:
    """A 0-1 value as a 60 px inline bar and its percentage ('-' when the audit has no score)."""
    if v is None:
        return "<td>-</td>"
    return (f"<td style='text-align:left'><span style='display:inline-block;width:{60 * v:.0f}px;height:10px;"
            f"background:{color}'></span> {100 * v:.0f}</td>")


def _verdict_cell(verdict: str | None) -> str:
    if not verdict:
        return "<td class=text>-</td>"
    kind = "warn" if verdict.startswith(NOT_RECOGNISED) else "ok" if verdict.startswith(RECOGNISED) else "note"
    # the headline only ("not recognised as its class"); the consequence heads the section and the details
    # (transfer, images, gap) are the row's other columns, the whole verdict its tooltip
    short = verdict.partition(":")[0].partition(" (")[0]
    # class text: the verdict wraps inside a bounded width, so the table (its `used` column last) fits 1,280 px
    return f"<td class=text title='{html.escape(verdict)}'><span class={kind}>{html.escape(short)}</span></td>"


def audit_section(summary: dict) -> str:
    """The audit run before training: per cell its verdict first, the scores, and the images the
    audited recipe (synaug-audit) kept."""
    rows = ["<tr><th>cell</th><th style='text-align:left'>verdict</th><th>real</th><th>val</th><th>transfer %</th>"
            "<th>fidelity %</th><th>gap %</th><th>uniform</th><th>passed</th><th>budget</th><th>used</th></tr>"]
    for r in summary["cells"]:
        gap = "-" if r.get("gap") is None else f"{100 * r['gap']:.0f}"
        rows.append(f"<tr><td>{html.escape(r['name'])}</td>{_verdict_cell(r.get('verdict'))}<td>{r['real']}</td>"
                    f"<td>{r['real_val']}</td>{_bar(r['score'])}{_bar(r['fidelity'], '#e39b3c')}<td>{gap}</td>"
                    f"<td>{r['uniform']}</td><td>{r['passed_filter']}</td><td>{r['budget']}</td><td><b>{r['used']}</b>"
                    "</td></tr>")
    bad = [r["name"] for r in summary["cells"] if (r.get("verdict") or "").startswith(NOT_RECOGNISED)]
    filled = sum(1 for r in summary["cells"] if r.get("synthetic", r["uniform"]))
    headline = (f"<p class=warn>{len(bad)} of {filled} filled cells are not recognised as their class by a probe "
                f"trained on their synthetic images ({html.escape(', '.join(bad))}): expect no gain from those "
                "images.</p>" if bad else "")
    return (f"<h2>Audit of the synthetic images</h2>{headline}<p class=note>Verdict: {html.escape(VERDICT_RULE)}; "
            "gap: how often a probe tells the cell's real from its synthetic images (50 % = indistinguishable); "
            "passed: images that passed the filter.</p>"
            f"<p>Before training, the uniform synthetic set "
            f"was audited against the real <b>training</b> images (a validation part carved from them; the test "
            f"set is not read): <i>transfer</i> is the recall on a cell's real validation images of a probe "
            f"trained on synthetic images only, <i>fidelity</i> the share of its synthetic images a probe of the "
            f"real images assigns to it. The filter dropped {summary['dropped_by_filter']} images (assigned to "
            f"another cell, or off the real manifold); the budget ({html.escape(summary['budget'])}: "
            f"round(transfer x fill)) kept {summary['synthetic_used']} of {summary['synthetic_uniform']}, the "
            f"first ones in plan order: the set the method <code>synaug-audit</code> trains on (the other "
            f"methods train on the whole uniform set). Audit time {summary['audit_seconds']:.0f} s; details in "
            f"<code>{html.escape(Path(summary['audit']).name)}/audit.html</code>.</p><div class=scroll><table>"
            + "".join(rows) + "</table></div>")


def setup_html(setup: dict) -> str:
    """How the rows were trained, in one line (each run's config.yaml has every key)."""
    if not setup:
        return ""
    e = html.escape
    model = setup["model"] + (f" from {setup['pretrained']}" if setup.get("pretrained") else " from scratch")
    parts = [f"model <b>{e(model)}</b>",
             f"images {setup['image_size']} px ({e(setup['resize'])}), crop {setup['crop_size']} px, "
             f"{e(setup['augment'])}{' + flip' if setup['flip'] else ''}",
             f"{setup['steps']} steps of {setup['batch_size']} images, lr {setup['lr']:g} ({e(setup['schedule'])} "
             f"schedule, warm-up {setup['warmup']:g} of the steps = {setup['warmup_steps']})",
             f"last layer {setup['stage2_steps']} steps at lr {setup['stage2_lr']:g}",
             "generator " + e(", ".join(setup["generator"] or ["none"]))]
    return "<p><b>Training setup</b>: " + "; ".join(parts) + ".</p>"


def chance_html(results: dict) -> str:
    """The chance level under the table, and a warning per row at chance."""
    chance = results.get("chance")
    if not chance:
        return ""
    text = (f"<p class=note>Chance: {chance['chance']:.2f} % accuracy ({chance['classes']} classes); a row is flagged "
            f"<span class=warn>at chance</span> when its mean accuracy is below {chance['near']:.2f} % "
            f"({html.escape(chance['rule'])}).</p>")
    for name in results.get("at_chance") or []:
        acc = results["rows"][name]["accuracy_mean"]
        text += f"<p class=warn>{html.escape(chance_note('row ' + name, acc, chance))}</p>"
    return text


def uniformization_html(results: dict, syn: dict, out: Path) -> list[str]:
    """Counts figure and real | synthetic grid of one synthetic set (over cells, or over classes)."""
    info, by_cell = results["data"], syn["by_cell"]
    label = "class x group cells" if by_cell else "classes"
    body = [f"<h2>Uniformization over {label}</h2><p>{syn['images']} synthetic images from the "
            f"<code>{html.escape(', '.join((results.get('setup') or {}).get('generator') or ['?']))}</code> generator "
            f"(<code>{html.escape(syn['folder'])}</code>; class folders are slugs of the class names, e.g. "
            "<code>brick_wall/</code> for <i>brick wall</i>; metadata.csv keeps the names).</p>"]
    undrawable = syn.get("undrawable") or {}
    if undrawable:
        body.append("<p><b>Not uniformized</b> (the generator cannot draw them; these keep only real images): "
                    + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in undrawable.items()) + "</p>")
    names = list(info["train_cells"]) if by_cell else list(info["class_names"])
    real_counts = list(info["train_cells"].values()) if by_cell else list(info["class_counts"])
    syn_counts = [syn["cells"].get(n, 0) for n in names]
    title = f"Training images per {'cell' if by_cell else 'class'}: real and synthetic"
    if not by_cell:  # classes head to tail: largest real count first
        order = head_to_tail(real_counts)
        names, real_counts, syn_counts = ([v[i] for i in order] for v in (names, real_counts, syn_counts))
        title += "; head to tail"
    body.append(f"<img src='{counts_figure(names, real_counts, syn_counts, title)}'>")
    if (Path(out) / syn["grid"]).is_file():
        body.append(figure_html(str(Path(out) / syn["grid"]), f"Also saved as <code>{html.escape(syn['grid'])}</code>: "
                                f"real (left) | synthetic (right), one row per {'cell' if by_cell else 'class'}."))
    return body


def accuracy_html(results: dict) -> str:
    """Accuracy per cell (grouped data) or per class, head to tail, for every row."""
    info, rows = results["data"], results.get("rows") or {}
    if info["cells"] == "cells":
        per = {m: r["per_cell_mean"] for m, r in rows.items() if r.get("per_cell_mean")}
        if not per:
            return ""
        names = list(next(iter(per.values())))
        per = {m: [v[n] for n in names] for m, v in per.items()}
        return (f"<h2>Accuracy per class x group cell</h2><img src='"
                f"{accuracy_figure(names, per, 'Test accuracy per cell (mean over seeds)')}'>")
    order = head_to_tail(info["class_counts"])
    per = {m: [np.nan if r["per_class_mean"][i] is None else r["per_class_mean"][i] for i in order]
           for m, r in rows.items() if r.get("per_class_mean")}
    if not per:
        return ""
    names = [info["class_names"][i] for i in order]
    return (f"<h2>Per-class accuracy</h2><img src='"
            f"{accuracy_figure(names, per, 'Per-class test accuracy (mean over seeds); head to tail')}'>")
