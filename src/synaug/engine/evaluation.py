"""`synaug evaluate --run RUN`: a finished run's final checkpoint on its dataset's test split, with the
data the run recorded (RUN/job.json) and its thresholds (RUN/metrics.json), so evaluating again gives
the run's numbers. It writes RUN/evaluation.json and never rewrites what training wrote (metrics.json
keeps the training time, image counts and tuning record only training knows)."""

from __future__ import annotations

import json
from pathlib import Path

from synaug.engine.caching import decode_to_cache, training_side
from synaug.engine.rundirs import read_stamp
from synaug.engine.specs import DataSpec, Thresholds
from synaug.engine.workspace import Workspace
from synaug.errors import RunFolderError, SynaugError
from synaug.engine.inference import evaluate_model
from synaug.fileio import write_json
from synaug.training.config import TrainConfig
from synaug.training.pipeline import load_trained
from synaug.training.rundir import dataset_of_run
from synaug.validate import dataset_spec, load_yaml


def run_data(run: Path, dataset: str | None, imbalance: float | None) -> tuple[DataSpec, Thresholds | None]:
    """The data a run was trained on (and its thresholds): its job.json, else its run.json (older
    runs). A different dataset or imbalance given explicitly is refused."""
    stamp = read_stamp(run)
    if stamp is None:
        dataset, imbalance = dataset_of_run(run, dataset, imbalance)
        return DataSpec(dataset, imbalance), None
    data = DataSpec.from_dict(stamp["data"])
    if dataset is not None and dataset_spec(dataset) != dataset_spec(data.dataset):
        raise RunFolderError(f"{run} was trained on {data.dataset!r}, not {dataset!r}: evaluating it on another "
                             "dataset is refused (leave out --dataset to use the run's)")
    if imbalance is not None and float(imbalance) != data.imbalance:
        raise RunFolderError(f"{run} was trained with --imbalance {data.imbalance:g}, not {imbalance:g}")
    return data, recorded_thresholds(run)


def recorded_thresholds(run: Path) -> Thresholds | None:
    """The thresholds a run was scored with at training time (RUN/metrics.json), if it says."""
    try:
        held = json.loads((Path(run) / "metrics.json").read_text()).get("thresholds")
        return Thresholds.from_dict(held) if isinstance(held, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SynaugError):
        return None


EVALUATION = "evaluation.json"


def evaluate_run(run: Path, dataset: str | None = None, imbalance: float | None = None, *, many: int | None = None,
                 few: int | None = None, device: str = "auto") -> tuple[dict, bool]:
    """(the test metrics of a run's final checkpoint, whether they were scored with the run's own
    thresholds); written to RUN/evaluation.json with the thresholds used, atomically. metrics.json and
    the run's record (predictions.npz) are training's and are never rewritten here."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise SynaugError(f"{run} is not a run directory (no config.yaml); train one with `synaug train`")
    run_config = load_yaml(run / "config.yaml", "run config")
    if not isinstance(run_config.get("train"), dict):
        raise SynaugError(f"{run / 'config.yaml'} has no 'train' block: not written by `synaug train`")
    cfg = TrainConfig.from_record(run_config["train"])
    data, recorded = run_data(run, dataset, imbalance)
    recorded = recorded or Thresholds()
    thresholds = Thresholds(recorded.many if many is None else many, recorded.few if few is None else few,
                            recorded.scale_to)
    splits = Workspace(shared=run).splits(data)
    splits, _ = decode_to_cache(splits, {}, cfg)
    trained = load_trained(run, splits.train.num_classes, splits.train.image_shape[2], training_side(splits, cfg),
                           device=device)
    metrics = evaluate_model(trained, splits.test, splits.train.class_counts(),
                             *thresholds.effective(splits.train.class_counts()), train_cells=splits.train.cells())
    metrics.pop("predictions", None)
    metrics["thresholds"] = thresholds.to_dict()
    write_json(run / EVALUATION, metrics)
    return metrics, thresholds == recorded
