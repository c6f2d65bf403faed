"""benchmarks/campaign.py and experiments_markdown.py: the campaign's entries (variants of an experiment
included) reach `api.experiment` with the right name, overrides and folder, and each folder gets its own
section of docs/results.md while the sections of experiments not re-run are kept."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import campaign  # noqa: E402
import experiments_markdown  # noqa: E402


def write_campaign(tmp_path, experiments: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(f"store: {tmp_path}/store\nout: {tmp_path}/out\nshared: {tmp_path}/shared\nexperiments:\n{experiments}")
    return path


def test_a_variant_runs_its_experiment_with_its_overrides_into_its_own_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(campaign.api, "experiment", lambda name, **kw: calls.append((name, kw)) or None)
    path = write_campaign(tmp_path, "  table1: {seeds: [0, 1], steps: 30}\n"
                                    "  table1@ddpm: {experiment: table1, seeds: [0], generate: {generator: ddpm}}\n")
    assert campaign.main(["--campaign", str(path), "--quiet"]) == 0
    (plain, plain_kw), (variant, variant_kw) = calls
    assert (plain, variant) == ("table1", "table1")
    assert plain_kw["out"] == tmp_path / "out" / "table1" and plain_kw["overrides"] == {}
    assert plain_kw["seeds"] == [0, 1] and plain_kw["steps"] == 30
    assert variant_kw["out"] == tmp_path / "out" / "table1@ddpm"
    assert variant_kw["overrides"] == {"generate": {"generator": "ddpm"}} and variant_kw["steps"] is None
    assert variant_kw["store"] == plain_kw["store"] == f"{tmp_path}/store"  # one store for every entry


def test_only_names_entries_of_the_campaign(tmp_path, capsys):
    path = write_campaign(tmp_path, "  table1: {seeds: [0]}\n")
    assert campaign.main(["--campaign", str(path), "--only", "table9"]) == 2
    assert "error: --only table9: not in the campaign: ['table9']" in capsys.readouterr().err


def fake_results(experiment: str, generator: str) -> dict:
    return {"experiment": experiment, "title": "Long-tailed recognition", "paper": "Table 1.", "seconds": 60.0,
            "config": {"seeds": [0, 1], "train": {"steps": 30}, "dataset": "mnist-lt", "vary": ["training"],
                       "generate": {"generator": generator, "fit": {"pool": "pretrain"} if generator == "ddpm" else {},
                                    "batch_size": 256, "workers": 1, "options": {}, "folder": None}}}


def test_each_folder_has_its_section_and_sections_not_rerun_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments_markdown, "format_result_text", lambda r: f"TABLE of {r['config']['generate']['generator']}")
    for folder, generator in (("table1", "render"), ("table1@ddpm", "ddpm"), ("table1@if50", "render")):
        (tmp_path / "out" / folder).mkdir(parents=True)
        results = fake_results("table1", generator)
        results["config"]["imbalance"] = 50 if folder.endswith("if50") else 100
        (tmp_path / "out" / folder / "results.json").write_text(json.dumps(results))
    doc = tmp_path / "results.md"
    doc.write_text(f"# Results\n\n{experiments_markdown.BEGIN}\n### `fig5`: kept\n\nold text\n{experiments_markdown.END}\n")
    experiments_markdown.main(str(tmp_path / "out"), str(doc))
    text = doc.read_text()
    sections = experiments_markdown.sections_in(text[text.index(experiments_markdown.BEGIN):])
    assert sorted(sections) == ["fig5", "table1", "table1@ddpm", "table1@if50"]
    assert "--imbalance 50" in sections["table1@if50"] and "--config" not in sections["table1@if50"]
    assert "--imbalance" not in sections["table1"]
    assert "TABLE of ddpm" in sections["table1@ddpm"] and "fitted on the pretrain pool" in sections["table1@ddpm"]
    # the variant's header names the keys it sets, not the generate block's resolved defaults
    assert '--config CONFIG (generate: {"generator": "ddpm", "fit": {"pool": "pretrain"}})' in sections["table1@ddpm"]
    assert "TABLE of render" in sections["table1"] and "--config CONFIG" not in sections["table1"]
    assert "old text" in sections["fig5"]


@pytest.mark.parametrize("text, message", [
    ("store: s\n", "expected store, out, shared and experiments"),
    ("experiments: [table1]\n", "expected store, out, shared and experiments"),
])
def test_a_malformed_campaign_is_refused(tmp_path, capsys, text, message):
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    assert campaign.main(["--campaign", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_markdown_document_is_refused_before_anything_runs(tmp_path, capsys):
    path = tmp_path / "campaign.yaml"
    path.write_text(f"store: {tmp_path / 's'}\nout: {tmp_path / 'o'}\nshared: {tmp_path / 'h'}\n"
                    "experiments: {table1: {seeds: [0]}}\n")
    assert campaign.main(["--campaign", str(path), "--markdown", str(tmp_path / "missing.md")]) == 2
    assert "--markdown" in capsys.readouterr().err and not any(tmp_path.glob("[soh]"))
