"""A loopback HTTP server standing in for the Hugging Face Hub routes Adapta uses; it records what it receives.

Served: model search and model info, the OpenID configuration (sign-in), dataset info / file tree / file download (what ``datasets`` streams),
repo creation, YAML validation, pre-upload and commits (pushes), ``whoami-v2``, and the Jobs API (run, inspect,
logs as server-sent events, cancel). Writes and jobs need ``Authorization: Bearer <valid_token>``.

Real model repositories (``repos={"acme/tiny": ModelRepo(files={...})}``) are served well enough for the real
``huggingface_hub`` client (2.4): ``model_info`` (with ``files_metadata``), ``list_repo_tree``, ``hf_hub_download``,
``snapshot_download`` and ``get_hf_file_metadata``. Routes (revision ``main`` or the repo's ``sha``, URL-encoded):

    GET      /api/models/ID[/revision/REV][?blobs=true]   info: sha, siblings (size/blobId/lfs with blobs), config, safetensors...
    GET      /api/models/ID/tree/REV[/PATH][?recursive=true]   the file listing ``snapshot_download`` reads
    GET      /api/models/ID/auth-check   may this token read the repo: 200, or the denial of its files (``HfApi.auth_check``)
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

This module is the hub itself (its state, what it records, and its routes) and ``use_fake_hub``; the repositories it
serves file by file are in ``tests/fake_hub_repos.py`` (``ModelRepo``, ``git_blob_sha1``, re-exported here) and the
HTTP server and request handler (byte ranges, throttling, interrupted downloads) in ``tests/fake_hub_server.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fake_hub_repos import ModelRepo, git_blob_sha1
from tests.fake_hub_server import HubServer, make_handler

__all__ = ["FakeHub", "ModelRepo", "git_blob_sha1", "use_fake_hub"]

REVISION = "a" * 40
USER = "ada"


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
        self.server = HubServer(("127.0.0.1", 0), make_handler(self))
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
        denied = self.denied(repo_id, auth, for_files=rest[:1] == ["auth-check"])
        if denied is not None:
            return denied
        if rest == ["auth-check"]:  # read access as the Hub answers it: 200, or the denial a file download would get
            return 200, {}, {}
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
