"""What this machine offers a training job: GPUs, their memory and compute capability, bf16, the GPU kernels installed, the
attention implementation that follows, and which methods all that enables (``launch.py doctor``, the Models tab header).

Light by design: it never imports torch. GPUs come from ``nvidia-smi`` (honouring ``CUDA_VISIBLE_DEVICES``), kernels from
package metadata (``importlib``), so the web server can call it. The training process, which has torch loaded anyway, asks
torch instead (:func:`hardware_from_torch`), which sees exactly the devices it will train on.

    hardware = detect_hardware()
    print(doctor_report(hardware))     # several lines; doctor_line(hardware) is the one-line form
    choose_attention(hardware, "bf16")  # ("flash_attention_2" | "sdpa", the reason)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from jobs.models.memory import format_bytes

KERNEL_PACKAGES: dict[str, str] = {"bitsandbytes": "bitsandbytes", "liger_kernel": "liger-kernel", "flash_attn": "flash-attn"}
"""Import name -> distribution name of the optional kernels (bitsandbytes from ``requirements.txt``, the others from
``requirements-gpu.txt``)."""
QLORA_CPU_BITSANDBYTES = (0, 50)
"""The first bitsandbytes release checked to train QLoRA on the CPU (0.50.2: its CPU backend stores NF4 weights and computes in fp32)."""
QLORA_CPU_NOTE = ("QLoRA on the CPU: it trains, but measured here it needs as much memory as LoRA (its estimate is LoRA's) and is "
                  "no faster; prefer LoRA on a CPU")
"""What the pre-flight and ``launch.py doctor`` say of QLoRA without a GPU. Measured by ``bench/qlora_cpu.py`` (docs/gpu.md, "QLoRA on
the CPU"): peak memory 1.07-1.16× LoRA's from 28 M to 494 M parameters (bitsandbytes itself takes ~126 MB and quantising at load
leaves the heap larger than the 4-bit weights), time per step 0.3-1.1× LoRA's under load (7.6× on a 0.1 M-parameter toy)."""
MACHINE_LINE_EN: dict[str, str] = {
    "no_gpu": "No CUDA GPU: training runs on the CPU in fp32 (LoRA, DoRA, prompt tuning, full; {qlora}).",
    "qlora_on_cpu": QLORA_CPU_NOTE,
    "qlora_blocked": "QLoRA {blocker}",
    "needs_bitsandbytes": "needs the bitsandbytes package (pip install -r requirements.txt)",
    "needs_newer_bitsandbytes": "needs a CUDA GPU, or bitsandbytes 0.50 or newer to train on the CPU (this machine has {version}; "
                                "pip install -r requirements.txt)",
    "gpus": "{count}× {names} ({memory} each)",
    "cpu_torch": "{gpus}, but torch is the CPU build: reinstall with `make run GPU=1`.",
    "gpu_ready": "{gpus}, {dtype}, {attention} attention, {kernels}; {qlora}.",
    "no_kernels": "no GPU kernels",
    "qlora_ready": "QLoRA ready",
    "qlora_needs_bitsandbytes": "QLoRA needs bitsandbytes",
}
"""The words of :func:`doctor_line` (and of :func:`qlora_blocker`) in English; the web UI's Models tab has the same keys in each
language (``machine.<key>``), so its machine line follows the page's language."""
BF16_CAPABILITY = (8, 0)
"""Ampere and newer compute bf16 natively (and run FlashAttention-2)."""
NVIDIA_SMI_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GpuInfo:
    """One visible CUDA device."""

    name: str
    memory_bytes: int
    capability: tuple[int, int]

    @property
    def bf16(self) -> bool:
        """True when the device computes bf16 natively (compute capability 8.0 or newer)."""
        return self.capability >= BF16_CAPABILITY


@dataclass(frozen=True)
class Hardware:
    """The GPUs a job here would see, the installed GPU kernels (import name -> version) and torch's build."""

    gpus: tuple[GpuInfo, ...] = ()
    kernels: dict[str, str] = field(default_factory=dict)
    torch_version: str | None = None

    @property
    def cuda(self) -> bool:
        """A CUDA GPU is visible and torch is a CUDA build (a ``+cpu`` wheel cannot use the GPU)."""
        return bool(self.gpus) and not self.cpu_only_torch

    @property
    def cpu_only_torch(self) -> bool:
        return bool(self.torch_version) and "+cpu" in str(self.torch_version)

    @property
    def bf16(self) -> bool:
        return self.cuda and all(gpu.bf16 for gpu in self.gpus)

    def has(self, kernel: str) -> bool:
        """True when the kernel package (import name, e.g. ``bitsandbytes``) is installed."""
        return kernel in self.kernels


def installed_kernels() -> dict[str, str]:
    """The optional GPU kernel packages found (import name -> version), without importing them."""
    found = {}
    for module, distribution in KERNEL_PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            continue
        try:
            found[module] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            found[module] = "unknown version"
    return found


def torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """GPUs from ``nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader,nounits`` (MiB, "8.0")."""
    gpus = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 3 or not parts[1].replace(".", "").isdigit():
            continue
        major, _, minor = parts[2].partition(".")
        capability = (int(major), int(minor or 0)) if major.isdigit() and (minor or "0").isdigit() else (0, 0)
        gpus.append(GpuInfo(name=parts[0], memory_bytes=int(float(parts[1])) * 1024 * 1024, capability=capability))
    return gpus


def _visible(gpus: list[GpuInfo], visible: str | None) -> list[GpuInfo]:
    """The devices ``CUDA_VISIBLE_DEVICES`` leaves (numeric ids; an empty value or -1 hides them all)."""
    if visible is None:
        return gpus
    chosen = []
    for item in visible.split(","):
        item = item.strip()
        if item == "-1":
            break
        if item.isdigit() and int(item) < len(gpus):
            chosen.append(gpus[int(item)])
    return chosen


def probe_gpus() -> list[GpuInfo]:
    """The NVIDIA GPUs this process may use, from ``nvidia-smi`` (none when it is missing or fails)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        result = subprocess.run([smi, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return _visible(parse_nvidia_smi(result.stdout), os.environ.get("CUDA_VISIBLE_DEVICES")) if result.returncode == 0 else []


def detect_hardware() -> Hardware:
    """This machine, from light probes (no torch import)."""
    return Hardware(gpus=tuple(probe_gpus()), kernels=installed_kernels(), torch_version=torch_version())


def hardware_from_torch() -> Hardware:
    """This process's devices as torch sees them (for the training process, which has torch loaded anyway)."""
    import torch

    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            gpus.append(GpuInfo(properties.name, int(properties.total_memory), (properties.major, properties.minor)))
    return Hardware(gpus=tuple(gpus), kernels=installed_kernels(), torch_version=torch.__version__)


def choose_attention(hardware: Hardware, dtype: str) -> tuple[str, str]:
    """The attention implementation for a model trained in ``dtype`` ("fp32", "bf16", "fp16") here, and why.

    FlashAttention-2 where the package is installed, the GPU is Ampere or newer and the weights are 16-bit (it computes
    nothing else), which also makes packing padding-free; else PyTorch's SDPA (transformers falls back to eager by itself
    for the few models without SDPA support)."""
    if not hardware.cuda:
        return "sdpa", "no CUDA GPU: PyTorch SDPA"
    if not hardware.has("flash_attn"):
        return "sdpa", "flash-attn is not installed: PyTorch SDPA (its own flash kernel where it applies)"
    if not all(gpu.capability >= BF16_CAPABILITY for gpu in hardware.gpus):
        return "sdpa", "FlashAttention-2 needs compute capability 8.0 or newer: PyTorch SDPA"
    if dtype not in ("bf16", "fp16"):
        return "sdpa", "FlashAttention-2 computes only in bf16/fp16 and this job trains in fp32: PyTorch SDPA"
    return "flash_attention_2", "flash-attn installed on an Ampere-or-newer GPU, 16-bit weights: FlashAttention-2 (padding-free packing)"


def default_dtype(hardware: Hardware) -> str:
    """What precision ``auto`` trains in here: bf16 where supported, fp16 (with a loss scaler) on older GPUs, fp32 on CPU."""
    if not hardware.cuda:
        return "fp32"
    return "bf16" if hardware.bf16 else "fp16"


def _release(version: str) -> tuple[int, ...]:
    """``"0.50.2"`` -> ``(0, 50, 2)``; the numeric prefix of each part, so an unparsable version compares as old."""
    parts = []
    for part in version.split("."):
        digits = "".join(char for char in part if char.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def qlora_blocker(hardware: Hardware, strings: dict[str, str] = MACHINE_LINE_EN) -> str | None:
    """None when QLoRA trains here (on a CUDA GPU, or on the CPU with a bitsandbytes that has its CPU backend), else what it needs
    (worded by ``strings``, :data:`MACHINE_LINE_EN` or the same keys in another language)."""
    version = hardware.kernels.get("bitsandbytes")
    if version is None:
        return strings["needs_bitsandbytes"]
    if hardware.cuda or _release(version) >= QLORA_CPU_BITSANDBYTES:
        return None
    return strings["needs_newer_bitsandbytes"].format(version=version)


def method_availability(hardware: Hardware) -> dict[str, str | None]:
    """Each method or option -> None when this machine can run it, else the one sentence saying what it needs."""
    gpu = None if hardware.cuda else "needs a CUDA GPU"
    return {
        "lora, dora, prompt tuning, full": None,
        "qlora": qlora_blocker(hardware),
        "bf16": gpu or (None if hardware.bf16 else "needs compute capability 8.0 or newer (fp16 with a loss scaler is used instead)"),
        "fp16": gpu,
        "liger kernels": gpu or (None if hardware.has("liger_kernel") else "needs the liger-kernel package (pip install -r requirements-gpu.txt)"),
        "flash attention 2 (padding-free packing)": gpu or (None if choose_attention(hardware, "bf16")[0] == "flash_attention_2"
                                                             else choose_attention(hardware, "bf16")[1].split(":")[0]),
        "fsdp (sharded, 2+ GPUs)": None if hardware.cuda and len(hardware.gpus) >= 2 else "needs 2 or more CUDA GPUs",
    }


def install_advice(hardware: Hardware) -> list[str]:
    """What to install so this machine's GPUs are used fully (empty when nothing is missing)."""
    if not hardware.gpus:
        return []
    if hardware.cpu_only_torch:
        return [f"torch {hardware.torch_version} is the CPU build on a machine with a GPU: reinstall with `make run GPU=1` "
                "(the CUDA build of torch and requirements-gpu.txt)"]
    advice = [] if hardware.has("bitsandbytes") else ["missing bitsandbytes (QLoRA): `pip install -r requirements.txt`"]
    if not hardware.has("liger_kernel"):
        advice.append(f"missing {KERNEL_PACKAGES['liger_kernel']}: `pip install -r requirements-gpu.txt` (or `make run GPU=1`)")
    if not hardware.has("flash_attn") and hardware.bf16:
        advice.append("optional: flash-attn (FlashAttention-2, padding-free packing) where a wheel exists for this torch and CUDA: "
                      "see the last line of requirements-gpu.txt")
    return advice


def doctor_line(hardware: Hardware, strings: dict[str, str] = MACHINE_LINE_EN) -> str:
    """One line: the GPUs (or none), bf16, the kernels found and whether QLoRA runs here, worded by ``strings``
    (:data:`MACHINE_LINE_EN` for ``launch.py doctor``; the Models tab passes the page's language)."""
    if not hardware.gpus:
        blocker = qlora_blocker(hardware, strings)
        return strings["no_gpu"].format(qlora=strings["qlora_on_cpu"] if blocker is None else strings["qlora_blocked"].format(blocker=blocker))
    names = {gpu.name for gpu in hardware.gpus}
    gpus = strings["gpus"].format(count=len(hardware.gpus), names="/".join(sorted(names)),
                                  memory=format_bytes(min(gpu.memory_bytes for gpu in hardware.gpus)))
    if hardware.cpu_only_torch:
        return strings["cpu_torch"].format(gpus=gpus)
    kernels = ", ".join(sorted(hardware.kernels)) or strings["no_kernels"]
    qlora = strings["qlora_ready"] if qlora_blocker(hardware) is None else strings["qlora_needs_bitsandbytes"]
    dtype = default_dtype(hardware)
    return strings["gpu_ready"].format(gpus=gpus, dtype=dtype, attention=choose_attention(hardware, dtype)[0], kernels=kernels, qlora=qlora)


def doctor_report(hardware: Hardware) -> str:
    """Several lines: each GPU, torch, kernels, the attention and precision chosen, what each method needs, what to install."""
    lines = [f"torch: {hardware.torch_version or 'not installed'}"]
    if hardware.gpus:
        for index, gpu in enumerate(hardware.gpus):
            lines.append(f"GPU {index}: {gpu.name}, {format_bytes(gpu.memory_bytes)}, compute capability {gpu.capability[0]}.{gpu.capability[1]}, "
                         f"bf16 {'yes' if gpu.bf16 else 'no'}")
    else:
        lines.append("GPU: none visible (CUDA_VISIBLE_DEVICES and nvidia-smi): training runs on the CPU")
    lines.append("kernels: " + (", ".join(f"{name} {version}" for name, version in sorted(hardware.kernels.items())) or "none")
                 + f" (looked for {', '.join(KERNEL_PACKAGES.values())})")
    dtype = default_dtype(hardware)
    attention, why = choose_attention(hardware, dtype)
    lines.append(f"precision auto: {dtype}; attention: {attention} ({why})")
    for method, needs in method_availability(hardware).items():
        lines.append(f"  {'yes' if needs is None else 'no '}  {method}{'' if needs is None else ': ' + needs}")
        if method == "qlora" and needs is None and not hardware.cuda:
            lines[-1] += f" ({QLORA_CPU_NOTE})"
    lines.extend(f"to do: {advice}" for advice in install_advice(hardware))
    return "\n".join(lines)


def doctor_json(hardware: Hardware) -> dict[str, Any]:
    """The report as data (``launch.py doctor --json``)."""
    dtype = default_dtype(hardware)
    return {
        "torch": hardware.torch_version,
        "gpus": [{"name": gpu.name, "memory_bytes": gpu.memory_bytes, "capability": list(gpu.capability), "bf16": gpu.bf16}
                 for gpu in hardware.gpus],
        "kernels": dict(hardware.kernels),
        "precision_auto": dtype,
        "attention": choose_attention(hardware, dtype)[0],
        "methods": method_availability(hardware),
        "to_do": install_advice(hardware),
    }
