import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (`make test` runs `-n 2`), each worker is one of N processes on N cores: one
    # thread each (torch's intra-op pool, and OpenMP / MKL in the subprocesses a test starts, which
    # inherit these variables) so that the workers do not fight over the same cores.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_var] = "1"
    import torch
    torch.set_num_threads(1)


@pytest.fixture
def imagefolder(tmp_path):
    """root/<class>/*.png with 3 classes of 8x8 grayscale images of known values, one corrupt file."""
    root = tmp_path / "folder"
    counts = {"cat": 5, "dog": 3, "emu": 1}
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 10 * c + i, dtype=np.uint8), "L").save(root / name / f"{i}.png")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return root, counts


def pytest_configure(config):
    """The decoded-image cache every command shares goes to a temporary folder of this process (each
    xdist worker has its own), never ~/.cache: set before the test modules are imported, so the
    environments they copy for their subprocesses (e.g. tests/test_hostile.py's SRC_ENV) carry it."""
    config.synaug_cache = tempfile.mkdtemp(prefix="synaug-cache-")
    os.environ["SYNAUG_CACHE_DIR"] = config.synaug_cache


def pytest_unconfigure(config):
    if hasattr(config, "synaug_cache"):
        shutil.rmtree(config.synaug_cache, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """A tiny random-weight Stable Diffusion folder (tests/tiny_sd.py), built once per session (once per
    xdist worker: ~5 s each time): the diffusion, LoRA, registry and paper-config tests read it, none writes it."""
    pytest.importorskip("diffusers")
    from tiny_sd import build_tiny_pipeline
    return build_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture(autouse=True, scope="session")
def fewer_test_image_resamples():
    """Runs, demos and experiments in the tests draw 100 bootstrap resamples of the test images, not
    the default 1,000: the same code path and the same point numbers, a wider interval, a tenth of the
    time (on fairness data the resampling cost more than the training). Tests that check the interval
    itself (tests/test_claims.py) call synaug.eval.bootstrap with their own counts."""
    from synaug.experiments.config import BASE_CONFIG
    default = BASE_CONFIG["bootstrap"]
    BASE_CONFIG["bootstrap"] = 100
    yield
    BASE_CONFIG["bootstrap"] = default
