"""Tiny Stable Diffusion 1.x, SDXL, FLUX.1 and SD 3 pipelines built from configs (random weights, ~5 MB) for fast tests.

The shapes follow diffusers' own pipeline tests; the CLIP tokenizer is a BPE trained here on a few words and the T5
tokenizer a Unigram over the same words, so nothing is downloaded. Both pipelines are saved as diffusers folders with safetensors weights.

    from tests.jobs.images.tiny_pipelines import build_tiny_sd
    folder = build_tiny_sd(Path("/tmp/tiny-sd"))
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

WORDS = (
    "a photo of sks dog cat red blue green square circle on the beach in a field painting drawing "
    "small large bright dark toy shape picture image style with and"
)


def build_clip_tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer (``</w>`` word ends) trained on :data:`WORDS`, saved into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>", show_progress=False
    )
    bpe.train_from_iterator([WORDS] * 20, trainer=trainer)
    bpe.model.save(str(folder))
    return CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"), model_max_length=16)


def _text_encoder(tokenizer: CLIPTokenizer, with_projection: bool = False) -> torch.nn.Module:
    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=16, projection_dim=32, hidden_act="gelu",
    )
    return CLIPTextModelWithProjection(config) if with_projection else CLIPTextModel(config)


def _vae_and_scheduler() -> tuple[torch.nn.Module, object]:
    from diffusers import AutoencoderKL, DDIMScheduler

    vae = AutoencoderKL(
        block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    return vae, scheduler


def build_tiny_sd(folder: Path, seed: int = 0) -> Path:
    """A Stable-Diffusion-1.x-shaped pipeline saved into ``folder``; returns the folder."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(folder.parent / f"{folder.name}-tokenizer-src")
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4, norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4,
    )
    vae, scheduler = _vae_and_scheduler()
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=_text_encoder(tokenizer), tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """An SDXL-shaped pipeline (two text encoders, time ids) saved into ``folder``; returns the folder."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(folder.parent / f"{folder.name}-tokenizer-src")
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4, norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
    )
    vae, scheduler = _vae_and_scheduler()
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=_text_encoder(tokenizer), text_encoder_2=_text_encoder(tokenizer, with_projection=True),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_t5_tokenizer(max_length: int = 16) -> object:
    """A T5 tokenizer (Unigram, through the ``tokenizers`` backend) over the words of :data:`WORDS`; nothing downloaded."""
    from transformers import T5Tokenizer

    words = sorted(set(WORDS.split()))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"▁{word}", -1.0 - number / 100) for number, word in enumerate(words)]
    vocab += [(letter, -10.0) for letter in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _t5_encoder(vocab_size: int) -> torch.nn.Module:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5EncoderModel(config)


def _flow_vae(latent_channels: int) -> torch.nn.Module:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=latent_channels,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )


def build_tiny_flux(folder: Path, seed: int = 0, guidance_embeds: bool = True, num_single_layers: int = 1) -> Path:
    """A FLUX.1-shaped pipeline (dev with the guidance embedding, schnell without; CLIP + T5) saved into ``folder``.

    Shapes from diffusers' tests/pipelines/flux/test_pipeline_flux.py. ``num_single_layers=0`` leaves out the single-stream
    block, whose width diffusers' kohya reader hard-codes to FLUX.1's (so a tiny one cannot be read back from kohya keys).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(folder.parent / f"{folder.name}-tokenizer-src")
    tokenizer_2 = build_t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=num_single_layers, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8], guidance_embeds=guidance_embeds,
    )
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=_flow_vae(latent_channels=1), text_encoder=_text_encoder(tokenizer),
        tokenizer=tokenizer, text_encoder_2=_t5_encoder(len(tokenizer_2)), tokenizer_2=tokenizer_2, transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_sd3(folder: Path, seed: int = 0) -> Path:
    """A Stable-Diffusion-3-shaped pipeline (two CLIP encoders with projection + T5, an MMDiT transformer) saved into ``folder``.

    Shapes from diffusers' tests/pipelines/stable_diffusion_3/test_pipeline_stable_diffusion_3.py.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(seed)
    tokenizer = build_clip_tokenizer(folder.parent / f"{folder.name}-tokenizer-src")
    tokenizer_3 = build_t5_tokenizer()
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64, out_channels=4,
    )
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=_flow_vae(latent_channels=4), transformer=transformer,
        text_encoder=_text_encoder(tokenizer, with_projection=True), tokenizer=tokenizer,
        text_encoder_2=_text_encoder(tokenizer, with_projection=True), tokenizer_2=tokenizer,
        text_encoder_3=_t5_encoder(len(tokenizer_3)), tokenizer_3=tokenizer_3,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
