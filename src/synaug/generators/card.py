"""The dataset card a generation folder gets (README.md in the Hugging Face convention), so that
`datasets.load_dataset(FOLDER)` types its columns: `label` a ClassLabel with the class names, empty
group columns strings rather than float64, and the folder concatenates with the real set."""

from __future__ import annotations

import json
from typing import Sequence

from synaug.plans import PlanItem


# Column types of metadata.csv for Hugging Face `datasets`: without them `label` loads as a plain
# integer and empty group columns as float64, and the folder does not concatenate with the real set.
CARD_TYPES = {"label": None, "seed": "int64", "synthetic": "int64"}  # everything else: string


def label_names(items: Sequence[PlanItem], class_names: Sequence[str] | None) -> list[str]:
    if class_names:
        return [str(n) for n in class_names]
    seen = {it.label: it.class_name for it in items}
    return [seen.get(i, f"class {i}") for i in range(max(seen, default=-1) + 1)]


def card_features(columns: Sequence[str], class_names: Sequence[str]) -> list[dict]:
    """The `features` list of a dataset card for metadata.csv's columns (file_name -> image)."""
    feats = []
    for col in columns:
        if col == "file_name":
            feats.append({"name": "image", "dtype": "image"})
        elif col == "label":
            names = {str(i): n for i, n in enumerate(class_names)}
            feats.append({"name": "label", "dtype": {"class_label": {"names": names}}})
        else:
            feats.append({"name": col, "dtype": CARD_TYPES.get(col, "string")})
    return feats


def dataset_card(columns: Sequence[str], class_names: Sequence[str], generator: str, n_images: int) -> str:
    """README.md in the Hugging Face convention: YAML front matter with the features, as the default
    config (`load_dataset(FOLDER)` applies it) and as `dataset_info` (the Hub shows it)."""
    import yaml

    feats = card_features(columns, class_names)
    front = {"configs": [{"config_name": "default", "features": feats}],
             "dataset_info": {"features": json.loads(json.dumps(feats))}}  # a copy: no YAML anchors
    return ("---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n"
            f"# Synthetic images made by synaug\n\n{n_images} images from the `{generator}` generator, one folder "
            "per class; `metadata.csv` lists each image with its label, class and group names, prompt and "
            "seed (one row per image, the Hugging Face imagefolder convention). Folder and file names are "
            "file-system-safe slugs of the class names (`brick_wall/` for the class `brick wall`); the `label` "
            "and `class_name` columns keep the names themselves.\n\n"
            "```python\nfrom datasets import load_dataset\n"
            "syn = load_dataset(\"path/to/this/folder\", split=\"train\")  # label: ClassLabel with the class names\n"
            "```\n")
