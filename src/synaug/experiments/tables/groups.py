"""The paper's group tables (ICML Table 3 (a)-(d): fairness on UTKFace; Table 4: spurious correlation
on Waterbirds) as data. The paper's fairness "ED" is the mean of the TPR and FPR gaps (`ed_mean`:
ICML Table 3 has rows with ED < EO, which the worst case can never be), its Waterbirds "Mean" DFR's
plain test accuracy (`accuracy`); docs/definitions.md gives the evidence."""

from __future__ import annotations

from synaug.experiments.catalog import register_experiment
from synaug.experiments.claims import Claim
from synaug.experiments.tables.spec import TINY_GROUPS, Row, TableSpec, table_experiment

FAIR = ("dp", "eo", "ed_mean")  # the paper's DP, EO and ED (lower is fairer)
SYN = "SYNAuG (uniformize)"

TABLE3A = TableSpec(
    "Table 3(a): accuracy and fairness, ERM vs SYNAuG",
    rows=(Row("erm", "erm", paper="icml-table3/a/erm"), Row("synaug", "synaug", paper="icml-table3/a/synaug")),
    claims=(Claim("SYNAuG keeps (or raises) ERM's accuracy", "synaug", "erm", ("accuracy",)),
            Claim("SYNAuG is fairer than ERM: DP, EO and ED all lower", "synaug", "erm", FAIR)))

TABLE3B = TableSpec(
    "Table 3(b): SYNAuG with fairness algorithms (no Mixup, no fine-tuning)",
    rows=(Row("erm", "erm", paper="icml-table3/b/erm"),
          Row("erm + Group-DRO", "group-dro", paper="icml-table3/b/erm+group-dro"),
          Row("erm + RS", "rs", paper="icml-table3/b/erm+rs"), Row(SYN, "uniformize", paper="icml-table3/b/synaug"),
          Row("SYNAuG + Group-DRO", "uniformize+group-dro", fallback=("synaug+group-dro",),
              paper="icml-table3/b/synaug+group-dro"),
          Row("SYNAuG + RS", "uniformize+rs", fallback=("synaug+rs",), paper="icml-table3/b/synaug+rs")),
    claims=(Claim("Group-DRO improves ERM's fairness (DP, EO, ED lower)", "erm + Group-DRO", "erm", FAIR),
            Claim("RS improves ERM's fairness (DP, EO, ED lower)", "erm + RS", "erm", FAIR),
            Claim("Uniformizing with synthetic data improves ERM's fairness", SYN, "erm", FAIR),
            Claim("Group-DRO improves SYNAuG in some fairness metric", "SYNAuG + Group-DRO", SYN, FAIR, mode="any"),
            Claim("RS improves SYNAuG in some fairness metric", "SYNAuG + RS", SYN, FAIR, mode="any")))

TABLE3C = TableSpec(
    "Table 3(c): augmentation after uniformization (no fine-tuning)",
    rows=(Row("erm", "erm", paper="icml-table3/b/erm"), Row("erm + Mixup", "mixup", paper="icml-table3/c/erm+mixup"),
          Row("erm + CutMix", "cutmix", paper="icml-table3/c/erm+cutmix"),
          Row(SYN, "uniformize", paper="icml-table3/b/synaug"),
          Row("SYNAuG + Mixup", "uniformize-mixup", paper="icml-table3/c/synaug+mixup"),
          Row("SYNAuG + CutMix", "uniformize-cutmix", fallback=("uniformize+cutmix",),
              paper="icml-table3/c/synaug+cutmix")),
    claims=(Claim("CutMix improves ERM's accuracy", "erm + CutMix", "erm", ("accuracy",)),
            Claim("SYNAuG + Mixup is more accurate than ERM + Mixup", "SYNAuG + Mixup", "erm + Mixup", ("accuracy",)),
            Claim("SYNAuG + Mixup is fairer than ERM + Mixup (DP, EO, ED lower)", "SYNAuG + Mixup", "erm + Mixup",
                  FAIR),
            Claim("Mixup improves SYNAuG's fairness (DP, EO, ED lower)", "SYNAuG + Mixup", SYN, FAIR)),
    note="SYNAuG + Mixup pairs real with synthetic images (domain Mixup).")

STAR = "SYNAuG* (uniformize classes only, no sensitive attribute)"
CELLS = "SYNAuG (uniformize class x group cells)"
TABLE3D = TableSpec(
    "Table 3(d): balancing classes only vs class x group cells",
    rows=(Row("erm", "erm", paper="icml-table3/b/erm"),
          Row(STAR, "uniformize-classes", paper="icml-table3/d/synaug-star"),
          Row(CELLS, "uniformize", paper="icml-table3/b/synaug"),
          Row("full SYNAuG*, classes only (+ Mixup, fine-tuning)", "synaug-classes"),
          Row("full SYNAuG*, random Mixup partners", "synaug-classes-random"),
          Row("full SYNAuG, cells (+ Mixup, fine-tuning)", "synaug")),
    claims=(Claim("Using the sensitive attribute is more effective: SYNAuG's DP is lower than SYNAuG*'s", CELLS, STAR,
                  ("dp",)),
            Claim("Even without the sensitive attribute SYNAuG* is fairer than ERM (DP, EO, ED lower)", STAR, "erm",
                  FAIR)),
    source="ICML Table 3(d); the paper's two rows are uniformization without Mixup and fine-tuning (its SYNAuG row "
           "equals Table 3(b)'s), as the two uniformize rows here; the full-recipe rows are added without paper "
           "numbers; ERM from Table 3(b)")

BASE, DFR, RT, FT = "erm (BaseModel)", "dfr", "SYNAuG (re-train): synaug-dfr", "SYNAuG (fine-tuning): synaug-ft-val"
TABLE4 = TableSpec(
    "Table 4: robustness to spurious correlation",
    rows=(Row(BASE, "erm", paper="icml-table4/erm"), Row("synaug", "synaug", paper="icml-table4/synaug"),
          Row("group-dro", "group-dro"), Row(DFR, "dfr", paper="icml-table4/dfr"),
          Row(RT, "synaug-dfr", paper="icml-table4/synaug-retrain"),
          Row(FT, "synaug-ft-val", paper="icml-table4/synaug-finetune")),
    claims=(Claim("Synthetic data raises the BaseModel's worst-group accuracy", "synaug", BASE, ("worst_group",)),
            Claim("Synthetic data raises the BaseModel's mean accuracy (the paper's Mean: plain test accuracy)",
                  "synaug", BASE, ("accuracy",)),
            Claim("With DFR, synthetic data raises the worst-group accuracy", RT, DFR, ("worst_group",)),
            Claim("Fine-tuning beats re-training the last layer (worst group)", FT, RT, ("worst_group",))))

for _e in [
    table_experiment("table3a", "fairness: ERM vs SYNAuG", "ICML Table 3(a): accuracy, DP, EO, ED (UTKFace)",
                     "mnist-fair", TABLE3A, TINY_GROUPS, task="fairness"),
    table_experiment("table3b", "fairness: SYNAuG with Group-DRO and RS", "ICML Table 3(b) (UTKFace)", "mnist-fair",
                     TABLE3B, TINY_GROUPS, task="fairness"),
    table_experiment("table3c", "fairness: Mixup / CutMix after uniformization", "ICML Table 3(c) (UTKFace)",
                     "mnist-fair", TABLE3C, TINY_GROUPS, task="fairness"),
    table_experiment("table3d", "fairness without the sensitive attribute", "ICML Table 3(d) (UTKFace)", "mnist-fair",
                     TABLE3D, TINY_GROUPS, task="fairness"),
    table_experiment("table4", "robustness to spurious correlation", "ICML Table 4: BaseModel, SYNAuG, DFR, SYNAuG "
                     "re-train / fine-tuning (Waterbirds)", "fashion-spurious", TABLE4, TINY_GROUPS, task="spurious"),
]:
    register_experiment(_e)
