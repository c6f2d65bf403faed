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
    # an experiment on data of its own says so, not the config's default dataset and generator
    fig5 = experiments_markdown.section("fig5", fake_results("fig5", "render")).split("```")[0]
    assert "on four 2-D Gaussians;" in fig5 and "mnist-lt" not in fig5 and "render" not in fig5
    # a variant that leaves rows out says so in its command
    skipping = fake_results("table1", "render")
    skipping["config"]["options"] = {"skip_rows": ["ce"]}
    assert ('--config CONFIG (options: {"skip_rows": ["ce"]})' in experiments_markdown.section("table1@if50", skipping)
            and "--config" not in experiments_markdown.section("table1", skipping))


def a_test(metric, rival, diff, ci, verdict="consistent", **more):
    return {"metric": metric, "rival": rival, "n": 5, "diff": diff, "ci95": ci, "p": 0.004, "p_holm": 0.012,
            "family": "paper", "delta": 1.0, "tost_p": 0.9, "tost_p_holm": 1.0, "detectable": 4.2,
            "seeds_needed": None, "verdict": verdict, **more}


def test_every_claim_is_one_row_of_one_table_with_its_budget_mark(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments_markdown, "format_result_text", lambda r: "TABLE")
    results = fake_results("table2", "render")
    results["findings"] = [
        {"claim": "SYNAuG beats CE", "status": "consistent", "evidence": "e",
         "test": {"family": "paper", "tests": [a_test("All", "ce", 28.6, [26.3, 31.0]),
                                               a_test("Few", "ce", 70.1, [60.0, 80.2])]}},
        {"claim": "Accuracy rises", "status": "underpowered", "evidence": "e",
         "test": {"family": "exploratory", "tests": [a_test("rule", "", 3.0, None, "underpowered", seeds_needed=6,
                                                            family="exploratory")]}}]
    (tmp_path / "out" / "table2").mkdir(parents=True)
    (tmp_path / "out" / "table2" / "results.json").write_text(json.dumps(results))
    budget = {"findings": [{"claim": "SYNAuG beats CE", "test": {"tests": [
        {"metric": "All", "rival": "ce", "budget": {"diff_1x": 28.6, "sensitive": True}},
        {"metric": "Few", "rival": "ce", "budget": {"diff_1x": 70.1, "sensitive": False}}]}},
        {"claim": "Accuracy rises", "test": {"tests": [  # checked at 2x, but no difference at 1x (a row not run)
            {"metric": "rule", "rival": "", "budget": {"diff_1x": None, "sensitive": None}}]}}]}
    (tmp_path / "budget").mkdir()
    (tmp_path / "budget" / "table2-budget.json").write_text(json.dumps(budget))
    kept_row = "| `fig5` | paper | kept claim | x vs y | 1 | 5 | +1 | 0.1 (0.2) | 0.5 (0.5) | 3 | 7 | underpowered | - |"
    stale_row = "| `table2` | paper | an old claim | x vs y | 1 | 3 | +1 | 0.1 (0.2) | 0.5 (0.5) | 3 | 7 | underpowered | - |"
    doc = tmp_path / "results.md"
    doc.write_text(f"# Results\n\n{experiments_markdown.CLAIMS_BEGIN}\n{kept_row}\n{stale_row}\n"
                   f"{experiments_markdown.CLAIMS_END}\n\n{experiments_markdown.BEGIN}\n{experiments_markdown.END}\n")
    experiments_markdown.main(str(tmp_path / "out"), str(doc), str(tmp_path / "budget"))
    text = doc.read_text()
    table = text[text.index(experiments_markdown.CLAIMS_BEGIN):text.index(experiments_markdown.CLAIMS_END)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows[0] == kept_row and stale_row not in rows and len(rows) == 4  # fig5 kept, table2's 3 tests anew
    assert rows[1].startswith("| `table2` | paper | SYNAuG beats CE | All vs ce | 1 | 5 | +28.6 [26.3, 31] | 0.004 (0.012)")
    assert rows[1].endswith("| > 10 | consistent | **budget-sensitive** |") and rows[2].endswith("| stable |")
    assert "| shape, per seed |" in rows[3] and "sign test 0.004" in rows[3]
    assert rows[3].endswith("| 6 | underpowered | - |")
    assert experiments_markdown.budget_word(None) == "not checked"  # no 2x run of its experiment
    assert experiments_markdown.budget_word({"diff_1x": 0.5, "sensitive": None}) == "undecided (no interval)"
    assert text.index(experiments_markdown.CLAIMS_END) < text.index(experiments_markdown.BEGIN)


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
