"""Plain-text tables of an audit for the terminal: the verdict per cell first, then the numbers."""

from __future__ import annotations

from synaug.audit.verdict import format_verdicts


def _p(v) -> str:
    return "    -" if v is None else f"{100 * v:5.1f}"


def format_audit_table(result: dict) -> str:
    rows = result["cells"]
    w = max(len("cell"), *(len(r["name"]) for r in rows))
    lines = [format_verdicts(rows), "", f"{'cell':<{w}}  {'real':>5} {'val':>4} {'synth':>6}  {'trans':>5} {'fidel':>5} {'gap':>5} {'prec':>5} "
             f"{'rec':>5} {'dup':>5}  mistaken for"]
    for r in rows:
        conf = ", ".join(f"{c['name']} {100 * c['share']:.0f}%" for c in r["confused_with"][:2])
        lines.append(f"{r['name']:<{w}}  {r['real']:>5} {r['real_val']:>4} {r['synthetic']:>6}  {_p(r['transfer'])} {_p(r['fidelity'])} "
                     f"{_p(r['gap'])} {_p(r['precision'])} {_p(r['recall'])} {_p(r['duplicate_rate'])}  {conf}")
    lines.append("transfer is measured on the `val` real images carved from training (few images: a coarse score); "
                 "all in %")
    return "\n".join(lines)
