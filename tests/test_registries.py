"""Contract tests run over EVERY registry entry (imbalanced-learn's `estimator_checks` pattern):
a new sampler, loss, batch transform, stage-2 recipe, method, task, dataset or generator is checked
by being registered, with no test to write."""

import json

import numpy as np
import pytest
import torch

from synaug.data import DATASETS, load_dataset
from synaug.errors import ConfigError, DatasetError, SynaugError
from synaug.eval.specs import METRICS
from synaug.experiments.tasks import TASKS
from synaug.generators import GENERATORS, make_generator
from synaug.registry import Registry, UnknownOption, named_options, takes_any_option
from synaug.training import pipeline
from synaug.training.losses import LOSSES, Loss
from synaug.training.methods import METHODS
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.models import MODELS, build_model
from synaug.training.samplers import SAMPLERS
from synaug.training.stage2 import STAGE2, STAGE2_DATA

from helpers import tiny_cfg, tiny_splits

LABELS = np.array([0] * 40 + [1] * 8 + [2] * 2)
CELLS = LABELS * 2 + (np.arange(50) % 2)
# what the pipeline knows about the data; each factory takes the part it declares
FACTS = dict(n=len(LABELS), labels=LABELS, cells=CELLS, class_counts=np.bincount(LABELS), batch_size=16, seed=0,
             num_cells=6, alpha=1.0, pairing="random")
# the strata a balanced sampler promises to equalise (CMO: its minority draws, 1 / n_class each)
BALANCES = {"class-balanced": LABELS, "cell-balanced": CELLS, "cmo": LABELS}


def make_sampler(name, seed=0, batch_size=16):
    return SAMPLERS.create(name, {**FACTS, "seed": seed, "batch_size": batch_size})


# ----------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_gives_in_range_batches_that_depend_only_on_seed_and_step(name):
    a, b = make_sampler(name), make_sampler(name)
    for step in (0, 1, 7, 123):
        batch = a.batch(step)
        assert batch.shape == (16 * a.images_per_sample,) and batch.min() >= 0 and batch.max() < len(LABELS)
        assert np.array_equal(batch, b.batch(step))  # a resumed run draws the same batches
    assert np.array_equal(a.batch(3), a.batch(3))
    assert not np.array_equal(make_sampler(name, seed=1).batch(3), a.batch(3))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_balanced_sampler_equalises_its_strata(name):
    k = SAMPLERS[name].images_per_sample  # CMO: (ordinary, minority-weighted) pairs
    if name == "shuffle" or k > 1:  # the data's own proportions (CMO: in its ordinary draws)
        drawn = np.concatenate([make_sampler(name).batch(s)[::k] for s in range(25)])
        assert np.array_equal(np.bincount(LABELS[drawn[:50]], minlength=3), np.bincount(LABELS))  # one epoch
    if name == "shuffle":
        return
    assert name in BALANCES, f"sampler {name!r}: say which strata it balances in BALANCES"
    strata = BALANCES[name]
    drawn = make_sampler(name, batch_size=12000).batch(0)[k - 1::k]
    share = np.bincount(strata[drawn], minlength=strata.max() + 1) / len(drawn)
    assert np.allclose(share, 1 / len(share), atol=0.02), share  # the data's are 0.02 to 0.4


# ----------------------------------------------------------------------------- losses, transforms
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_a_finite_differentiable_scalar_on_soft_targets(name):
    torch.manual_seed(0)
    logits = torch.randn(12, 3, requires_grad=True)
    lam = 0.3
    hard = torch.eye(3)[torch.arange(12) % 3]
    soft = lam * hard + (1 - lam) * hard.roll(1, 0)  # a Mixup batch
    cells = torch.arange(12) % 6
    loss_fn = LOSSES.create(name, FACTS)
    assert isinstance(loss_fn, Loss)  # so the loop's hooks (set_progress, state_dict) are declared
    loss_fn.set_progress(0.9)
    loss = loss_fn(logits, soft, cells=cells)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    state = loss_fn.state_dict()
    if state is not None:  # checkpointed state restores into a fresh loss
        fresh = LOSSES.create(name, FACTS)
        fresh.load_state_dict(state)
        assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("name", sorted(BATCH_TRANSFORMS))
def test_every_batch_transform_keeps_shapes_and_label_mass_and_repeats_from_its_rng(name):
    t = BATCH_TRANSFORMS.create(name, FACTS)
    k = t.images_per_sample  # images the transform makes one sample of (CMO: 2)
    x = torch.rand(8 * k, 1, 6, 6)
    y = torch.eye(3)[torch.arange(8 * k) % 3]
    syn = torch.arange(8 * k) % 2 == 0
    xa, ya = t(x, y, syn, np.random.default_rng(5))
    xb, yb = t(x, y, syn, np.random.default_rng(5))
    assert xa.shape == (8, *x.shape[1:]) and ya.shape == (8, 3)
    assert torch.allclose(ya.sum(1), torch.ones(8))
    assert torch.equal(xa, xb) and torch.equal(ya, yb)


# ----------------------------------------------------------------------------- methods
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_names_registered_parts(name):
    m = METHODS[name]
    assert m.name == name and m.description
    for registry, key in ((SAMPLERS, m.sampler), (LOSSES, m.loss), (BATCH_TRANSFORMS, m.transform),
                          (STAGE2_DATA, m.stage2_data)):
        assert key in registry, f"{name}: {registry.kind} {key!r} is not registered"
    assert m.stage2 is None or m.stage2 in STAGE2


class Stop(Exception):
    pass


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_with_exactly_the_parts_it_declares(name, tmp_path, monkeypatch):
    """The sampler, loss and batch transform that reach the loop are the declared ones (ce-rs must
    not fall back to shuffling), built for the data the method sees (cells or classes)."""
    seen = {}

    def spy(model, data, phase, parts, config, callbacks=()):
        seen.update(parts=parts, config=config)
        raise Stop

    monkeypatch.setattr(pipeline, "fit", spy)
    splits, syn = tiny_splits()
    m = METHODS[name]
    with pytest.raises(Stop):
        pipeline.train_method(m, splits, tiny_cfg(), tmp_path, synthetic=syn, progress=False)
    parts = seen["parts"]
    assert type(parts.sampler) is SAMPLERS[m.sampler]
    assert type(parts.loss_fn) is LOSSES[m.loss]
    assert type(parts.transform) is BATCH_TRANSFORMS[m.transform]
    assert getattr(parts.transform, "pairing", m.pairing) == m.pairing
    n_real = len(splits.train)
    assert parts.sampler.batch(0).max() < n_real + (len(syn) if m.synthetic else 0)
    if hasattr(parts.loss_fn, "q"):  # Group DRO weighs cells: class x group, or classes without groups
        assert len(parts.loss_fn.q) == (6 if m.use_groups else 3)


@pytest.mark.parametrize("name", sorted(STAGE2))
def test_every_stage2_recipe_takes_the_stage2_context(name):
    import inspect

    assert list(inspect.signature(STAGE2[name]).parameters) == ["s"]


# ----------------------------------------------------------------------------- tasks, datasets, generators
@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_names_a_registered_dataset_methods_and_table(name):
    t = TASKS[name]
    assert t.name == name and t.dataset.partition(":")[0] in DATASETS
    assert all(m in METHODS for m in t.methods)
    assert t.metrics and all(k in METRICS for k in t.metrics)


@pytest.mark.parametrize("name", sorted(n for n in DATASETS if not takes_any_option(DATASETS[n])))
def test_every_dataset_refuses_an_option_it_does_not_take(name):
    """Before reading anything (the path need not exist); imagefolder and csv forward their options
    to the readers, whose signatures check them."""
    with pytest.raises(DatasetError, match=r"dataset '.*' has no option\(s\) \['no_such_option'\]"):
        load_dataset(f"{name}:/nonexistent" if "path" in named_options(DATASETS[name]) else name, no_such_option=1)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_declares_itself_and_refuses_unknown_options(name):
    cls = GENERATORS[name]
    assert cls.name == name and isinstance(cls.parallel_safe, bool)
    with pytest.raises(UnknownOption, match="no option"):
        make_generator(name, no_such_option=1)
    with pytest.raises(ConfigError, match="come from the plan"):  # the dataset's facts are context, not options
        make_generator(name, image_shape=(8, 8, 1))


# the generator flags of `synaug generate` each backend needs in the contract below (offline, tiny)
CONTRACT_FLAGS = {
    "render": [], "smote": [], "heldout": [],
    "diffusion": ["--sampling-steps", "2", "--gen-size", "32", "--dtype", "fp32", "--device", "cpu",
                  "--no-safety-checker", "--generator-model", "{tiny_sd}"],
    "ddpm": ["--sampling-steps", "2", "--generator-model", "{tiny_gen}"],
}
# ... and of `synaug plan`, where the model decides what the backend can draw
PLAN_FLAGS = {"ddpm": ["--generator-model", "{tiny_gen}"]}


@pytest.fixture(scope="module")
def tiny_gen(tmp_path_factory):
    """A ddpm generator fitted for a few steps on mnist-lt (IF 10), through the API."""
    from synaug import api
    out = tmp_path_factory.mktemp("ddpm") / "GEN"
    api.fit_generator("mnist-lt", out, imbalance=10, steps=4, batch_size=16, log_every=2, warmup_steps=1,
                      arch_options={"channels": [8, 16], "emb_dim": 32}, progress=False,
                      quality_samples=0)  # measured in test_pretrain
    return str(out)


def contract_flags(flags: list, request) -> list:
    """The flags with their model folders ({tiny_sd}, {tiny_gen}) built by their fixtures."""
    return [f.format(**{f[1:-1]: request.getfixturevalue(f[1:-1])}) if f.startswith("{") else f for f in flags]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_draws_a_plan_through_the_cli(name, tmp_path, request):
    """plan -> generate from the command line, the real path: each backend gets its context (shape,
    names, real images, unused pool) from the registry and writes the planned images and metadata."""
    from synaug.cli import main
    assert name in CONTRACT_FLAGS, f"generator {name!r}: give its offline contract flags in CONTRACT_FLAGS"
    flags = contract_flags(CONTRACT_FLAGS[name], request)
    plan = tmp_path / "plan.csv"
    assert main(["plan", "--dataset", "mnist-lt", "--imbalance", "10", "--strategy", '{"8": 55, "9": 45}',
                 "--generator", name, *contract_flags(PLAN_FLAGS.get(name, []), request), "--out", str(plan)]) == 0
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "s"), "--generator", name, *flags]) == 0
    rows = (tmp_path / "s" / "metadata.csv").read_text().splitlines()[1:]
    assert len(rows) == 55 - 32 + 45 - 25 and all(f",{name}," in r for r in rows)  # IF 10 keeps 32 and 25
    assert json.loads((tmp_path / "s" / ".synaug" / "plan.json").read_text())["dataset"] == "mnist-lt"


GENERATOR_OPTIONS = {"diffusion": {"model": "{tiny_sd}", "steps": 2, "gen_size": 32, "dtype": "fp32", "device": "cpu",
                                   "safety_checker": False},
                     "ddpm": {"model": "{tiny_gen}", "steps": 2}}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_declares_truly_whether_it_reads_the_prompt(name, request):
    """`reads_prompt` decides whether Table 1 (a), prompts without modifiers, is a run or `not runnable
    here`: two items alike but for their modifier give other images exactly when a backend says it reads
    the prompt (render's styles, diffusion's text) and the same ones when it draws from the cell alone."""
    from synaug.engine.planning import generator_context
    from synaug.generators.base import reads_prompt
    from synaug.plans import PlanItem
    splits = load_dataset("mnist-lt", imbalance=10)
    context = generator_context(splits.train, False, unused=splits.unused)
    options = {k: request.getfixturevalue(v[1:-1]) if isinstance(v, str) and v.startswith("{") else v
               for k, v in GENERATOR_OPTIONS.get(name, {}).items()}
    generator = make_generator(name, context, **options)
    label, cls = 9, splits.train.class_names[9]
    a, b = (PlanItem(f"{cls}/0.png", str(label), label, cls, None, "", 0, modifier, f"a photo of {modifier} {cls}", 7)
            for modifier in ("bold italic", "thin upright small"))
    (first,), (second,) = generator.generate([a]), generator.generate([b])
    same = np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert same is not reads_prompt(name), f"{name}: reads_prompt={reads_prompt(name)} but same images: {same}"


def test_models_registry_builds_every_entry():
    for name in MODELS:
        model = build_model(name, in_channels=1, num_classes=3, image_size=28)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)


# ----------------------------------------------------------------------------- the registry itself
def test_registry_create_refuses_misspelt_options_and_passes_only_declared_facts():
    reg = Registry("widget")

    @reg.register("w")
    def widget(*, size, colour="red"):
        return (size, colour)

    assert reg.create("w", {"size": 3, "unrelated": 1}) == (3, "red")
    with pytest.raises(ConfigError, match=r"widget 'w' has no option\(s\) \['color'\]; its options: \['colour'"):
        reg.create("w", color="blue", size=1)
    with pytest.raises(TypeError):  # still a TypeError for code
        reg.create("w", colr="blue", size=1)


def test_unknown_registry_names_are_clear_user_errors():
    with pytest.raises(SynaugError, match="unknown sampler 'nope'.*class-balanced"):
        SAMPLERS["nope"]
    for registry in (METHODS, TASKS, STAGE2, STAGE2_DATA, LOSSES):
        with pytest.raises(SynaugError, match=f"unknown {registry.kind} 'nope'"):
            registry["nope"]
    with pytest.raises(KeyError, match="unknown model 'vit'"):  # still a KeyError for code
        build_model("vit", in_channels=1, num_classes=2)


