"""The one table gpu_check prints (and writes to gpu_check.txt), from gpu_check.json's content."""

from __future__ import annotations

from settings import TARGETS


def fmt(value, spec: str = ",.0f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def generation_lines(result: dict) -> list[str]:
    gen = result.get("generation", {})
    lines = ["Generation (synaug generate on random-weight models, images/s over runner batches 2..n)",
             f"  {'setting':<34}{'batch':>6}{'px':>5}{'images/s':>10}{'peak GB':>9}  note"]
    compiled = gen["compiled"] if isinstance(gen.get("compiled"), list) else []
    for r in gen.get("runs", []) + ([gen["oom"]] if gen.get("oom") else []) + compiled:
        note = r.get("error", "")[:60] if r.get("error") else (r.get("scheduler") or "")
        if "triggered" in r:
            note = (f"cap {fmt(r['cap_gb'], '.1f')} GB: halved to batch {r['batch_after_halving']}" if r["triggered"]
                    else f"halving not triggered ({r.get('note') or 'fitted under the cap'})")[:70]
        lines.append(f"  {r['name']:<34}{r['batch']:>6}{r['gen_size']:>5}{fmt(r.get('images_per_s'), '.2f'):>10}"
                     f"{fmt(r.get('peak_allocated_gb'), '.1f'):>9}  {note}")
    for s in gen.get("skipped", []):
        lines.append(f"  {s['name']:<34}  skipped: {s['reason']}")
    return lines


def training_lines(result: dict) -> list[str]:
    tr = result.get("training", {})
    lines = ["Training (synaug.training.loop.fit vs the model's own fwd+bwd+step ceiling, same run, bf16 on CUDA)",
             f"  {'workload':<48}{'batch':>6}{'ceiling/s':>11}{'loop/s':>9}{'%':>6}{'epoch s':>9}"]
    for r in tr.get("cifar_memory", []):
        label = f"ResNet-32, {r['images']:,} x 32 px in memory, Mixup"
        lines.append(f"  {label:<48}{r['batch']:>6}{fmt(r['ceiling_images_per_s']):>11}{fmt(r['loop_images_per_s']):>9}"
                     f"{fmt(100 * r['fraction_of_ceiling'], '.0f'):>6}{fmt(r['epoch_s'], '.1f'):>9}")
    for key in ("eager", "compiled", "small_batch"):
        r = tr.get("large_cache", {}).get(key)
        if not r:
            continue
        if "skipped" in r or "model" not in r:
            lines.append(f"  {'cache, ' + key:<48}  skipped: {r.get('skipped', r)}")
            continue
        label = f"{r['model']}, crops from the cache, {'compiled' if r['compile'] else 'eager'}"
        frac = r.get("fraction_of_ceiling")
        lines.append(f"  {label:<48}{r['batch']:>6}{fmt(r.get('ceiling_images_per_s')):>11}"
                     f"{fmt(r['loop_images_per_s']):>9}{fmt(frac and 100 * frac, '.0f'):>6}{'':>9}")
    return lines


def profile_lines(result: dict) -> list[str]:
    p = result.get("profile")
    if not p:
        return []
    if "error" in p:
        return [f"Profile: failed: {p['error']}"]
    idle = p.get("idle") or {}
    lines = [f"Profile of the {'compiled' if p['compile'] else 'eager'} {p.get('model')} path ({p['active_steps']} steps): "
             f"GPU idle {fmt(idle.get('gpu_idle_share') and 100 * idle['gpu_idle_share'], '.1f')} % of "
             f"{fmt(idle.get('window_ms'), '.0f')} ms, copies {fmt(idle.get('memcpy_ms'), '.1f')} ms"]
    for title, rows in (("device", p.get("top_device_ops", [])[:6]), ("host", p.get("top_host_ops", [])[:6])):
        for r in rows:
            lines.append(f"  top {title:<7}{r['ms']:>9.1f} ms {r['calls']:>6} calls  {r['name'][:70]}")
    return lines


def projection_lines(result: dict) -> list[str]:
    proj = result.get("projection", {})
    rates = proj.get("rates", {})
    lines = [f"Projected cost, GPU-hours on this GPU (generation at {fmt(rates.get('sd_turbo_4_steps'), '.2f')} img/s "
             f"SD-Turbo 4 steps / {fmt(rates.get('sd15_25_steps'), '.2f')} img/s SD 1.5 25 steps)",
             f"  {'job':<42}{'synthetic':>10}{'gen h':>8}{'(SD1.5)':>9}{'train h':>9}{'total h':>9}{'(SD1.5)':>9}"]
    for r in proj.get("rows", []):
        lines.append(f"  {r['row']:<42}{r['synthetic']:>10,}{fmt(r['gen_gpu_h_sd_turbo'], '.2f'):>8}"
                     f"{fmt(r['gen_gpu_h_sd15'], '.2f'):>9}{fmt(r['train_gpu_h'], '.2f'):>9}"
                     f"{fmt(r['total_gpu_h_sd_turbo'], '.2f'):>9}{fmt(r['total_gpu_h_sd15'], '.2f'):>9}")
    return lines


def target_lines(result: dict) -> list[str]:
    lines = ["Targets (issue 21)"]
    for t in result.get("targets", []):
        verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        lines.append(f"  {t['what']:<58}{fmt(t['value'], '.2f'):>9} vs {t['target']:<8} {verdict}")
    return lines


def targets(result: dict) -> list[dict]:
    """Each target with the measured value it is judged on."""
    tr = result.get("training", {})
    fractions = [r["fraction_of_ceiling"] for r in tr.get("cifar_memory", [])]
    fractions += [v["fraction_of_ceiling"] for k, v in tr.get("large_cache", {}).items()
                  if k in ("eager", "compiled") and v.get("fraction_of_ceiling")]
    rows = result.get("projection", {}).get("rows", [])
    table2 = rows[0]["total_gpu_h_sd_turbo"] if rows else None
    turbo = result.get("projection", {}).get("rates", {}).get("sd_turbo_4_steps")
    checks = [("lowest training fraction of the ceiling", min(fractions) if fractions else None, ">=",
               TARGETS["train_fraction_of_ceiling"]),
              ("SD-Turbo 512 px 4 steps, images/s", turbo, ">=", TARGETS["sd_turbo_512_4_steps_images_per_s"]),
              ("Table 2 SYNAuG row, GPU-hours", table2, "<=", TARGETS["table2_synaug_gpu_hours"])]
    judged = result.get("mode") != "tiny"  # tiny models' numbers only show that the path runs
    return [dict(what=what, value=value, target=f"{op} {target:g}",
                 met=None if value is None or not judged else bool(value >= target if op == ">=" else value <= target))
            for what, value, op, target in checks]


def render(result: dict) -> str:
    env = result.get("environment", {})
    head = [f"gpu_check ({result['mode']} mode) on {env.get('device_name')}: torch {env.get('torch')}, "
            f"diffusers {env.get('diffusers')}, {fmt(result.get('elapsed_s'), '.0f')} s"]
    if result["mode"] == "tiny":
        head.append("  tiny mode: tiny random models on whatever device is here; the numbers only show the path runs")
    blocks = [head, generation_lines(result), training_lines(result), profile_lines(result),
              projection_lines(result), target_lines(result)]
    return "\n\n".join("\n".join(b) for b in blocks if b)
