"""Prompt templates and per-class modifier banks (YAML), with the shipped banks.

The paper prompts Stable Diffusion with "a photo of {modifier} {class}" and 20 modifiers per class
(CIFAR100-LT). A bank file is YAML:

    template: "a photo of {modifier} {class}"   # optional; {group} is available too
    default: [ ... ]                            # generic fallback modifiers
    classes:
      "T-shirt/top": [ ... ]
    groups:                                     # group phrase bank: group name -> words in the prompt
      grass: "a grass lawn"
    aliases:                                    # class name -> the words prompts (and the renderer) use
      "T-shirt_top": "t-shirt"
    render:                                     # class name -> the word the offline renderer looks up
      "brick wall": "brick"                     #   (an emoji name); prompts keep the class name
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from synaug.errors import PlanError
from synaug.validate import read_text, user_yaml

DEFAULT_TEMPLATE = "a photo of {modifier} {class}"
GENERIC_MODIFIERS = ["a", "a small", "a large", "a centered", "a bright", "a dark",
                     "a tilted", "a plain", "a detailed", "a simple"]


def slug(text: str) -> str:
    """A file-system-safe name: 'T-shirt/top' -> 't-shirt_top'. Letters of every script are kept
    (not reduced to ASCII, so 'Äpfel' and 'Öl' stay apart); never hidden or '..'."""
    s = re.sub(r"[^\w.-]+", "_", text.strip()).strip("_").lower().lstrip(".")
    return s or "x"


def unique_slugs(names) -> list[str]:
    """slug() of every name, made distinct: names whose slugs collide ('Cat' and 'cat', 'T-shirt/top'
    and 'T-shirt top') get their index appended, so two classes never share a folder or file."""
    slugs = [slug(n) for n in names]
    out = [s if slugs.count(s) == 1 else f"{s}-{i}" for i, s in enumerate(slugs)]
    taken = set()
    for i, s in enumerate(out):  # 'cat-1' may be a class's own name as well as a suffixed 'Cat'
        while s in taken:
            s = f"{s}-{i}"
        taken.add(s)
        out[i] = s
    return out


@dataclass
class PromptBank:
    template: str = DEFAULT_TEMPLATE
    default: list[str] = field(default_factory=lambda: list(GENERIC_MODIFIERS))
    classes: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    render_words: dict[str, str] = field(default_factory=dict)  # the renderer's lookup only (bank key `render`)

    def class_words(self, class_name: str) -> str:
        """What a prompt calls the class: its alias, else its name with '_' read as a space."""
        return self.aliases.get(class_name) or " ".join(class_name.replace("_", " ").split())

    def group_phrase(self, group: str) -> str:
        return self.groups.get(group, group)

    def modifiers_for(self, class_name: str) -> list[str]:
        return self.classes.get(class_name) or self.default

    def modifier(self, class_name: str, index: int) -> str:
        mods = self.modifiers_for(class_name)
        return mods[index % len(mods)]

    def prompt(self, class_name: str, modifier: str, group: str = "") -> str:
        try:
            text = self.template.format_map({"modifier": modifier, "class": self.class_words(class_name),
                                             "group": self.group_phrase(group) if group else ""})
        except (KeyError, IndexError, ValueError) as exc:
            raise PlanError(f"bad prompt template {self.template!r}: {exc} "
                            "(fields: {modifier}, {class}, {group})") from exc
        return articles(" ".join(text.split()))


# "a" before a vowel sound -> "an" ("a photo of an ankle boot", "an italic digit", "an 8"); words
# spelled with a vowel but said with a consonant ("a uniform", "a one-piece") keep "a".
_A_BEFORE_VOWEL = re.compile(
    r"\b([Aa])\s+(?=(?![oO]ne\b|[oO]nce\b|[eE][uU]|[uU](?:ni|se|su|ti|re|ro|ra|k))"
    r"(?:[aeiouAEIOU]|8|11\b|18\b|11\d{3}\b|18\d{3}\b))")


def articles(text: str) -> str:
    return _A_BEFORE_VOWEL.sub(lambda m: m.group(1) + "n ", text)


def load_bank(source: str | Path | None = None, template: str | None = None) -> PromptBank:
    """A bank from a YAML path, a shipped bank name (e.g. 'mnist-lt'), or the generic fallback."""
    data = {}
    if source:
        path = Path(source)
        if path.is_file():
            text = read_text(path, "modifier bank")
        else:
            shipped = resources.files("synaug") / "banks" / f"{source}.yaml"
            if not shipped.is_file():
                raise PlanError(f"no modifier bank {source!r}: not a file and not a shipped bank "
                                f"({', '.join(shipped_banks())})")
            text = shipped.read_text()
        try:
            data = user_yaml(text) or {}
        except yaml.YAMLError as exc:
            raise PlanError(f"modifier bank {source}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise PlanError(f"modifier bank {source}: expected a mapping with 'classes'/'default'")
    _check_bank(data, source)
    bank = PromptBank(
        template=template or data.get("template") or DEFAULT_TEMPLATE,
        default=[str(m) for m in data.get("default") or GENERIC_MODIFIERS],
        classes={str(k): [str(m) for m in v] for k, v in (data.get("classes") or {}).items()},
        groups={str(k): str(v) for k, v in (data.get("groups") or {}).items()},
        aliases={str(k): str(v) for k, v in (data.get("aliases") or {}).items()},
        render_words={str(k): str(v) for k, v in (data.get("render") or {}).items()},
    )
    check_template(bank.template)
    return bank


def check_template(template) -> None:
    """A template must be text that names the class: a prompt without it draws no particular class."""
    import string
    if not isinstance(template, str):
        raise PlanError(f"prompt template must be text, got {template!r}")
    PromptBank(template=template).prompt("x", "y")  # unknown fields, unbalanced braces
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise PlanError(f"bad prompt template {template!r}: {exc} (fields: {{modifier}}, {{class}}, {{group}})") from exc
    if "class" not in fields:
        raise PlanError(f"prompt template {template!r} has no {{class}}: every prompt would leave the class out "
                        "(e.g. \"a photo of {modifier} {class}\")")


def _check_bank(data: dict, source) -> None:
    """`default` and every class entry are lists of modifiers; `groups` maps names to phrases."""
    def modifiers(value, where):
        if not isinstance(value, list) or not value or not all(isinstance(m, (str, int, float)) for m in value):
            raise PlanError(f"modifier bank {source}: {where} must be a non-empty list of modifiers "
                            f"(e.g. [a small, a large]), got {value!r}")

    known = ("template", "default", "classes", "groups", "aliases", "render")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise PlanError(f"modifier bank {source}: unknown key(s) {unknown}; known: {', '.join(known)}")
    for key in ("aliases", "render"):
        value = data.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise PlanError(f"modifier bank {source}: '{key}' must map class names to words, got {value!r}")
    if data.get("default") is not None:
        modifiers(data["default"], "'default'")
    classes = data.get("classes") or {}
    if not isinstance(classes, dict):
        raise PlanError(f"modifier bank {source}: 'classes' must map class names to lists, got {classes!r}")
    for name, value in classes.items():
        modifiers(value, f"class {name!r}")
    groups = data.get("groups") or {}
    if not isinstance(groups, dict) or not all(isinstance(v, str) for v in groups.values()):
        raise PlanError(f"modifier bank {source}: 'groups' must map group names to phrases, got {groups!r}")


def shipped_banks() -> list[str]:
    return sorted(p.name[:-5] for p in (resources.files("synaug") / "banks").iterdir()
                  if p.name.endswith(".yaml"))


def bank_for_dataset(dataset: str) -> str | None:
    """The shipped bank name for a dataset name (e.g. 'mnist-lt'), if any."""
    name = dataset.partition(":")[0]
    return name if name in shipped_banks() else None
