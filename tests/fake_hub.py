"""A loopback HTTP server standing in for the Hugging Face Hub routes Adapta uses; it records what it receives.

Served: model search and model info, the OpenID configuration (sign-in), dataset info / file tree / file download (what ``datasets`` streams),
repo creation, YAML validation, pre-upload and commits (pushes), ``whoami-v2``, and the Jobs API (run, inspect,
logs as server-sent events, cancel). Writes and jobs need ``Authorization: Bearer <valid_token>``.

    with FakeHub(models=[...], model_infos={...}, datasets={"acme/planets": {"data/train.jsonl": b"..."}}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        hub.requests            # [(method, path, headers, body)]
        hub.commits             # [{"repo": ..., "type": ..., "files": {path: bytes}, "summary": ...}]
        hub.jobs["job-1"]       # the job as the Jobs API returns it; set ["status"]["stage"] to move it along
        hub.job_logs["job-1"]   # log lines the logs route streams
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REVISION = "a" * 40
USER = "ada"


class FakeHub:
    """One fake Hub per test; nothing global is changed (point ``HF_ENDPOINT`` at ``url``)."""

    def __init__(self, valid_token: str = "hf_test_token", models: list[dict[str, Any]] | None = None,
                 model_infos: dict[str, dict[str, Any]] | None = None, datasets: dict[str, dict[str, bytes]] | None = None):
        self.valid_token = valid_token
        self.models = models or []
        self.model_infos = model_infos or {}
        self.datasets = datasets or {}
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.commits: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.validated: list[str] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_requests: list[dict[str, Any]] = []
        self.job_logs: dict[str, list[str]] = {}
        self.cancelled: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

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

    def _get(self, parts: list[str], authorized: bool) -> tuple[int, Any, dict[str, str]]:
        if parts == ["api", "models"]:
            return 200, self.models, {}
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

            def _parts(self) -> list[str]:
                return [part for part in self.path.split("?")[0].strip("/").split("/") if part]

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                hub.requests.append((self.command, self.path, dict(self.headers), b""))
                self._reply(*hub._get(self._parts(), self._authorized()))

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
