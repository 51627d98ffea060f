"""A loopback HTTP server standing in for the Hugging Face Hub routes Adapta uses; it records what it receives.

Served: model search and model info, the OpenID configuration (sign-in), dataset info / file tree / file download (what ``datasets`` streams),
repo creation, YAML validation, pre-upload and commits (pushes), ``whoami-v2``, and the Jobs API (run, inspect,
logs as server-sent events, cancel). Writes and jobs need ``Authorization: Bearer <valid_token>``.

Real model repositories (``repos={"acme/tiny": ModelRepo(files={...})}``) are served well enough for the real
``huggingface_hub`` client (2.4): ``model_info`` (with ``files_metadata``), ``list_repo_tree``, ``hf_hub_download``,
``snapshot_download`` and ``get_hf_file_metadata``. Routes (revision ``main`` or the repo's ``sha``, URL-encoded):

    GET      /api/models/ID[/revision/REV][?blobs=true]   info: sha, siblings (size/blobId/lfs with blobs), config, safetensors...
    GET      /api/models/ID/tree/REV[/PATH][?recursive=true]   the file listing ``snapshot_download`` reads
    HEAD/GET /ID/resolve/REV/PATH   ETag, X-Repo-Commit, Content-Length, Accept-Ranges; X-Linked-Etag/-Size on LFS files;
                                    ``Range: bytes=a-``/``a-b`` -> 206 + Content-Range; no X-Xet-Hash (plain HTTP)

Errors carry ``X-Error-Code`` as the Hub does: ``RepoNotFound`` (unknown or private without the token; 401, or 404
with another token), ``GatedRepo`` (file of a gated repo without the token; 401, or 403 with another token),
``RevisionNotFound`` (404), ``EntryNotFound`` (404, with ``X-Repo-Commit``). ``use_fake_hub`` points the
in-process client at a hub (the client reads ``HF_ENDPOINT``/``HF_HUB_OFFLINE`` once, at import).

    with FakeHub(models=[...], model_infos={...}, datasets={"acme/planets": {"data/train.jsonl": b"..."}}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        hub.requests            # [(method, path, headers, body)]
        hub.commits             # [{"repo": ..., "type": ..., "files": {path: bytes}, "summary": ...}]
        hub.jobs["job-1"]       # the job as the Jobs API returns it; set ["status"]["stage"] to move it along
        hub.job_logs["job-1"]   # log lines the logs route streams
        hub.file_requests("acme/tiny")   # repo file paths that got a GET (body) request, in order
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REVISION = "a" * 40
USER = "ada"
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


def use_fake_hub(monkeypatch: Any, hub: FakeHub, cache_dir: str | Path) -> None:
    """Point the real ``huggingface_hub`` client, in this process and in children started from it, at ``hub``.

    The client reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE`` once, when it is imported
    (``huggingface_hub.constants``; the resolve URL template is built from the endpoint then, and the module-level
    ``huggingface_hub.model_info`` & co. are bound to an ``HfApi`` made at import), and the tests' conftest imports it
    offline. So this sets the environment (for subprocesses) AND patches those module attributes (for this process):
    ``constants.ENDPOINT``, ``HUGGINGFACE_CO_URL_TEMPLATE``, ``HF_HUB_OFFLINE``, ``HF_HUB_CACHE``, ``HF_TOKEN_PATH`` (a
    missing file, so no token saved on this machine is sent), the default ``HfApi``'s endpoint and the cache
    scanner's default folder; the AI-agent registry is settled (empty) so the process's first request is not
    ``GET /api/agent-harnesses`` (a child process still makes that one request: answered 404, which it shrugs off).
    ``HF_TOKEN`` is removed: pass ``token=`` explicitly, or set ``HF_TOKEN`` afterwards.
    ``datasets.config`` keeps its own import-time copies (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``): not patched here.
    """
    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import _cache_manager, _detect_agent

    cache_dir = str(cache_dir)
    for name, value in {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_CACHE": cache_dir,
                        "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN_PATH": os.path.join(cache_dir, ".no-token")}.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache_dir)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", os.path.join(cache_dir, ".no-token"))
    monkeypatch.setattr(hf_api.api, "endpoint", hub.url)
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", cache_dir)
    # The first request of a process asks the endpoint for its AI-agent registry (``GET /api/agent-harnesses``, for the
    # user agent) unless HF_HOME holds a copy less than a day old; settle it here so ``hub.requests`` holds only the test's.
    monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed downloader) is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class FakeHub:
    """One fake Hub per test; nothing global is changed (point ``HF_ENDPOINT`` at ``url``)."""

    def __init__(self, valid_token: str = "hf_test_token", models: list[dict[str, Any]] | None = None,
                 model_infos: dict[str, dict[str, Any]] | None = None, datasets: dict[str, dict[str, bytes]] | None = None,
                 repos: dict[str, ModelRepo] | None = None):
        self.valid_token = valid_token
        self.models = models or []
        self.model_infos = model_infos or {}
        self.datasets = datasets or {}
        self.repos = repos or {}  # served file by file; they take precedence over model_infos for the same id
        self._interrupted: set[tuple[str, str]] = set()
        self._sent: dict[tuple[str, str], int] = {}
        self._closing = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.commits: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.validated: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_requests: list[dict[str, Any]] = []
        self.job_logs: dict[str, list[str]] = {}
        self.cancelled: list[str] = []
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()  # throttled bodies stop writing
        self.server.shutdown()
        self.server.server_close()

    def bytes_sent(self, repo_id: str, path: str) -> int:
        """How many body bytes of that file the resolve route has written so far (all requests together)."""
        return self._sent.get((repo_id, path), 0)

    def file_requests(self, repo_id: str) -> list[str]:
        """Paths of ``repo_id``'s files that got a GET (body) request on the resolve route, in order (whatever the answer)."""
        paths = []
        for method, raw_path, _headers, _body in self.requests:
            parts = urlsplit(raw_path).path.strip("/").split("/")
            found = self._resolve_target(parts)
            if method == "GET" and found is not None and found[0] == repo_id:
                paths.append(found[2])
        return paths

    # ---- routes -----------------------------------------------------------------------------------------------

    def _dataset_get(self, parts: list[str]) -> tuple[int, Any, dict[str, str]] | None:
        """/api/datasets/OWNER/NAME[/revision/REV | /tree/REV[/PATH]] and /datasets/OWNER/NAME/resolve/REV/PATH."""
        if parts[:1] == ["api"] and parts[1:2] == ["datasets"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            files = self.datasets.get(repo)
            if files is None:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                return 200, {"id": repo, "sha": REVISION, "private": False, "disabled": False, "gated": False, "tags": [], "downloads": 1,
                             "lastModified": "2026-01-01T00:00:00.000Z", "siblings": [{"rfilename": name} for name in files], "cardData": {}}, {}
            if rest[0] == "tree":
                folder = "/".join(rest[2:])
                prefix = f"{folder}/" if folder else ""
                entries, folders = [], set()
                for name, content in files.items():
                    if not name.startswith(prefix):
                        continue
                    head, _, tail = name[len(prefix):].partition("/")
                    if tail:
                        folders.add(prefix + head)
                    else:
                        entries.append({"type": "file", "path": name, "size": len(content), "oid": hashlib.sha1(content).hexdigest()})
                entries += [{"type": "directory", "path": path, "oid": "d" * 40, "size": 0} for path in sorted(folders)]
                return 200, entries, {}
            return 404, {"error": "not served"}, {}
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            files = self.datasets.get("/".join(parts[1:3]), {})
            name = "/".join(parts[5:])
            if name in files:
                return 200, files[name], {"X-Repo-Commit": REVISION, "ETag": f'"{hashlib.sha1(files[name]).hexdigest()}"'}
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        return None

    def _resolve_target(self, parts: list[str]) -> tuple[str, str, str] | None:
        """(repo id, revision, file path) of a ``/ID/resolve/REV/PATH`` request path, for an id in ``repos``."""
        for size in (2, 1):
            if len(parts) > size + 2 and parts[size] == "resolve" and parts[0] not in ("api", "datasets", "spaces"):
                repo_id = "/".join(unquote(part) for part in parts[:size])
                if repo_id in self.repos:
                    return repo_id, unquote(parts[size + 1]), "/".join(unquote(part) for part in parts[size + 2:])
        return None

    def _api_repo(self, parts: list[str]) -> tuple[str, list[str]] | None:
        """(repo id, the rest) of an ``/api/models/ID/...`` request path, for an id in ``repos``."""
        if parts[:2] != ["api", "models"]:
            return None
        for size in (2, 1):
            repo_id = "/".join(unquote(part) for part in parts[2:2 + size])
            if len(parts) >= 2 + size and repo_id in self.repos:
                return repo_id, [unquote(part) for part in parts[2 + size:]]
        return None

    def denied(self, repo_id: str, auth: str, for_files: bool) -> tuple[int, Any, dict[str, str]] | None:
        """The Hub's answer when ``auth`` ("valid", "none" or "other" token) may not read the repo (or its files)."""
        repo = self.repos[repo_id]
        if repo.private and auth != "valid":
            message = "Repository not found"
            return (401 if auth == "none" else 404), {"error": message}, {"X-Error-Code": "RepoNotFound", "X-Error-Message": message}
        if for_files and repo.gated and auth != "valid":
            message = (f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. "
                       "Please log in." if auth == "none" else f"Access to model {repo_id} is restricted and you are not in the authorized list.")
            return (401 if auth == "none" else 403), {"error": message}, {"X-Error-Code": "GatedRepo", "X-Error-Message": message}
        return None

    def _revision_missing(self, repo_id: str, revision: str) -> tuple[int, Any, dict[str, str]] | None:
        if revision in ("main", self.repos[repo_id].sha):
            return None
        message = f"Invalid rev id: {revision}"
        return 404, {"error": message}, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": message}

    def _repo_get(self, parts: list[str], query: dict[str, list[str]], auth: str) -> tuple[int, Any, dict[str, str]] | None:
        """Model info and the tree listing of an id in ``repos`` (the resolve route streams, see the handler)."""
        found = self._api_repo(parts)
        if found is None:
            return None
        repo_id, rest = found
        repo = self.repos[repo_id]
        denied = self.denied(repo_id, auth, for_files=False)
        if denied is not None:
            return denied
        if not rest or rest[0] == "revision":
            missing = self._revision_missing(repo_id, rest[1] if len(rest) > 1 else "main")
            if missing is not None:
                return missing
            with_blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
            return 200, repo.info(repo_id, with_blobs), {}
        if rest[0] == "tree" and len(rest) >= 2:
            missing = self._revision_missing(repo_id, rest[1])
            if missing is not None:
                return missing
            folder = "/".join(rest[2:]).strip("/")
            prefix = f"{folder}/" if folder else ""
            if folder and not any(path.startswith(prefix) for path in repo.files):
                message = f"{folder} does not exist on {rest[1]}"
                return 404, {"error": message}, {"X-Error-Code": "EntryNotFound", "X-Error-Message": message}
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            entries, folders = [], set()
            for path in sorted(repo.files):
                if not path.startswith(prefix):
                    continue
                below = path[len(prefix):].split("/")
                for depth in range(1, len(below) if recursive else min(len(below), 2)):
                    folders.add(prefix + "/".join(below[:depth]))
                if recursive or len(below) == 1:
                    entries.append(repo.tree_entry(path))
            entries += [{"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path} for path in sorted(folders)]
            return 200, entries, {}
        return 404, {"error": f"not served by the fake hub: {'/'.join(parts)}"}, {}

    def _get(self, parts: list[str], authorized: bool, query: dict[str, list[str]] | None = None,
             auth: str = "none") -> tuple[int, Any, dict[str, str]]:
        if parts == ["api", "models"]:
            return 200, self.models, {}
        found = self._repo_get(parts, query or {}, auth)
        if found is not None:
            return found
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo = "/".join(parts[2:4])
            if repo in self.model_infos:
                return 200, self.model_infos[repo], {}
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if parts == [".well-known", "openid-configuration"]:  # what Gradio's "Sign in with Hugging Face" asks first
            return 200, {"issuer": self.url, "authorization_endpoint": f"{self.url}/oauth/authorize", "token_endpoint": f"{self.url}/oauth/token",
                         "userinfo_endpoint": f"{self.url}/oauth/userinfo", "jwks_uri": f"{self.url}/oauth/jwks"}, {}
        if parts == ["api", "whoami-v2"]:
            if not authorized:
                return 401, {"error": "Invalid credentials in Authorization header"}, {}
            return 200, {"type": "user", "name": USER, "fullname": "Ada", "avatarUrl": "", "auth": {"accessToken": {"role": "write"}}}, {}
        if parts[:2] == ["api", "jobs"] and len(parts) >= 4:
            if not authorized:
                return 401, {"error": "Invalid credentials in Authorization header"}, {}
            job = self.jobs.get(parts[3])
            if job is None:
                return 404, {"error": "Job not found"}, {}
            if parts[4:] == ["logs"]:
                events = "".join(f"data: {json.dumps({'timestamp': '2026-01-01T00:00:00Z', 'data': line})}\n\n"
                                 for line in ["===== Job started =====", *self.job_logs.get(parts[3], [])])
                return 200, events.encode(), {"Content-Type": "text/event-stream"}
            return 200, job, {}
        found = self._dataset_get(parts)
        if found is not None:
            return found
        return 404, {"error": f"not served by the fake hub: {'/'.join(parts)}"}, {}

    def _post(self, parts: list[str], body: bytes) -> tuple[int, Any]:
        if parts[:3] == ["api", "repos", "create"]:
            request = json.loads(body or b"{}")
            self.created.append(request)
            repo = f"{request.get('organization') or 'user'}/{request['name']}"
            return 200, {"url": f"{self.url}/{repo}", "name": repo, "id": repo}
        if parts[:2] == ["api", "validate-yaml"]:
            self.validated.append(json.loads(body)["content"])
            return 200, {"errors": [], "warnings": []}
        if len(parts) >= 6 and parts[1] in ("models", "spaces") and parts[4] == "preupload":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if len(parts) >= 6 and parts[1] in ("models", "spaces") and parts[4] == "commit":
            commit: dict[str, Any] = {"repo": "/".join(parts[2:4]), "type": parts[1], "files": {}}
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "header":
                    commit["summary"] = item["value"].get("summary")
                elif item["key"] == "file":
                    commit["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            self.commits.append(commit)
            return 200, {"commitUrl": f"{self.url}/{commit['repo']}/commit/abc123", "commitOid": "abc123", "success": True}
        if parts[:2] == ["api", "jobs"] and len(parts) == 3:
            request = json.loads(body)
            self.job_requests.append({"namespace": parts[2], **request})
            job_id = f"job-{len(self.jobs) + 1}"
            self.jobs[job_id] = {"id": job_id, "createdAt": "2026-01-01T00:00:00.000Z", "dockerImage": request.get("dockerImage"),
                                 "spaceId": request.get("spaceId"), "command": request.get("command"), "arguments": request.get("arguments"),
                                 "environment": request.get("environment"), "flavor": request.get("flavor"), "labels": request.get("labels"),
                                 "status": {"stage": "SCHEDULING", "message": None},
                                 "owner": {"id": "1", "name": parts[2], "type": "user"}}
            return 200, self.jobs[job_id]
        if parts[:2] == ["api", "jobs"] and len(parts) == 5 and parts[4] == "cancel" and parts[3] in self.jobs:
            self.cancelled.append(parts[3])
            self.jobs[parts[3]]["status"] = {"stage": "CANCELED", "message": "cancelled by the user"}
            return 200, {}
        return 404, {"error": f"not served by the fake hub: {'/'.join(parts)}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = dict(headers or {})
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json" if not isinstance(payload, bytes) else
                                                             "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {hub.valid_token}"

            def _auth(self) -> str:
                header = self.headers.get("Authorization")
                return "none" if not header else "valid" if header == f"Bearer {hub.valid_token}" else "other"

            def _parts(self) -> list[str]:
                return [part for part in self.path.split("?")[0].strip("/").split("/") if part]

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                hub.requests.append((self.command, self.path, dict(self.headers), b""))
                parts = self._parts()
                target = hub._resolve_target(parts)
                try:
                    if target is not None:
                        self._send_file(*target)
                    else:
                        self._reply(*hub._get(parts, self._authorized(), parse_qs(urlsplit(self.path).query), self._auth()))
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    self.close_connection = True  # the client went away mid-answer (a killed downloader)

            def _send_file(self, repo_id: str, revision: str, path: str) -> None:
                """HEAD/GET ``/ID/resolve/REV/PATH``: the file with the Hub's headers, byte ranges, throttling, interruption."""
                repo = hub.repos[repo_id]
                refused = hub.denied(repo_id, self._auth(), for_files=True) or hub._revision_missing(repo_id, revision)
                if refused is not None:
                    self._reply(*refused)
                    return
                if path not in repo.files:
                    message = f"{path} does not exist on {revision}"
                    self._reply(404, {"error": message}, {"X-Error-Code": "EntryNotFound", "X-Error-Message": message, "X-Repo-Commit": repo.sha})
                    return
                content = repo.files[path]
                total, start, end, status = len(content), 0, len(content) - 1, 200
                headers = {"ETag": f'"{repo.etag(path)}"', "X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
                if is_lfs(path):
                    headers.update({"X-Linked-Etag": f'"{repo.etag(path)}"', "X-Linked-Size": str(total)})
                wanted = self.headers.get("Range")
                if wanted:
                    first, _, last = wanted.strip().removeprefix("bytes=").partition("-")
                    try:
                        if first:  # bytes=a- or bytes=a-b
                            start, end = int(first), min(int(last), total - 1) if last else total - 1
                        else:  # bytes=-n: the last n bytes
                            start, end = max(total - int(last), 0), total - 1
                    except ValueError:
                        start, end = total, total - 1
                    if start >= total or start > end:
                        self._reply(416, b"", {"Content-Range": f"bytes */{total}", **headers})
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if path.endswith(".json") else "application/octet-stream")
                self.send_header("Content-Length", str(end - start + 1))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command == "HEAD":
                    return
                body = content[start:end + 1]
                if status == 200 and repo.interrupt_after_bytes is not None and (repo_id, path) not in hub._interrupted \
                        and repo.interrupt_after_bytes < len(body):
                    hub._interrupted.add((repo_id, path))
                    body = body[:repo.interrupt_after_bytes]  # sent, then the connection closes short of Content-Length
                    self.close_connection = True
                rate = repo.throttle_bytes_per_second
                chunk = max(1, int(rate / 20)) if rate else max(1, len(body))
                for offset in range(0, len(body), chunk):
                    if hub._closing.is_set():
                        self.close_connection = True
                        return
                    piece = body[offset:offset + chunk]
                    self.wfile.write(piece)
                    self.wfile.flush()
                    hub._sent[(repo_id, path)] = hub._sent.get((repo_id, path), 0) + len(piece)
                    if rate:
                        time.sleep(len(piece) / rate)

            do_HEAD = do_GET

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hub.requests.append(("POST", self.path, dict(self.headers), body))
                if not self._authorized():
                    self._reply(401, {"error": "Invalid credentials in Authorization header"})
                    return
                self._reply(*hub._post(self._parts(), body))

        return Handler
