"""The layers, kept and visible: what a module may import and read (issue 31)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or in a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_module_below_the_face_reads_the_environment():
    """os.environ / getenv appear in runtime.py only (the CLI and the API may hand the environment
    to subprocesses they start)."""
    readers = [str(p.relative_to(SRC)) for p in (SRC / "synaug").rglob("*.py")
               if p.name != "runtime.py" and any(w in p.read_text() for w in ("os.environ", "getenv"))]
    assert sorted(readers) == [], readers


def test_generators_import_nothing_from_train_nor_the_package_root():
    """Generation and training meet only through files; the root (`synaug`) is the API's face."""
    crossing = {str(p.relative_to(SRC)): sorted(m for m in imported_modules(p) if m == "synaug" or
                                                 m.startswith("synaug.training"))
                for p in (SRC / "synaug" / "generators").rglob("*.py")}
    assert {k: v for k, v in crossing.items() if v} == {}


def test_experiments_name_methods_and_configs_through_the_neutral_faces():
    """Experiments import `get_method` / `TrainConfig` from synaug.methods and `Dist` from synaug.runtime,
    never a module of synaug.training (which implements them)."""
    crossing = {str(p.relative_to(SRC)): sorted(m for m in imported_modules(p) if m.startswith("synaug.training"))
                for p in (SRC / "synaug" / "experiments").rglob("*.py")}
    assert {k: v for k, v in crossing.items() if v} == {}


def test_the_methods_face_is_the_training_packages_own_objects():
    import synaug.methods as face
    from synaug.training import config, methods
    assert (face.get_method, face.METHODS, face.Method, face.TrainConfig) == \
        (methods.get_method, methods.METHODS, methods.Method, config.TrainConfig)


def test_ddpm_fit_learning_rate_is_the_training_loops_cosine_schedule():
    """The ddpm fit writes its schedule out rather than import the training loop's: the same value at
    every step (warm-up, the decay, the last step), so fits made before the move are reproduced."""
    pytest.importorskip("torch")
    from synaug.generators.ddpm_fit import learning_rate
    from synaug.generators.ddpm_settings import FitSettings
    from synaug.training.loop import Phase
    for settings in (FitSettings(), FitSettings(steps=50, warmup_steps=7, lr=3e-3), FitSettings(steps=5, warmup_steps=0)):
        phase = Phase("ddpm", settings.steps, settings.batch_size, settings.lr, warmup_steps=settings.warmup_steps)
        assert [learning_rate(settings, s) for s in range(settings.steps)] == \
            [phase.lr_at(s) for s in range(settings.steps)]




def test_every_package_has_its_init():
    folders = {p.parent for p in (SRC / "synaug").rglob("*.py")}
    assert sorted(str(f.relative_to(SRC)) for f in folders if not (f / "__init__.py").is_file()) == []
