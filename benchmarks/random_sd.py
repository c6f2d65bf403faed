"""A Stable Diffusion checkpoint folder with RANDOM weights and the FULL-SIZE published architecture.

Compute does not depend on weight values, so a random SD-Turbo / SD 1.5 / SDXL-Turbo measures what the
real one costs (images/s, memory) on a machine that has no network and no weights. The component
configurations are the published ones, kept in `benchmarks/sd_configs/<arch>/` with their sources in
`benchmarks/sd_configs/SOURCES.md`. The folder is what `save_pretrained` writes (model_index.json,
unet/, vae/, text_encoder[_2]/, tokenizer[_2]/, scheduler/), so `synaug generate --generator diffusion
--generator-model DIR --no-safety-checker` loads it like a downloaded checkpoint (AutoPipelineForText2Image).

Deviations from the real checkpoints (none changes the compute):
- the tokenizers have a toy byte-level vocabulary (518 entries) instead of CLIP's 49,408 BPE entries:
  the text encoders keep their published vocab_size (49,408 embedding rows) and always see 77 positions;
  <|startoftext|> and <|endoftext|> are the two highest ids, as in CLIP, so the pooled output (argmax
  of the ids, transformers' rule for these configs) still sits on the end-of-text token;
- no safety checker or feature extractor (SD 1.5 publishes one; synaug runs with --no-safety-checker).

`--tiny` keeps every component's layout (block types, number of blocks, SDXL's extra embeddings) with
widths of a few channels, for tests on a CPU.

    python benchmarks/random_sd.py --arch sd-turbo --out OUT/sd-turbo [--tiny] [--dtype fp16] [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

ARCHS = ("sd-turbo", "sd15", "sdxl-turbo")
CONFIGS = Path(__file__).resolve().parent / "sd_configs"
DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# transformers' bookkeeping keys in a published config.json, not arguments of the architecture
TEXT_META = {"architectures", "torch_dtype", "transformers_version", "model_type", "_name_or_path"}


def load_configs(arch: str) -> dict[str, dict]:
    """{component: published config} for `arch`, plus 'model_index' and 'published' (file sizes)."""
    if arch not in ARCHS:
        raise SystemExit(f"unknown --arch {arch!r}; use one of {', '.join(ARCHS)}")
    return {p.stem: json.loads(p.read_text()) for p in sorted((CONFIGS / arch).glob("*.json"))}


def shrink(cfgs: dict[str, dict]) -> dict[str, dict]:
    """The same layout with tiny widths: 8-16 channels, 1 layer per block, 2 heads, 8-wide text encoders."""
    cfgs = copy.deepcopy(cfgs)
    text = [k for k in ("text_encoder", "text_encoder_2") if k in cfgs]
    for k in text:
        cfgs[k].update(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=2,
                       projection_dim=8)
    unet = cfgs["unet"]
    n = len(unet["block_out_channels"])
    heads = unet["attention_head_dim"]
    unet.update(block_out_channels=[8] + [16] * (n - 1), layers_per_block=1, norm_num_groups=2,
                attention_head_dim=[2] * n if isinstance(heads, list) else 2, sample_size=8,
                cross_attention_dim=8 * len(text))  # SDXL: both encoders' hidden states, concatenated
    if isinstance(unet.get("transformer_layers_per_block"), list):
        unet["transformer_layers_per_block"] = [1] * n
    if unet.get("addition_embed_type") == "text_time":
        # SDXL: pooled text embedding (text_encoder_2's projection) + 6 time ids of addition_time_embed_dim each
        unet.update(addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 + 6 * 8)
    vae = cfgs["vae"]
    vae.update(block_out_channels=[8, 8, 16, 16][:len(vae["block_out_channels"])], layers_per_block=1,
               norm_num_groups=2, sample_size=64)
    return cfgs


def write_tokenizer(folder: Path, pad_token: str):
    """A CLIPTokenizer over a toy byte-level vocabulary (CLIP's byte alphabet, each byte also as a word
    end, a few merges), the special tokens last as in CLIP's own vocabulary."""
    sys.path.insert(0, str(CONFIGS.parent.parent / "tests"))
    from tiny_sd import byte_alphabet  # the tests' tiny pipeline uses the same alphabet
    from transformers import CLIPTokenizer

    chars = byte_alphabet()
    merges = [("h", "e</w>"), ("t", "he</w>"), ("p", "h"), ("o", "t")]
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    src = folder.parent / (folder.name + "-src")
    src.mkdir(parents=True, exist_ok=True)
    (src / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (src / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return CLIPTokenizer(str(src / "vocab.json"), str(src / "merges.txt"), model_max_length=77, pad_token=pad_token)


def text_encoder(cfg: dict, with_projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(**{k: v for k, v in cfg.items() if k not in TEXT_META})
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def build_pipeline(cfgs: dict[str, dict], tmp: Path, device: str = "cpu"):
    """The pipeline object of model_index.json's class, every model randomly initialised on `device`
    (the GPU: seconds instead of minutes; "meta": no memory at all, to count parameters)."""
    import diffusers
    import torch

    index = cfgs["model_index"]
    scheduler = getattr(diffusers, cfgs["scheduler"]["_class_name"]).from_config(cfgs["scheduler"])
    parts = dict(scheduler=scheduler, tokenizer=write_tokenizer(tmp / "tokenizer", pad_token="<|endoftext|>"))
    with torch.device(device):  # models only: schedulers keep their tables on the host
        parts.update(unet=diffusers.UNet2DConditionModel.from_config(cfgs["unet"]),
                     vae=diffusers.AutoencoderKL.from_config(cfgs["vae"]),
                     text_encoder=text_encoder(cfgs["text_encoder"], with_projection=False))
        if "text_encoder_2" in cfgs:
            parts["text_encoder_2"] = text_encoder(cfgs["text_encoder_2"], with_projection=True)
    if "text_encoder_2" in cfgs:
        parts["tokenizer_2"] = write_tokenizer(tmp / "tokenizer_2", pad_token="!")  # SDXL's tokenizer_2 pads with "!"
    else:
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return getattr(diffusers, index["_class_name"])(**parts)


def parameter_counts(pipe) -> dict[str, int]:
    import torch

    return {name: sum(p.numel() for p in module.parameters()) for name, module in pipe.components.items()
            if isinstance(module, torch.nn.Module)}


def against_published(counts: dict[str, int], saved: dict[str, int], published: dict) -> dict[str, dict]:
    """Our count (and weight file size) vs the count the published fp32 file implies (4 bytes a parameter)."""
    out = {}
    for name, n in counts.items():
        out[name] = {"params": n, "saved_bytes": saved.get(name)}
        ref = published.get(name)
        if ref:
            implied = ref["fp32_file_bytes"] / 4 if "fp32_file_bytes" in ref else ref["fp32_file_gb"] * 1e9 / 4
            out[name].update(published_params_from_file_size=round(implied), relative_difference=n / implied - 1,
                             page=ref["page"])
    return out


def saved_bytes(out: Path, names) -> dict[str, int]:
    return {name: sum(f.stat().st_size for f in (out / name).glob("*.safetensors")) for name in names}


def build_random_sd(arch: str, out: Path, *, tiny: bool = False, dtype: str = "fp16", device: str = "auto",
                    seed: int = 0) -> dict:
    """Write the folder; returns (and writes to OUT/random_sd.json) the parameter counts and timings."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    out = Path(out)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    cfgs = load_configs(arch)
    published = cfgs.pop("published", {})
    if tiny:
        cfgs = shrink(cfgs)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    pipe = build_pipeline(cfgs, out.parent / f".{out.name}-tokenizers", device)
    if dtype != "fp32":
        diffusers_logging.set_verbosity_error()  # "modules to keep in float32: []" - there are none here
        pipe.to(getattr(torch, DTYPES[dtype]))
        diffusers_logging.set_verbosity_warning()
    t_build = time.perf_counter() - t0
    counts = parameter_counts(pipe)
    pipe.save_pretrained(out, safe_serialization=True)
    saved_class = json.loads((out / "model_index.json").read_text())["_class_name"]
    if saved_class != cfgs["model_index"]["_class_name"]:
        raise RuntimeError(f"wrote a {saved_class}, the published model_index says {cfgs['model_index']['_class_name']}")
    report = {"arch": arch, "tiny": tiny, "dtype": dtype, "device": device, "pipeline": saved_class,
              "scheduler": type(pipe.scheduler).__name__, "build_s": t_build,
              "save_s": time.perf_counter() - t0 - t_build,
              "components": against_published(counts, saved_bytes(out, counts), {} if tiny else published),
              "total_params": sum(counts.values())}
    (out / "random_sd.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def count_only(arch: str) -> dict:
    """Parameter counts of the full-size architecture, built on the meta device (no memory, no weights)."""
    cfgs = load_configs(arch)
    published = cfgs.pop("published", {})
    pipe = build_pipeline(cfgs, Path(tempfile.mkdtemp()), "meta")
    counts = parameter_counts(pipe)
    return {"arch": arch, "tiny": False, "dtype": "-", "device": "meta", "pipeline": type(pipe).__name__,
            "scheduler": type(pipe.scheduler).__name__, "build_s": 0.0, "save_s": 0.0,
            "components": against_published(counts, {}, published), "total_params": sum(counts.values())}


def format_report(r: dict) -> str:
    lines = [f"{r['arch']}{' (tiny)' if r['tiny'] else ''}: {r['pipeline']} + {r['scheduler']}, {r['dtype']}, "
             f"built in {r['build_s']:.1f} s on {r['device']}, saved in {r['save_s']:.1f} s",
             f"  {'component':<16}{'parameters':>16}{'saved MB':>10}{'published (fp32 file / 4)':>28}{'difference':>12}"]
    for name, c in r["components"].items():
        ref = c.get("published_params_from_file_size")
        diff = f"{100 * c['relative_difference']:+.2f} %" if ref else ""
        mb = f"{c['saved_bytes'] / 1e6:,.0f}" if c.get("saved_bytes") else "-"
        lines.append(f"  {name:<16}{c['params']:>16,}{mb:>10}{(f'{ref:,}' if ref else '-'):>28}{diff:>12}")
    lines.append(f"  {'total':<16}{r['total_params']:>16,}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--out", type=Path, help="the folder to write (required unless --count-only)")
    p.add_argument("--tiny", action="store_true", help="same layout, widths of a few channels (tests)")
    p.add_argument("--dtype", default="fp16", choices=sorted(DTYPES))
    p.add_argument("--device", default="auto", help="where to initialise the weights (auto: cuda if present)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count-only", action="store_true", help="print the parameter counts, write nothing")
    args = p.parse_args()
    if not args.count_only and args.out is None:
        p.error("--out is required")
    if args.count_only:
        print(format_report(count_only(args.arch)))
        return
    print(format_report(build_random_sd(args.arch, args.out, tiny=args.tiny, dtype=args.dtype,
                                       device=args.device, seed=args.seed)))


if __name__ == "__main__":
    main()
