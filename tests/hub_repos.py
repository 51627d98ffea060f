"""Model repositories for the fake Hub, as ``{path: bytes}`` dicts built with the real libraries.

Each builder saves a tiny real model into ``folder`` (a temporary folder of the caller's), reads the files back and
adds the files a Hub repo of that kind carries beside the ones a downloader needs (decoys it must not fetch). The
dicts are built once per process and cached by builder name; every call returns a fresh dict (mutating it is safe).

    from tests.fake_hub import FakeHub, ModelRepo
    from tests.hub_repos import tiny_causal_lm_repo
    with FakeHub(repos={"acme/tiny": ModelRepo(files=tiny_causal_lm_repo(tmp_path)), "acme/gated": ModelRepo(files=..., gated=True)}):
        ...

Decoys: ``pytorch_model.bin``, ``onnx/model.onnx``, ``flax_model.msgpack``, ``tf_model.h5``, ``README.md`` (causal LM);
``*.bin``, ``*.msgpack``, ``safety_checker/``, ``feature_extractor/``, a root ``v1-5-pruned-emaonly.safetensors``
single-file checkpoint and ``README.md`` (diffusers). Decoy bytes are small and say what they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

_CACHE: dict[str, dict[str, bytes]] = {}

CAUSAL_LM_DECOYS = ("pytorch_model.bin", "onnx/model.onnx", "flax_model.msgpack", "tf_model.h5", "README.md")
DIFFUSERS_WEIGHTS = ("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model")
DIFFUSERS_DECOYS = ("unet/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.bin", "text_encoder/pytorch_model.bin",
                    "unet/diffusion_flax_model.msgpack", "safety_checker/config.json", "safety_checker/model.safetensors",
                    "feature_extractor/preprocessor_config.json", "v1-5-pruned-emaonly.safetensors", "README.md")


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{relative posix path: bytes}``."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _decoy(name: str) -> bytes:
    return f"decoy {name}: a downloader must not fetch this\n".encode()


def _card(tags: list[str]) -> bytes:
    return ("---\nlicense: apache-2.0\ntags:\n" + "".join(f"- {tag}\n" for tag in tags) + "---\n\n# A tiny test model\n").encode()


def _cached(name: str, folder: Path, build: Callable[[Path], dict[str, bytes]]) -> dict[str, bytes]:
    if name not in _CACHE:
        target = Path(folder) / name
        target.mkdir(parents=True, exist_ok=True)
        _CACHE[name] = build(target)
    return dict(_CACHE[name])


def tiny_causal_lm_repo(folder: Path) -> dict[str, bytes]:
    """A 2-layer Llama (``tests.tiny.build_tiny_llama``): config, generation config, tokenizer, model.safetensors, decoys."""

    def build(target: Path) -> dict[str, bytes]:
        from tests.tiny import build_tiny_llama

        files = read_folder(build_tiny_llama(target))
        if "generation_config.json" not in files:
            config = json.loads(files["config.json"])
            files["generation_config.json"] = json.dumps({key: config[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id")
                                                          if key in config}).encode()
        for name in CAUSAL_LM_DECOYS:
            files[name] = _card(["text-generation"]) if name == "README.md" else _decoy(name)
        return files

    return _cached("tiny_causal_lm", folder, build)


def tiny_classifier_repo(folder: Path) -> dict[str, bytes]:
    """A 2-layer BERT encoder (``tests.tiny.build_tiny_bert``) a text-classification job can fine-tune (the head is new)."""

    def build(target: Path) -> dict[str, bytes]:
        from tests.tiny import build_tiny_bert

        files = read_folder(build_tiny_bert(target))
        files["README.md"] = _card(["text-classification"])
        return files

    return _cached("tiny_classifier", folder, build)


def tiny_diffusers_repo(folder: Path) -> dict[str, bytes]:
    """A tiny Stable Diffusion 1.x pipeline (diffusers layout), each weight also as a real float16 ``.fp16`` variant, plus decoys."""

    def build(target: Path) -> dict[str, bytes]:
        import torch
        from safetensors.torch import load_file, save_file

        from tests.jobs.images.tiny_pipelines import build_tiny_sd

        pipeline = build_tiny_sd(target / "pipeline")
        for stem in DIFFUSERS_WEIGHTS:
            tensors = load_file(pipeline / f"{stem}.safetensors")
            half = {name: tensor.to(torch.float16) if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}
            save_file(half, pipeline / f"{stem}.fp16.safetensors", metadata={"format": "pt"})
        files = read_folder(pipeline)
        for name in DIFFUSERS_DECOYS:
            if name == "README.md":
                files[name] = _card(["text-to-image", "stable-diffusion"])
            elif name == "v1-5-pruned-emaonly.safetensors":
                files[name] = files["unet/diffusion_pytorch_model.safetensors"]  # a real safetensors file: a single-file checkpoint
            else:
                files[name] = _decoy(name)
        return files

    return _cached("tiny_diffusers", folder, build)


def pickle_only_repo(folder: Path) -> dict[str, bytes]:
    """A tiny Llama's ``config.json`` and its weights as a pickle (``pytorch_model.bin``, written by ``torch.save``), nothing else."""

    def build(target: Path) -> dict[str, bytes]:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, max_position_embeddings=64)
        model = LlamaForCausalLM(config)
        config.architectures = ["LlamaForCausalLM"]
        config.save_pretrained(target)
        torch.save(model.state_dict(), target / "pytorch_model.bin")
        return read_folder(target)

    return _cached("pickle_only", folder, build)


REMOTE_CODE = '''"""Custom model code a repo ships (loading it needs trust_remote_code=True)."""

from transformers import LlamaConfig, LlamaForCausalLM


class CustomConfig(LlamaConfig):
    model_type = "custom-llama"


class CustomForCausalLM(LlamaForCausalLM):
    config_class = CustomConfig
'''


def remote_code_repo(folder: Path) -> dict[str, bytes]:
    """A tiny Llama whose config names its own classes (``auto_map`` -> ``modeling_custom.py``); model.safetensors, tokenizer."""

    def build(target: Path) -> dict[str, bytes]:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        from tests.tiny import build_tokenizer

        tokenizer = build_tokenizer(target)
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
        LlamaForCausalLM(config).save_pretrained(target)
        saved = json.loads((target / "config.json").read_text())
        saved.update(model_type="custom-llama", architectures=["CustomForCausalLM"],
                     auto_map={"AutoConfig": "modeling_custom.CustomConfig", "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"})
        (target / "config.json").write_text(json.dumps(saved, indent=2))
        (target / "modeling_custom.py").write_text(REMOTE_CODE)
        return read_folder(target)

    return _cached("remote_code", folder, build)
