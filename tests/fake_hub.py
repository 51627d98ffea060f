"""A loopback HTTP server standing in for the Hugging Face Hub routes that pushing uses; it records what it receives.

    with FakeHub() as hub:           # sets nothing globally; point HF_ENDPOINT at hub.url
        ...
        hub.requests                  # [(method, path, headers, body)]
        hub.commits                   # [{"repo": ..., "files": {path: bytes}, "summary": ...}]
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHub:
    """Repo creation, pre-upload (every file 'regular', so its bytes travel inside the commit) and commits."""

    def __init__(self, valid_token: str = "hf_test_token"):
        self.valid_token = valid_token
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.commits: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.validated: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path, dict(self.headers), b""))
                self._reply(404, {"error": f"not served by the fake hub: {self.path}"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hub.requests.append(("POST", self.path, dict(self.headers), body))
                if self.headers.get("Authorization") != f"Bearer {hub.valid_token}":
                    self._reply(401, {"error": "Invalid credentials in Authorization header"})
                    return
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    request = json.loads(body or b"{}")
                    hub.created.append(request)
                    repo = f"{request.get('organization') or 'user'}/{request['name']}"
                    self._reply(200, {"url": f"{hub.url}/{repo}", "name": repo, "id": repo})
                elif parts[:2] == ["api", "validate-yaml"]:
                    hub.validated.append(json.loads(body)["content"])
                    self._reply(200, {"errors": [], "warnings": []})
                elif parts[1] in ("models", "spaces") and len(parts) >= 6 and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                elif parts[1] in ("models", "spaces") and len(parts) >= 6 and parts[4] == "commit":
                    commit: dict[str, Any] = {"repo": "/".join(parts[2:4]), "type": parts[1], "files": {}}
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            commit["summary"] = item["value"].get("summary")
                        elif item["key"] == "file":
                            commit["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    hub.commits.append(commit)
                    self._reply(200, {"commitUrl": f"{hub.url}/{commit['repo']}/commit/abc123", "commitOid": "abc123", "success": True})
                else:
                    self._reply(404, {"error": f"not served by the fake hub: {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
