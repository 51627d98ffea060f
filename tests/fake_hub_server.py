"""The HTTP side of the fake Hub of ``tests/fake_hub.py``: its threading server and request handler.

:func:`make_handler` builds the ``BaseHTTPRequestHandler`` class for one :class:`~tests.fake_hub.FakeHub`: it records
every request in ``hub.requests``, answers GET/HEAD/POST from the hub's routes (``hub._get``, ``hub._post``) and
streams ``/ID/resolve/REV/PATH`` files itself, with the Hub's headers, byte ranges (206/416), throttling and a
first download cut short (``ModelRepo.throttle_bytes_per_second``, ``interrupt_after_bytes``). :class:`HubServer`
is the server, quiet about clients that went away.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_hub_repos import is_lfs

if TYPE_CHECKING:
    from tests.fake_hub import FakeHub


class HubServer(ThreadingHTTPServer):
    """The fake Hub's loopback server: a daemon thread per request."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed downloader) is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


def make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``hub`` (its routes, state and recorded requests)."""

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
