"""CLIP-score filter: drop synthetic images a local CLIP model finds unlike their own text.

Score: CLIPScore as torchmetrics computes it, `100 * max(cos(image, text), 0)` with the model's
projected, L2-normalised features (Hessel et al. 2021 use w = 2.5 instead of 100: multiply ours by
0.025 to compare with the paper's numbers).

Two rules, both recorded as drops by `synaug.audit.filter.record_drops` (files kept, reasons in
DIR/.synaug/dropped.csv, settings in DIR/.synaug/filter-clip.json):

- zero-shot label check (on unless `label_check=False`): among the class prompts
  "a photo of a {class}" of every class of the folder, the image's own class must score highest.
  Classes are read from the metadata before any filter ran, so dropping a whole class never changes
  the candidates of the others: a re-run scores the kept images against the same prompts.
- absolute threshold (`threshold=T`): the score against the image's own generation prompt (or its
  class prompt with `text="class"`) must be at least T.

Every scored image's numbers go to DIR/.synaug/clip-scores.csv (merged across runs) to help choose T.
Images are decoded one by one (PIL) and everything after that is batched on the model's device.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from synaug.audit.filter import BACKUP, FilterReport, read_folder_rows, read_rows, record_drops
from synaug.errors import ConfigError, require
from synaug.fileio import atomic_write_text
from synaug.generators.runner import STATE_DIR
from synaug.prompts import PromptBank, articles

CLASS_TEMPLATE = "a photo of a {}"
REASON_PREFIX = "clip filter: "
SETTINGS = "filter-clip.json"
SCORES = "clip-scores.csv"
TEXTS = ("prompt", "class")  # what the threshold compares an image with


def class_prompt(class_name: str) -> str:
    return articles(CLASS_TEMPLATE.format(PromptBank().class_words(class_name)))


class ClipScorer:
    """A local CLIP model (transformers CLIPModel + its processor and tokenizer from one folder)."""

    def __init__(self, path, *, device: str = "auto", batch_size: int = 64):
        self.path, self.batch_size = Path(path), int(batch_size)
        torch = require("torch", "diffusion", "The CLIP-score filter")
        transformers = require("transformers", "diffusion", "The CLIP-score filter")
        if not (self.path / "config.json").is_file():
            raise ConfigError(f"--clip {self.path}: not a local CLIP model folder (config.json, weights, "
                              "tokenizer and preprocessor files, as save_pretrained writes them)")
        self.device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
        try:
            self.model = transformers.CLIPModel.from_pretrained(self.path, local_files_only=True).to(self.device).eval()
            self.processor = transformers.CLIPProcessor.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"cannot load the CLIP model at {self.path}: {exc}") from exc
        images = self.processor.image_processor
        # torch-backed processors (transformers 5, or *Fast in 4.x) resize and normalise a batch on the
        # device (one grouped op per image size); the older numpy ones take no device and run on the CPU
        torch_backed = hasattr(images, "process_image") or type(images).__name__.endswith("Fast")
        self.image_kwargs = {"device": self.device} if torch_backed else {}

    @staticmethod
    def _features(out):
        torch = require("torch", "diffusion", "The CLIP-score filter")
        feats = out if torch.is_tensor(out) else out.pooler_output  # transformers 5 returns an output object
        return torch.nn.functional.normalize(feats.float(), dim=-1)

    def text_features(self, texts: list[str]):
        torch = require("torch", "diffusion", "The CLIP-score filter")
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                tok = self.processor.tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                               return_tensors="pt").to(self.device)
                chunks.append(self._features(self.model.get_text_features(**tok)))
        return torch.cat(chunks)

    def image_features(self, paths: list[Path]):
        torch = require("torch", "diffusion", "The CLIP-score filter")
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(paths), self.batch_size):
                images = [decode_rgb(p) for p in paths[i:i + self.batch_size]]
                pixels = self.processor.image_processor(images=images, return_tensors="pt",
                                                        **self.image_kwargs)["pixel_values"]
                chunks.append(self._features(self.model.get_image_features(pixel_values=pixels.to(self.device))))
        return torch.cat(chunks)


def decode_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def clip_score(image_feats, text_feats):
    """100 * max(cos, 0) of every image (rows) with every text (columns): normalised features in."""
    return (100.0 * image_feats @ text_feats.T).clamp(min=0)


def folder_classes(folder: Path, rows: list[dict]) -> list[str]:
    """The folder's class names before any filter (stable when a filter empties a class)."""
    backup = folder / STATE_DIR / BACKUP
    source = read_rows(backup)[0] if backup.is_file() else rows
    return sorted({r["class_name"] for r in source + rows})


def score_folder(scorer: ClipScorer, folder: Path, rows: list[dict], classes: list[str], text: str) -> dict:
    """Scores of the rows' images: own (against the threshold's text), per-class (zero-shot)."""
    if text not in TEXTS:
        raise ConfigError(f"the CLIP filter compares images with one of {TEXTS}, not {text!r}")
    image_feats = scorer.image_features([folder / r["file_name"] for r in rows])
    class_scores = clip_score(image_feats, scorer.text_features([class_prompt(c) for c in classes]))
    own_class = np.array([classes.index(r["class_name"]) for r in rows])
    if text == "class":
        own = class_scores[np.arange(len(rows)), own_class]
    else:
        texts = sorted({r["prompt"] for r in rows})
        index = np.array([texts.index(r["prompt"]) for r in rows])
        text_feats = scorer.text_features(texts)[index]  # one encoding per distinct prompt
        own = (100.0 * (image_feats * text_feats).sum(-1)).clamp(min=0)
    return {"own": own.cpu().numpy(), "classes": class_scores.cpu().numpy(), "own_class": own_class}


def clip_reason(own: float, per_class: np.ndarray, own_class: int, classes: list[str], threshold, label_check,
                text: str) -> str | None:
    best = int(per_class.argmax())
    if label_check and per_class[best] > per_class[own_class]:
        return (f"{REASON_PREFIX}zero-shot: closest class prompt is {class_prompt(classes[best])!r} "
                f"({per_class[best]:.2f} vs its own class {per_class[own_class]:.2f})")
    if threshold is not None and own < threshold:
        return f"{REASON_PREFIX}CLIP score {own:.2f} against its {text} < {threshold}"
    return None


def write_scores(folder: Path, rows: list[dict], scores: dict, classes: list[str]) -> None:
    """Merge this run's scores into DIR/.synaug/clip-scores.csv (earlier rows of dropped images stay)."""
    path = folder / STATE_DIR / SCORES
    table = {r["file_name"]: r for r in read_rows(path)[0]} if path.is_file() else {}
    for k, r in enumerate(rows):
        per = scores["classes"][k]
        table[r["file_name"]] = {"file_name": r["file_name"], "class_name": r["class_name"],
                                 "score": f"{scores['own'][k]:.4f}",
                                 "own_class_score": f"{per[scores['own_class'][k]]:.4f}",
                                 "best_class": classes[int(per.argmax())], "best_class_score": f"{per.max():.4f}"}
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["file_name", "class_name", "score", "own_class_score", "best_class", "best_class_score"],
                       lineterminator="\n")
    w.writeheader()
    w.writerows(table[f] for f in sorted(table))
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, buf.getvalue())


def clip_filter_folder(synthetic_dir, clip_path, *, threshold: float | None = None, label_check: bool = True,
                       text: str = "prompt", device: str = "auto", batch_size: int = 64,
                       dry_run: bool = False) -> FilterReport:
    folder = Path(synthetic_dir)
    rows, columns = read_folder_rows(folder)
    if threshold is not None and not 0 <= threshold <= 100:
        raise ConfigError(f"the CLIP-score threshold is on a 0-100 scale, got {threshold}")
    scorer = ClipScorer(clip_path, device=device, batch_size=batch_size)
    if not rows:
        return FilterReport()
    classes = folder_classes(folder, rows)
    scores = score_folder(scorer, folder, rows, classes, text)
    reasons = {r["file_name"]: clip_reason(float(scores["own"][k]), scores["classes"][k], int(scores["own_class"][k]),
                                           classes, threshold, label_check, text) for k, r in enumerate(rows)}
    if not dry_run:
        write_scores(folder, rows, scores, classes)
    settings = {"clip": str(clip_path), "score": "100 * max(cos, 0)", "threshold": threshold, "text": text,
                "zero_shot_label_check": label_check, "class_prompt": CLASS_TEMPLATE.format("{class}")}
    return record_drops(folder, rows, columns, reasons, {r["file_name"]: r["class_name"] for r in rows},
                        prefix=REASON_PREFIX, settings_file=SETTINGS, settings=settings, dry_run=dry_run)
