"""A tiny randomly initialised Stable Diffusion pipeline saved with save_pretrained, so tests load
it through the same local path users use (sizes from the shared REFERENCE.md)."""

from __future__ import annotations

import json
from pathlib import Path


def byte_alphabet() -> list[str]:
    """CLIP's byte-to-unicode table: printable stand-ins for all 256 byte values."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_toy_tokenizer(folder: Path) -> None:
    """vocab.json (bytes, bytes + '</w>', specials) and merges.txt with a few merges: < 1000 ids."""
    chars = byte_alphabet()
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    merges = [("h", "e</w>"), ("t", "he</w>"), ("p", "h"), ("o", "t")]
    tokens += ["".join(m) for m in merges]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))


def build_tiny_pipeline(path: Path) -> Path:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, norm_num_groups=2, attention_head_dim=2)
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, norm_num_groups=2)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=1000, max_position_embeddings=77))
    tok_dir = path.parent / (path.name + "-tokenizer-src")
    write_toy_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


def build_tiny_clip(path: Path, image_size: int = 16) -> Path:
    """A tiny randomly initialised CLIP (text + vision towers, projections) with its tokenizer and
    image processor, saved the way a user's local CLIP folder is (`CLIPProcessor.from_pretrained`)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8, intermediate_size=16,
                         num_attention_heads=2, num_hidden_layers=1, vocab_size=1000, max_position_embeddings=77),
        vision_config=dict(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                           image_size=image_size, patch_size=4),
        projection_dim=8)
    CLIPModel(config).save_pretrained(path)
    tok_dir = path.parent / (path.name + "-tokenizer-src")
    write_toy_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    images = CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(path)
    return path
