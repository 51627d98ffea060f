"""The repositories the fake Hub of ``tests/fake_hub.py`` serves file by file: :class:`ModelRepo` and the Hub's file metadata.

What the real Hub reports about a model repository's files, computed from their bytes: the git blob id
(:func:`git_blob_sha1`, the ETag of a non-LFS file), the Git LFS pointer and sha256 of LFS files (by suffix, as the
Hub's default ``.gitattributes`` has it), the parameter counts read from safetensors headers, and the JSON of
``model_info`` and the tree listing (:meth:`ModelRepo.info`, :meth:`ModelRepo.tree_entry`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

LAST_MODIFIED = "2026-01-01T00:00:00.000Z"
# What the Hub's default .gitattributes stores in Git LFS: these files get a sha256 ETag and ``lfs`` metadata.
LFS_SUFFIXES = (".safetensors", ".bin", ".msgpack", ".h5", ".onnx", ".pt", ".pth", ".ckpt", ".gguf", ".model", ".pkl", ".tflite",
                ".ot", ".npy", ".npz", ".zip", ".tar", ".gz", ".parquet", ".arrow", ".wasm")
CONFIG_KEYS = ("architectures", "model_type", "auto_map", "quantization_config")


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a file (what the Hub reports as ``blobId`` and uses as the ETag of a non-LFS file)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(content: bytes) -> bytes:
    """The Git LFS pointer file the repo's git tree holds for an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(content).hexdigest()}\nsize {len(content)}\n".encode()


def is_lfs(path: str) -> bool:
    return path.lower().endswith(LFS_SUFFIXES)


def safetensors_parameters(content: bytes) -> dict[str, int]:
    """Parameter count per dtype (``{"F32": n}``) read from a safetensors header; empty if it is not one."""
    if len(content) < 8:
        return {}
    (length,) = struct.unpack("<Q", content[:8])
    try:
        header = json.loads(content[8:8 + length])
    except ValueError:
        return {}
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__" or not isinstance(tensor, dict):
            continue
        count = 1
        for dim in tensor.get("shape", []):
            count *= int(dim)
        counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + count
    return counts


@dataclass
class ModelRepo:
    """A model repository the fake Hub serves file by file (``FakeHub(repos={"acme/tiny": ModelRepo(files=...)})``).

    files: path -> bytes. gated: downloads need the valid token (model info and the tree stay public, as on the Hub).
    private: info, tree and files need the valid token. config: what model_info reports as ``config`` (default: from
    files["config.json"], keeping architectures/model_type/auto_map/quantization_config; a diffusers folder reports
    ``{"diffusers": {"_class_name": ...}}``). tags (default: derived: library, "safetensors", model_type, "custom_code"
    when there is an ``auto_map``), pipeline_tag, library_name (default: "diffusers"/"transformers" from the layout).
    claimed_sizes: path -> size model_info and the tree report instead of the real size (a huge repo without huge
    bytes); the resolve route still serves the real bytes. claimed_parameters: dtype -> count reported as
    ``safetensors`` instead of the count read from the root safetensors headers. sha: the commit (default: a 40-hex
    digest of the content). throttle_bytes_per_second: file bodies are written in chunks at that rate (a test can kill
    a downloader mid-file). interrupt_after_bytes: the first full GET of each file is cut after that many bytes (the
    connection closes early; the client then resumes with a ``Range`` request).
    """

    files: dict[str, bytes]
    gated: bool = False
    private: bool = False
    config: dict[str, Any] | None = None
    tags: list[str] | None = None
    pipeline_tag: str | None = None
    library_name: str | None = None
    card_data: dict[str, Any] | None = None
    claimed_sizes: dict[str, int] = field(default_factory=dict)
    claimed_parameters: dict[str, int] | None = None
    sha: str = ""
    throttle_bytes_per_second: float | None = None
    interrupt_after_bytes: int | None = None
    downloads: int = 100
    likes: int = 1

    def __post_init__(self) -> None:
        if not self.sha:
            digest = hashlib.sha1()
            for path in sorted(self.files):
                digest.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
            self.sha = digest.hexdigest()
        if self.config is None:
            self.config = self._default_config()
        if self.library_name is None:
            self.library_name = "diffusers" if "model_index.json" in self.files else "transformers" if "config.json" in self.files else None
        if self.tags is None:
            tags = [self.library_name] if self.library_name else []
            if any(path.endswith(".safetensors") for path in self.files):
                tags.append("safetensors")
            if self.config.get("model_type"):
                tags.append(self.config["model_type"])
            if self.pipeline_tag:
                tags.append(self.pipeline_tag)
            if self.config.get("auto_map"):
                tags.append("custom_code")
            self.tags = tags

    def _default_config(self) -> dict[str, Any]:
        for name, keep in (("config.json", CONFIG_KEYS), ("model_index.json", ("_class_name",))):
            if name in self.files:
                try:
                    parsed = json.loads(self.files[name])
                except ValueError:
                    return {}
                kept = {key: parsed[key] for key in keep if key in parsed}
                return kept if name == "config.json" else {"diffusers": kept}
        return {}

    def etag(self, path: str) -> str:
        """The unquoted ETag the resolve route answers: sha256 for LFS files, the git blob sha1 otherwise."""
        content = self.files[path]
        return hashlib.sha256(content).hexdigest() if is_lfs(path) else git_blob_sha1(content)

    def size(self, path: str) -> int:
        return self.claimed_sizes.get(path, len(self.files[path]))

    def file_entry(self, path: str, with_blobs: bool) -> dict[str, Any]:
        """A sibling as model_info reports it (``rfilename``; with blobs also ``size``, ``blobId``, ``lfs``)."""
        entry: dict[str, Any] = {"rfilename": path}
        if with_blobs:
            content = self.files[path]
            entry["size"] = self.size(path)
            if is_lfs(path):
                pointer = lfs_pointer(content)
                entry["blobId"] = git_blob_sha1(pointer)
                entry["lfs"] = {"sha256": hashlib.sha256(content).hexdigest(), "size": self.size(path), "pointerSize": len(pointer)}
            else:
                entry["blobId"] = git_blob_sha1(content)
        return entry

    def tree_entry(self, path: str) -> dict[str, Any]:
        """A file as the tree route lists it (``oid`` is the git blob id, ``lfs.oid`` the sha256)."""
        sibling = self.file_entry(path, with_blobs=True)
        entry: dict[str, Any] = {"type": "file", "oid": sibling["blobId"], "size": sibling["size"], "path": path}
        if "lfs" in sibling:
            entry["lfs"] = {"oid": sibling["lfs"]["sha256"], "size": sibling["lfs"]["size"], "pointerSize": sibling["lfs"]["pointerSize"]}
        return entry

    def safetensors_info(self) -> dict[str, Any] | None:
        """``{"parameters": {dtype: n}, "total": n}`` from the root-level safetensors files of a transformers-style repo."""
        counts = self.claimed_parameters
        if counts is None:
            if "config.json" not in self.files:
                return None
            counts = {}
            for path, content in self.files.items():
                if "/" not in path and path.endswith(".safetensors"):
                    for dtype, count in safetensors_parameters(content).items():
                        counts[dtype] = counts.get(dtype, 0) + count
        return {"parameters": counts, "total": sum(counts.values())} if counts else None

    def info(self, repo_id: str, with_blobs: bool) -> dict[str, Any]:
        """The JSON ``GET /api/models/ID[/revision/REV]`` answers."""
        author = repo_id.split("/")[0] if "/" in repo_id else None
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id, "author": author, "sha": self.sha,
            "private": self.private, "gated": "manual" if self.gated else False, "disabled": False, "downloads": self.downloads,
            "likes": self.likes, "tags": list(self.tags or []), "pipeline_tag": self.pipeline_tag, "library_name": self.library_name,
            "lastModified": LAST_MODIFIED, "createdAt": LAST_MODIFIED, "config": self.config, "cardData": self.card_data or {},
            "siblings": [self.file_entry(path, with_blobs) for path in sorted(self.files)], "spaces": [],
            "usedStorage": sum(self.size(path) for path in self.files),
        }
        safetensors = self.safetensors_info()
        if safetensors is not None:
            info["safetensors"] = safetensors
        return info
