"""`synaug filter`: the filter the user asks for, by an audit's scores (`synaug.audit.filter`) or a
CLIP model's (`synaug.audit.clip_score`); each refuses the other's options."""

from __future__ import annotations

from pathlib import Path

from synaug.audit.clip_score import clip_filter_folder
from synaug.audit.filter import FilterReport, filter_folder
from synaug.constraints import MAX_RATIO, NONNEG, PROBABILITY, check
from synaug.errors import ConfigError


def filter_by(synthetic: Path, *, audit=None, clip=None, label_check: bool = True, min_own_prob: float | None = None,
              max_ratio: float | None = None, threshold: float | None = None, clip_text: str = "prompt",
              device: str = "auto", batch_size: int = 64, dry_run: bool = False) -> FilterReport:
    """`synaug filter`: an audit's scores (`audit`) or a CLIP model's (`clip`); each refuses the
    other's options."""
    if (audit is None) == (clip is None):
        raise ConfigError("filter by an audit folder (--audit) or a CLIP model (--clip), one of the two")
    if clip is not None:
        if min_own_prob is not None or max_ratio is not None:
            raise ConfigError("--min-own-prob and --max-ratio apply to --audit; the CLIP filter uses --threshold")
        return clip_filter_folder(synthetic, Path(clip), threshold=threshold, label_check=label_check, text=clip_text,
                                  device=device, batch_size=batch_size, dry_run=dry_run)
    if threshold is not None:
        raise ConfigError("--threshold applies to the CLIP filter (--clip PATH)")
    max_ratio = check("--max-ratio", MAX_RATIO if max_ratio is None else max_ratio, NONNEG)  # 0: no manifold check
    check("--min-own-prob", min_own_prob, PROBABILITY, None)
    return filter_folder(synthetic, Path(audit), label_check=label_check, min_own_prob=min_own_prob,
                         max_ratio=None if max_ratio == 0 else max_ratio, dry_run=dry_run)
