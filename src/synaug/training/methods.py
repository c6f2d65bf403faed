"""Methods as data: each registry entry plugs a sampler, a loss, a batch transform, whether to
add synthetic data, and a stage-2 recipe into the one training loop (`synaug.training.loop`).
No method is an if/else branch anywhere else: adding one is one `register_method` line here.

Methods compose with `+` wherever a method name is accepted (`get_method("synaug+ldam-drw")`):
"A+B" is A's recipe with B's algorithm on top. Left to right, every field a right-hand part sets
away from its default replaces the left-hand one, and training overrides (`train`) merge, the
right-hand part's keys winning. So `uniformize+ldam-drw` is uniformize (synthetic data, no Mixup,
no stage 2) trained with LDAM-DRW on its cosine head; `synaug+wb` is SYNAuG with Weight
Balancing's stage 2 and weight decay; `synaug+rs` is SYNAuG drawing batches balanced over cells
(classes, on data without groups). A part's default fields never override: `synaug+ce` is synaug."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from synaug.errors import ConfigError
from synaug.registry import Registry
from synaug.training.mixing import BATCH_TRANSFORMS
from synaug.training.samplers import SAMPLERS


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    sampler: str = "shuffle"            # see synaug.training.samplers.SAMPLERS
    loss: str = "ce"                     # see synaug.training.losses.LOSSES
    transform: str = "none"              # see synaug.training.mixing.BATCH_TRANSFORMS
    pairing: str = "random"              # Mixup/CutMix partner: random or domain (real x synthetic)
    synthetic: bool = False              # train on real + synthetic (uniformized) data
    stage2: str | None = None            # None or a recipe of synaug.training.stage2.STAGE2
    stage2_data: str = "train"           # the real images stage 2 uses: synaug.training.stage2.STAGE2_DATA
    use_groups: bool = True              # plan and balance over class x group cells when data has groups
    head: str = "linear"                 # the model's last layer: synaug.training.models.HEADS
    train: tuple = ()                    # ((TrainConfig field, value), ...) the method sets itself (WB's
                                         # tuned weight decay); they win over the run's config
    synthetic_policy: str = "all"        # all: every uniformizing image; audited: the audit's filter and budget
                                         # first (synaug.audit.recipe, applied by the runner and `synaug train`)
    tune: tuple = ()                     # ((TrainConfig field, (candidates, ...)), ...): chosen for each run on a
                                         # validation split carved from its training data (synaug.engine.tuning)
    select: str = "balanced_accuracy"    # the validation metric tuning ranks the candidates by


METHODS = Registry("method")
# LDAM-DRW's schedule (kaidic/LDAM-DRW cifar_train.py adjust_learning_rate): lr x0.01 at epoch 160, x0.0001 at
# 180 of 200; its DRW re-weighting starts at 160 too
STEP_SCHEDULE = (("schedule", "step"), ("milestones", (0.8, 0.9)), ("gamma", 0.01))
# cRT's re-training has its own learning rate (Kang et al. 2020: 0.2 on ImageNet-LT); 0.01 is stage 2's default
STAGE2_LR = (("stage2_lr", (0.01, 0.05, 0.2)),)
DEFAULTS = {f.name: f.default for f in fields(Method) if f.name not in ("name", "description")}


def register_method(method: Method) -> Method:
    return METHODS.add(method.name, method)


def get_method(name: str) -> Method:
    """A registered method, or the composition "A+B+..." of registered ones (see the module's rule)."""
    if "+" not in name:
        return METHODS[name]
    names = [part.strip() for part in name.split("+")]
    if not all(names):
        raise ConfigError(f"method {name!r}: an empty part; write registered methods joined by '+', e.g. synaug+wb")
    return compose([METHODS[n] for n in names])


# the fields a right-hand part may set: all but its identity and its training overrides (merged)
RECIPE_FIELDS = tuple(f.name for f in fields(Method) if f.name not in ("name", "description", "train"))


def compose(parts: list[Method]) -> Method:
    """The parts left to right: each one's non-default fields replace the result's so far; a stage-2
    recipe comes with the data it trains on. A part that changes nothing, and a sampler paired with
    a batch transform that takes another number of images (CMO's), are refused here, before any work."""
    out = parts[0]
    for part in parts[1:]:
        changes = {f: getattr(part, f) for f in RECIPE_FIELDS if getattr(part, f) != DEFAULTS[f]}
        if "stage2" in changes:
            changes["stage2_data"] = part.stage2_data
        train = tuple({**dict(out.train), **dict(part.train)}.items())
        if all(getattr(out, f) == v for f, v in changes.items()) and train == out.train:
            raise ConfigError(f"method {'+'.join(p.name for p in parts)!r}: {part.name!r} adds nothing to "
                              f"{out.name!r} (it is already part of it); drop it")
        out = replace(out, **changes, train=train)
    name = "+".join(p.name for p in parts)
    if SAMPLERS[out.sampler].images_per_sample != BATCH_TRANSFORMS[out.transform].images_per_sample:
        raise ConfigError(f"method {name!r}: sampler {out.sampler!r} and batch transform {out.transform!r} do not "
                          "fit together (CMO needs both its sampler and its transform: put cmo last)")
    return replace(out, name=name, description=" + ".join(p.description for p in parts))


for _m in [
    Method("ce", "cross-entropy on the real long-tailed data"),
    Method("ce-rs", "cross-entropy with class-balanced re-sampling", sampler="class-balanced"),
    Method("balanced-softmax", "Balanced Softmax loss (Ren et al. 2020)", loss="balanced-softmax"),
    Method("ce-rw", "cross-entropy re-weighted by class (effective number, Cui et al. 2019)", loss="reweighted-ce"),
    Method("ce-drw", "cross-entropy with deferred re-weighting from 80 % of training (DRW, Cao et al. 2019), "
           "under LDAM-DRW's step schedule", loss="drw-ce", train=STEP_SCHEDULE),
    Method("ldam-drw", "LDAM loss on a cosine head with deferred re-weighting (LDAM-DRW, Cao et al. 2019), under "
           "its reference's step schedule (lr x0.01 at 80 % and x0.0001 at 90 % of training)",
           loss="ldam-drw", head="cosine", train=STEP_SCHEDULE),
    Method("cmo", "CE + CMO: minority-weighted CutMix pasted onto ordinary batches (Park et al. 2022)",
           sampler="cmo", transform="cmo"),
    Method("ce-cmo", "CE + CMO (Park et al. 2022, Table 2); the same as cmo", sampler="cmo", transform="cmo"),
    Method("ldam-drw-cmo", "LDAM-DRW + CMO (Park et al. 2022, Table 2), LDAM-DRW's step schedule", loss="ldam-drw",
           head="cosine", sampler="cmo", transform="cmo", train=STEP_SCHEDULE),
    Method("wb", "Weight Balancing (Alshammari et al. 2022): CE with a larger weight decay, chosen per run on a "
           "validation split carved from the training data, then the classifier re-trained with class-balanced loss "
           "and MaxNorm (BatchNorm in training mode, as the reference)", stage2="wb", train=(("weight_decay", 5e-3),),
           tune=(("weight_decay", (5e-4, 5e-3, 2e-2)),)),
    Method("mixup", "Mixup on the real data only (Zhang et al. 2018)", transform="mixup"),
    Method("cutmix", "CutMix on the real data only (Yun et al. 2019)", transform="cutmix"),
    Method("synaug", "SYNAuG: uniformize with synthetic data, domain Mixup, fine-tune last layer",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune"),
    Method("synaug-audit", "SYNAuG on audited synthetic data: the audit's filter drops mislabelled and off-manifold "
           "images, then each cell keeps round(transfer score x its fill) of them (synaug.audit.recipe)",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune", synthetic_policy="audited"),
    Method("synaug-retrain", "SYNAuG with the last layer re-initialised in stage 2 (Table 1 d), trained at its own "
           "learning rate (cRT-style), chosen per run on a validation split carved from the training data",
           transform="mixup", pairing="domain", synthetic=True, stage2="retrain", tune=STAGE2_LR),
    Method("synaug-ft-tuned", "SYNAuG with its fine-tuning learning rate chosen per run on a validation split carved "
           "from the training data (the fair partner of synaug-retrain)",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune", tune=STAGE2_LR),
    Method("synaug-random", "SYNAuG with Mixup partners drawn at random, not real x synthetic (pairing ablation)",
           transform="mixup", pairing="random", synthetic=True, stage2="finetune"),
    Method("synaug-ft-all", "SYNAuG fine-tuning the last layer on every real image drawn class-balanced (cRT's "
           "sampling), not on a balanced subset of the smallest class's size (stage-2 data ablation)",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune", train=(("stage2_balance", "sampler"),)),
    Method("synaug-nomixup", "uniformize + fine-tune, no Mixup (ablation)", synthetic=True, stage2="finetune"),
    Method("uniformize", "uniformize with synthetic data only (Table 1 a/b)", synthetic=True),
    Method("uniformize-mixup", "uniformize + domain Mixup, no stage 2 (Table 1 c)",
           transform="mixup", pairing="domain", synthetic=True),
    Method("synaug-cutmix", "uniformize + CutMix across domains + fine-tune",
           transform="cutmix", pairing="domain", synthetic=True, stage2="finetune"),
    # group robustness and fairness (cells = class x group)
    Method("erm", "empirical risk minimisation (plain cross-entropy)"),
    # Table 4's controls: ERM with SYNAuG's stage 2 and no synthetic data, so the effect of the synthetic images is
    # not confounded with the last-layer step (issue 29)
    Method("erm-ft", "ERM + the last layer fine-tuned on a cell-balanced real training subset (synaug's stage 2, "
           "no synthetic data): the control of synaug", stage2="finetune"),
    Method("erm-ft-val", "ERM + the last layer fine-tuned on cell-balanced validation data (synaug-ft-val's stage 2, "
           "no synthetic data): the control of synaug-ft-val", stage2="finetune", stage2_data="val"),
    Method("rs", "group-balanced re-sampling: every class x group cell equally likely", sampler="cell-balanced"),
    Method("group-dro", "Group DRO (Sagawa et al. 2020), worst-group objective over cells, batches drawn with "
           "probability inverse to cell size (the reference's --reweight_groups)", loss="group-dro",
           sampler="cell-balanced"),
    Method("dfr", "DFR (Kirichenko et al.): ERM features, last layer re-fit on group-balanced validation data",
           stage2="dfr", stage2_data="val"),
    Method("synaug-dfr", "SYNAuG (re-train), Table 4: uniformize cells + domain Mixup, then DFR on validation data",
           transform="mixup", pairing="domain", synthetic=True, stage2="dfr", stage2_data="val"),
    Method("synaug-ft-val", "SYNAuG (fine-tuning), Table 4: uniformize cells + domain Mixup, then the last layer "
           "fine-tuned on cell-balanced validation data (DFR's data)",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune", stage2_data="val"),
    Method("synaug-classes", "SYNAuG balancing classes only, without the sensitive attribute (Table 3d)",
           transform="mixup", pairing="domain", synthetic=True, stage2="finetune", use_groups=False),
    Method("uniformize-classes", "uniformize classes only, without the sensitive attribute; no Mixup, no stage 2 "
           "(Table 3d's SYNAuG*)", synthetic=True, use_groups=False),
    Method("synaug-classes-random", "synaug-classes with Mixup partners drawn at random, not across domains",
           transform="mixup", pairing="random", synthetic=True, stage2="finetune", use_groups=False),
]:
    register_method(_m)
