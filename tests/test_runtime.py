"""synaug.runtime: the one module that reads the environment; each variable's reading, its default and
its error wording (the CLI prints it as `error: ...`, tests/test_hostile.py checks that end to end)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synaug.audit.recipe import audited_synthetic
from synaug.errors import ConfigError
from synaug.runtime import Dist, Environment, default_cache_dir, device_for, dist_of, environment

SRC = Path(__file__).resolve().parents[1] / "src"


def test_an_empty_environment_is_one_process_with_the_defaults():
    env = environment({})
    assert env.dist == Dist(0, 1, 0) and not env.dist.active and env.dist.is_main
    assert env.local_world == 1 and env.dist_backend is None and env.progress_seconds == 10.0
    assert env.cache_dir == Path.home() / ".cache" / "synaug"


def test_torchrun_variables_give_the_place_of_the_process():
    env = environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                       "SYNAUG_DIST_BACKEND": "gloo", "SYNAUG_PROGRESS_SECONDS": " 2.5 "})
    assert env == Environment(Dist(3, 4, 1), 2, "gloo", 2.5, env.cache_dir)
    assert env.dist.active and not env.dist.is_main


def test_cache_dir_is_synaug_cache_dir_else_xdg_cache_home():
    assert environment({"SYNAUG_CACHE_DIR": "/x/cache", "XDG_CACHE_HOME": "/y"}).cache_dir == Path("/x/cache")
    assert environment({"XDG_CACHE_HOME": "/y"}).cache_dir == Path("/y/synaug")


@pytest.mark.parametrize("text", ["abc", "-1", "nan", "inf"])
def test_a_bad_progress_interval_is_an_error_naming_the_variable(text):
    with pytest.raises(ConfigError) as err:
        environment({"SYNAUG_PROGRESS_SECONDS": text})
    assert str(err.value) == (f"environment variable SYNAUG_PROGRESS_SECONDS={text!r}: must be a number of seconds "
                              ">= 0 (unset it for the default, 10)")


def test_an_unknown_backend_is_an_error_listing_the_backends():
    with pytest.raises(ConfigError) as err:
        environment({"SYNAUG_DIST_BACKEND": "tcp"})
    assert str(err.value) == "environment variable SYNAUG_DIST_BACKEND='tcp': one of gloo, nccl, mpi, ucc"


def test_the_process_environment_is_read_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("SYNAUG_CACHE_DIR", str(tmp_path))
    assert dist_of() == Dist(1, 2, 0) and default_cache_dir() == tmp_path


def test_a_bare_cuda_device_is_the_ranks_own_gpu(monkeypatch):
    import synaug.runtime as runtime
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():  # a GPU this machine lacks is refused, naming what it has
        with pytest.raises(ConfigError, match="device 'cuda' is not available on this machine"):
            device_for("cuda", Dist(1, 2, 1))
        monkeypatch.setattr(runtime, "check_available", lambda option, name: name)  # the mapping alone
    assert device_for("cuda", Dist(1, 2, 1)) == torch.device("cuda:1")
    assert device_for("cuda", Dist()) == torch.device("cuda") and device_for("cpu", Dist(1, 2, 1)).type == "cpu"


def test_the_version_is_the_projects():
    out = subprocess.run([sys.executable, "-m", "synaug.cli", "--version"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, check=True)
    text = (SRC.parent / "pyproject.toml").read_text()
    assert out.stdout.strip() == "synaug " + text.split('\nversion = "')[1].split('"')[0]


def test_below_the_face_nothing_asks_the_environment_for_the_place_of_the_process():
    """dist_of() reads RANK / WORLD_SIZE: only the entry points (the CLI, the API) call it, and pass
    the Dist down (issue 31 item 3)."""
    face = {"runtime.py", "api.py"}
    callers = sorted(str(p.relative_to(SRC)) for p in (SRC / "synaug").rglob("*.py")
                     if p.name not in face and "cli" not in p.relative_to(SRC).parts[1:2]
                     and any(w in p.read_text() for w in ("dist_of", "from_env")))
    assert callers == []


def test_the_audit_recipe_refuses_torchrun_from_the_place_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")  # the environment says alone: the Dist passed down decides
    with pytest.raises(ConfigError, match=r"^the audited recipe \(synaug-audit\) does not run under torchrun yet: "
                                          r"run it on one process"):
        audited_synthetic(None, tmp_path / "syn", None, tmp_path / "audit", tmp_path / "audited", dist=Dist(1, 2, 1))
    assert list(tmp_path.iterdir()) == []  # refused before any folder is made
