"""benchmarks/gpu_check.sh in its tiny CPU mode, end to end, so the GPU check cannot rot between the
sessions that have a GPU: tiny random SD folders through `synaug generate`, tiny training runs through
the loop, the profiler summary, the projection, the table and gpu_check.json (~50 s on 2 cores)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_tiny_mode_end_to_end(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, GPU_CHECK_WORK=str(tmp_path / "work"), CUDA_VISIBLE_DEVICES="")
    env.pop("OUT", None)
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--tiny", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in ("Generation", "Training", "Profile", "Projected cost", "Targets"):
        assert title in proc.stdout  # the table was printed
    r = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert r["mode"] == "tiny" and not r["errors"]

    assert set(r["random_sd"]) == {"sd-turbo", "sd15", "sdxl-turbo"}
    assert r["random_sd"]["sdxl-turbo"]["pipeline"] == "StableDiffusionXLPipeline"
    assert r["generation"]["sd_turbo_scheduler"] == {"_class_name": "EulerDiscreteScheduler",
                                                     "timestep_spacing": "trailing", "prediction_type": "epsilon"}
    runs = r["generation"]["runs"]
    assert {run["arch"] for run in runs} == {"sd-turbo", "sd15", "sdxl-turbo"}
    for run in runs:
        assert run["rc"] == 0 and run["written"] == run["images"] and run["images_per_s"] > 0
    oom = r["generation"]["oom"]
    assert oom["rc"] == 0 and oom["written"] == oom["images"] and oom["triggered"] is False  # no cap on a CPU

    cifar = r["training"]["cifar_memory"]
    assert [c["batch"] for c in cifar] == [16, 32]
    for c in cifar + [r["training"]["large_cache"]["eager"]]:
        assert c["ceiling_images_per_s"] > 0 and c["loop_images_per_s"] > 0 and c["fraction_of_ceiling"] > 0
    assert cifar[0]["epoch_s"] > 0
    assert r["training"]["large_cache"]["small_batch"]["loop_images_per_s"] > 0
    assert "skipped" in r["training"]["large_cache"]["compiled"]

    assert r["profile"]["top_host_ops"] and r["profile"]["trace"] == "profile_trace.json.gz"
    rows = r["projection"]["rows"]
    assert len(rows) == 4 and rows[0]["synthetic"] == 39_153 and rows[1]["synthetic"] == 9_197
    assert all(row["total_gpu_h_sd_turbo"] > 0 and row["total_gpu_h_sd15"] > 0 for row in rows)
    assert [t["met"] for t in r["targets"]] == [None, None, None]  # tiny numbers are not judged
    assert (tmp_path / "out" / "gpu_check.txt").read_text().startswith("gpu_check (tiny mode)")
