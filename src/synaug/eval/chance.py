"""Chance level, and when an accuracy is at or near it.

Chance is the accuracy of guessing: 100 / number of classes (the test sets of the embedded data and
of a user's folder are balanced, where a majority-class guess scores the same). An accuracy is
*near chance* when it is below chance + 2 standard errors of a guesser's accuracy on this test set,
100 x sqrt(p (1 - p) / n) with p = 1 / classes and n test images: a model that learned nothing scores
this high only about one time in forty, so a run this close to chance has learned nothing that this
test set can show (often a setting: too few steps, a warm-up that never ends, a diverged stage)."""

from __future__ import annotations

import math

RULE = ("near chance: accuracy below chance + 2 standard errors of guessing on this test set, "
        "100 x sqrt(p (1 - p) / n) with p = 1 / classes, n = test images")


def chance_level(num_classes: int, n_test: int) -> dict:
    """{"chance": 100 / classes, "near": the near-chance bound, both in %, "rule": how it is defined}."""
    p = 1.0 / max(num_classes, 1)
    se = 100.0 * math.sqrt(p * (1 - p) / max(n_test, 1))
    return {"chance": 100.0 * p, "near": 100.0 * p + 2 * se, "classes": int(num_classes), "test_images": int(n_test),
            "rule": RULE}


def near_chance(accuracy: float | None, level: dict) -> bool:
    """Whether `accuracy` (%) is at or near chance (see the module docstring)."""
    return accuracy is not None and accuracy < level["near"]


def chance_note(name: str, accuracy: float, level: dict) -> str:
    """The warning line printed and shown in reports for a run (or a table row) at chance."""
    return (f"WARNING: {name} is at chance: accuracy {accuracy:.2f} % with {level['classes']} classes "
            f"(chance {level['chance']:.2f} %, near chance below {level['near']:.2f} % on {level['test_images']} "
            "test images): it learned nothing this test set can show. Check its settings (steps, lr, warmup) "
            "in its config.yaml")
