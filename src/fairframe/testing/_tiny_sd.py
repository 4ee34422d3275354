"""``tiny://stable-diffusion``: a randomly initialised Stable Diffusion pipeline of about 1.7M
parameters (32x32 images, 4x16x16 latents), built from configs with a fixed seed."""

from __future__ import annotations

from pathlib import Path

from fairframe.testing._tiny_common import SEED, TINY_TOWER, require_tiny, save_tiny
from fairframe.testing._tiny_tokenizers import load_clip_bpe_tokenizer

__all__ = ["build_tiny_stable_diffusion"]

#: Token sequence length of the tiny text encoder.
MAX_LENGTH = 32


def build_tiny_stable_diffusion(path: Path) -> None:
    """Write a complete ``StableDiffusionPipeline`` folder (``save_pretrained`` layout) to ``path``.

    The pipeline has a DDIM scheduler (``steps_offset=1``), no safety checker and no feature
    extractor; it makes 32x32 images in a few milliseconds per step on a CPU.

    Parameters
    ----------
    path:
        Target folder; created if missing.
    """
    torch, diffusers, transformers = require_tiny("torch", "diffusers", "transformers")
    tokenizer = load_clip_bpe_tokenizer(transformers, MAX_LENGTH)

    # one seed for all three random models, built in this order
    torch.manual_seed(SEED)
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            vocab_size=len(tokenizer),
            **TINY_TOWER,
            max_position_embeddings=MAX_LENGTH,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
        attention_head_dim=(2, 4),
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = diffusers.StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    save_tiny(path, pipe, safe_serialization=True)
