import numpy as np
import pytest
import torch

from synaug.data.imageset import DatasetSplits
from synaug.training.augment import Augment
from synaug.training.loop import Phase, step_generators
from synaug.training.methods import METHODS, get_method
from synaug.training.mixing import BATCH_TRANSFORMS, partners
from synaug.training.models import MODELS, build_model
from synaug.engine.inference import evaluate_model
from synaug.training.pipeline import train_method
from synaug.training.samplers import balanced_subset
from synaug.training.samplers import SAMPLERS

from helpers import tiny_cfg, tiny_splits


@pytest.mark.parametrize("name", ["mixup", "cutmix", "none"])
def test_mixed_labels_are_distributions(name):
    rng = np.random.default_rng(0)
    x = torch.randn(32, 1, 8, 8)
    y = torch.eye(5)[torch.randint(0, 5, (32,))]
    syn = torch.arange(32) % 2 == 0
    xm, ym = BATCH_TRANSFORMS.create(name, {"alpha": 1.0, "pairing": "random"})(x, y, syn, rng)
    assert xm.shape == x.shape
    assert torch.allclose(ym.sum(1), torch.ones(32))
    assert (ym >= 0).all()


def test_mixup_mixes_inputs_and_labels_with_the_same_lambda():
    rng = np.random.default_rng(1)
    x = torch.zeros(4, 1, 2, 2)
    x[0] = 1.0
    y = torch.eye(4)
    xm, ym = BATCH_TRANSFORMS["mixup"](alpha=1.0)(x, y, torch.zeros(4, dtype=torch.bool), rng)
    assert not torch.equal(ym, y)  # labels really were mixed
    for i in range(4):
        # labels are one-hot rows, so ym[i] holds the weights of every source sample: the same
        # weights must have mixed the inputs
        assert torch.allclose(xm[i].flatten(), ym[i] @ x.flatten(1))


def test_domain_pairing_pairs_real_with_synthetic():
    rng = np.random.default_rng(0)
    syn = torch.tensor([True, False, False, True, False, True, False, False])
    for _ in range(20):
        j = partners(syn, "domain", rng)
        assert (syn[j] != syn).all()
    only_real = torch.zeros(6, dtype=torch.bool)
    assert sorted(partners(only_real, "domain", rng).tolist()) == list(range(6))


def test_augment_crop_is_a_shift_and_flip_mirrors():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).reshape(2, 1, 6, 6)
    gen = torch.Generator().manual_seed(0)
    out = Augment(crop_padding=2, flip=False)(x, gen)
    gen = torch.Generator().manual_seed(0)
    dy = torch.randint(0, 5, (2, 1), generator=gen)
    dx = torch.randint(0, 5, (2, 1), generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        assert torch.equal(out[b], padded[b, :, dy[b, 0]:dy[b, 0] + 6, dx[b, 0]:dx[b, 0] + 6])
    flipped = Augment(crop_padding=0, flip=True)(x, torch.Generator().manual_seed(5))
    for b in range(2):
        assert torch.equal(flipped[b], x[b]) or torch.equal(flipped[b], x[b].flip(2))


def test_samplers_deterministic_and_balanced():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    s = SAMPLERS["class-balanced"](labels=labels, batch_size=3000, seed=1)
    counts = np.bincount(labels[s.batch(0)], minlength=3) / 3000
    assert np.allclose(counts, 1 / 3, atol=0.04)
    assert np.array_equal(s.batch(5), SAMPLERS["class-balanced"](labels=labels, batch_size=3000, seed=1).batch(5))
    sh = SAMPLERS["shuffle"](n=10, batch_size=4, seed=0)
    first_epoch = np.concatenate([sh.batch(0), sh.batch(1), sh.batch(2)])[:10]
    assert sorted(first_epoch.tolist()) == list(range(10))


def test_balanced_subset_is_balanced_and_real_only():
    labels = np.array([0] * 50 + [1] * 7 + [2] * 3)
    idx = balanced_subset(labels, None, seed=0)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3] and len(set(idx)) == 9
    assert np.bincount(labels[balanced_subset(labels, 2, seed=0)]).tolist() == [2, 2, 2]


def test_models_registry_shapes_and_resnet32_size():
    for name in MODELS:
        size = 32 if name != "resnet50" else 64
        m = build_model(name, in_channels=3, num_classes=7, image_size=size)
        assert m(torch.randn(2, 3, size, size)).shape == (2, 7)
        assert m.features(torch.randn(2, 3, size, size)).shape == (2, m.feature_dim)
    r32 = build_model("resnet32", in_channels=3, num_classes=100, image_size=32)
    n = sum(p.numel() for p in r32.features.parameters())
    assert 0.45e6 < n < 0.47e6, n  # "~0.46 M parameters" (the 100-way classifier adds 6.5 k)


def test_stage2_updates_only_the_last_layer(tmp_path):
    splits, syn = tiny_splits()
    method = get_method("synaug")
    cfg = tiny_cfg(stage2_steps=0)
    before = train_method(method, splits, cfg, tmp_path / "a", synthetic=syn, progress=False).model
    after = train_method(method, splits, tiny_cfg(), tmp_path / "b", synthetic=syn, progress=False).model
    sa, sb = before.state_dict(), after.state_dict()
    for k in sa:
        if k.startswith("classifier."):
            assert not torch.equal(sa[k], sb[k]), k
        else:
            assert torch.equal(sa[k], sb[k]), k  # weights AND BatchNorm running statistics


def test_retrain_reinitialises_the_layer(tmp_path):
    splits, syn = tiny_splits()
    m = train_method(get_method("synaug-retrain"), splits, tiny_cfg(stage2_steps=0), tmp_path / "r",
                     synthetic=syn, progress=False).model
    f = train_method(get_method("synaug"), splits, tiny_cfg(stage2_steps=0), tmp_path / "f",
                     synthetic=syn, progress=False).model
    assert not torch.equal(m.classifier.weight, f.classifier.weight)
    assert torch.equal(m.features[0].weight, f.features[0].weight)


class Killed(Exception):
    pass


@pytest.mark.parametrize("kill_phase,kill_step", [("stage1.pt", 8), ("stage2.pt", 4)])
def test_resume_equals_uninterrupted(tmp_path, monkeypatch, kill_phase, kill_step):
    import synaug.training.loop as loop

    splits, syn = tiny_splits()
    method = get_method("synaug")
    full = train_method(method, splits, tiny_cfg(), tmp_path / "full", synthetic=syn, progress=False)
    original = loop.save_checkpoint

    def save_then_die(path, model, opt, step, **extra):
        original(path, model, opt, step, **extra)
        if path.name == kill_phase and step == kill_step:
            raise Killed  # the process dies right after this checkpoint

    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_method(method, splits, tiny_cfg(), tmp_path / "part", synthetic=syn, progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    assert torch.load(tmp_path / "part" / kill_phase, weights_only=True)["step"] == kill_step
    resumed = train_method(method, splits, tiny_cfg(), tmp_path / "part", synthetic=syn, resume=True,
                           progress=False)
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    ma = evaluate_model(full, splits.test, splits.train.class_counts())
    mb = evaluate_model(resumed, splits.test, splits.train.class_counts())
    assert ma["predictions"] == mb["predictions"] and ma["accuracy"] == mb["accuracy"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_trains_and_learns(name, tmp_path):
    splits, syn = tiny_splits()
    trained = train_method(get_method(name), splits, tiny_cfg(steps=30, stage2_steps=30, stage2_lr=0.05),
                           tmp_path / name, synthetic=syn,
                           progress=False)
    m = evaluate_model(trained, splits.test, splits.train.class_counts(), many=20, few=5)
    assert m["accuracy"] > 50.0, m["accuracy"]  # chance is 33 %
    for f in ("config.yaml", "versions.json", "stage1.pt", "normalize.json", "log.jsonl"):
        assert (tmp_path / name / f).is_file()
    assert (tmp_path / name / "stage2.pt").is_file() == bool(get_method(name).stage2)


def test_lr_schedule_warmup_cosine_step():
    p = Phase("s", steps=100, batch_size=1, lr=0.1, warmup_steps=10)
    assert p.lr_at(0) == pytest.approx(0.01) and p.lr_at(9) == pytest.approx(0.1)
    assert p.lr_at(10) == pytest.approx(0.1) and p.lr_at(99) < 0.001
    q = Phase("s", steps=100, batch_size=1, lr=0.1, schedule="step", milestones=(0.5, 0.8), gamma=0.1)
    assert q.lr_at(49) == pytest.approx(0.1) and q.lr_at(50) == pytest.approx(0.01) and q.lr_at(85) == pytest.approx(0.001)


def test_step_generators_are_a_function_of_seed_and_step():
    a, b = step_generators(1, 7), step_generators(1, 7)
    assert a[0].random() == b[0].random()
    assert torch.equal(torch.rand(3, generator=a[1]), torch.rand(3, generator=b[1]))


def test_stage2_data_is_train_or_validation():
    from synaug.training.stage2 import STAGE2_DATA

    def stage2_set(method, splits, real):
        return STAGE2_DATA[method.stage2_data](splits, real, method.name, method.use_groups)

    splits, _ = tiny_splits()
    assert stage2_set(get_method("synaug"), splits, splits.train) is splits.train
    assert stage2_set(get_method("synaug-ft-val"), splits, splits.train) is splits.val
    no_val = DatasetSplits(train=splits.train, test=splits.test)
    with pytest.raises(ValueError, match="validation split"):
        stage2_set(get_method("synaug-ft-val"), no_val, splits.train)


def test_large_images_stream_from_disk_through_the_same_loop(tmp_path):
    """Images above 64 px stay on disk (LazyImages) and are decoded per batch by the same loop."""
    from PIL import Image

    from synaug.data import load_dataset
    from synaug.data.imageset import LazyImages

    rng = np.random.default_rng(0)
    for split, n in (("train", (12, 4)), ("test", (5, 5))):
        for c, count in enumerate(n):
            folder = tmp_path / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                img = rng.integers(0, 60, (72, 72, 3)).astype(np.uint8)
                if c == 0:
                    img[30:40, 10:62] = 230  # a horizontal bar
                else:
                    img[10:62, 30:40] = 230  # a vertical bar
                Image.fromarray(img).save(folder / f"{i}.png")
    splits = load_dataset(f"imagefolder:{tmp_path}")
    assert isinstance(splits.train.images, LazyImages) and splits.train.image_shape == (72, 72, 3)
    trained = train_method(get_method("ce-rs"), splits, tiny_cfg(steps=25, batch_size=8, lr=0.02),
                           tmp_path / "run", progress=False)
    m = evaluate_model(trained, splits.test, splits.train.class_counts())
    assert m["accuracy"] > 60 and len(m["predictions"]) == 10


def test_fit_calls_its_callbacks_in_order_and_refuses_a_non_finite_loss_before_a_checkpoint(tmp_path):
    """Hooks: start once, a log line every LOG_EVERY steps and at the last step, step ends, end once;
    a loss that stops being finite stops training at the next log or checkpoint, before any save."""
    from synaug.errors import TrainingError
    from synaug.training.loop import LOG_EVERY, Callback, Checkpoint, FitConfig, FitParts, TensorData, fit
    from synaug.training.losses import LOSSES, Loss

    splits, _ = tiny_splits()
    model = build_model("small-cnn", in_channels=1, num_classes=3, image_size=12)
    data = TensorData.from_imageset(splits.train, torch.device("cpu"))
    events = []

    class Record(Callback):
        def on_start(self, state):
            events.append("start")

        def on_log(self, state, step, loss, lr):
            events.append(("log", step))

        def on_step_end(self, state, done):
            events.append(done)

        def on_end(self, state):
            events.append("end")

    def parts(loss_fn):
        return FitParts(model.parameters(), SAMPLERS["shuffle"](n=len(splits.train), batch_size=8, seed=0),
                        lambda x, gen: x.float() / 255, lambda x: x, BATCH_TRANSFORMS["none"](), loss_fn)

    steps = LOG_EVERY + 5
    out = fit(model, data, Phase("s", steps, 8, 0.01), parts(LOSSES["ce"]()), FitConfig(3, seed=0), [Record()])
    assert events[0] == "start" and events[-1] == "end"
    assert [e[1] for e in events if isinstance(e, tuple)] == [0, LOG_EVERY, steps - 1]
    assert [e for e in events if isinstance(e, int)] == list(range(1, steps + 1))
    assert out["steps_run"] == steps and np.isfinite(out["final_loss"])

    class TurnsNaN(Loss):
        def __init__(self):
            self.progress = 0.0

        def set_progress(self, fraction):
            self.progress = fraction

        def __call__(self, logits, targets, cells=None):
            loss = logits.float().mean() * 0
            return loss + (float("nan") if self.progress >= 2 / steps else 0.0)

    ckpt = tmp_path / "s.pt"
    with pytest.raises(TrainingError, match="the loss is nan"):
        fit(model, data, Phase("s", steps, 8, 0.01), parts(TurnsNaN()), FitConfig(3, seed=0),
            [Checkpoint(ckpt, every=3)])
    assert not ckpt.exists()  # step 3's checkpoint would follow two NaN steps: refused before writing
