"""Wheels for running ``bench/gpu_suite.py`` on a lent GPU machine that has torch, transformers' dependencies and no internet.

That machine's image (Python 3.12, torch 2.11 + CUDA 13.0, see the device notes) lacks Adapta's own dependencies (pydantic,
SQLAlchemy/SQLModel), the GPU kernels (bitsandbytes, liger-kernel) and has an older transformers. This downloads, for CPython 3.12
on manylinux x86-64, the versions this venv (and ``requirements-gpu.txt``) pins into ``.whl/``, and slims bitsandbytes to the
one CUDA build the machine's torch uses (its wheel carries a library per CUDA and ROCm release: 43 MB, over a call's 64 MiB
with the rest), so everything travels in one call:

    python bench/device_wheels.py                 # .whl/ (add `/.whl/` to .git/info/exclude once), prints the total size
    # then, on the machine, in one call carrying .whl (see docs/gpu.md):
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl && \\
      PYTHONPATH=/tmp/site:. python3 bench/gpu_suite.py --workdir /tmp/suite --output-dir $OUT
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROM_THIS_VENV = ["transformers", "peft", "accelerate", "huggingface_hub", "httpx2", "httpcore2", "truststore", "pydantic",
                  "pydantic_core", "annotated-types", "typing-inspection", "sqlmodel", "SQLAlchemy", "bitsandbytes"]
"""Adapta's stack as this venv has it (what the device lacks or has in another version)."""
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]


def pinned_gpu_kernels() -> list[str]:
    """``name==version`` lines of requirements-gpu.txt."""
    lines = (ROOT / "requirements-gpu.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line.strip())]


def requirements() -> list[str]:
    found = []
    for name in FROM_THIS_VENV:
        try:
            found.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found + pinned_gpu_kernels()


def download(requirement: str, folder: Path, python: str) -> None:
    platforms = [argument for platform in PLATFORMS for argument in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", python,
                    "--implementation", "cp", *platforms, "-d", str(folder), requirement], check=True)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def slim_bitsandbytes(wheel: Path, cuda: str) -> Path:
    """The wheel without the native libraries of other CUDA and ROCm releases (its RECORD rewritten to match)."""
    keep = re.compile(rf"libbitsandbytes_(cuda{cuda}|cpu)\.so$")
    slim = wheel  # rewritten in place, same name: pip reads the tags from it
    entries: list[tuple[zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(wheel) as source:
        for info in source.infolist():
            if re.search(r"libbitsandbytes_\w+\.so$", info.filename) and not keep.search(info.filename):
                continue
            entries.append((info, source.read(info)))
    record_name = next(info.filename for info, _ in entries if info.filename.endswith(".dist-info/RECORD"))
    record = [_record_line(info.filename, data) for info, data in entries if info.filename != record_name] + [f"{record_name},,"]
    with zipfile.ZipFile(slim, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            target.writestr(info, "\n".join(record) + "\n" if info.filename == record_name else data)
    return slim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / ".whl")
    parser.add_argument("--python", default="3.12", help="the device's Python version")
    parser.add_argument("--cuda", default="130", help="the CUDA release of the device's torch (torch.version.cuda without the dot)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for requirement in requirements():
        download(requirement, args.output, args.python)
    for wheel in args.output.glob("bitsandbytes-*.whl"):
        slim_bitsandbytes(wheel, args.cuda)
    total = sum(path.stat().st_size for path in args.output.glob("*.whl"))
    print(f"{len(list(args.output.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
