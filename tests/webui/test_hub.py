"""jobs.hub against a loopback HTTP server standing in for the Hub API: real huggingface_hub code, fake server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs import hub

MODELS = [
    {"id": "acme/tiny-chat", "modelId": "acme/tiny-chat", "downloads": 120, "likes": 7, "pipeline_tag": "text-generation", "tags": ["transformers"]},
    {"id": "acme/odd-code", "modelId": "acme/odd-code", "downloads": 3, "likes": 0, "pipeline_tag": "text-generation", "tags": ["custom_code"]},
]
INFO = {
    "acme/tiny-chat": {"id": "acme/tiny-chat", "pipeline_tag": "text-generation", "tags": ["transformers"], "gated": False,
                       "cardData": {"license": "apache-2.0"}, "config": {"model_type": "llama", "architectures": ["LlamaForCausalLM"]},
                       "safetensors": {"parameters": {"F32": 135_000_000}, "total": 135_000_000},
                       "siblings": [{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}]},
    "acme/odd-code": {"id": "acme/odd-code", "pipeline_tag": "text-generation", "tags": ["custom_code"], "gated": "manual",
                      "config": {"model_type": "oddformer", "auto_map": {"AutoModel": "x.Y"}}, "siblings": [{"rfilename": "pytorch_model.bin"}]},
}


class FakeHub(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        FakeHub.requests.append(self.path)
        path = self.path.split("?")[0]
        if path == "/api/models":
            body, code = MODELS, 200
        elif path.startswith("/api/models/") and path[len("/api/models/"):] in INFO:
            body, code = INFO[path[len("/api/models/"):]], 200
        else:
            body, code = {"error": "Repository not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if code == 404:
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_unreachable_until", 0.0)
    FakeHub.requests.clear()
    yield endpoint
    server.shutdown()


def test_search_and_model_info_go_through_the_hub_api(fake_hub: str) -> None:
    found = hub.search_models("tiny", task="text-generation", sort="likes")
    assert not found.offline and [model["id"] for model in found.models] == ["acme/tiny-chat", "acme/odd-code"]
    query = FakeHub.requests[0]
    assert "search=tiny" in query and "pipeline_tag=text-generation" in query and "sort=likes" in query
    info = hub.model_info("acme/tiny-chat")
    assert info["verdict"]["ok"] and info["parameters"] == 135_000_000 and info["license"] == "apache-2.0"
    assert info["memory"]["lora"]["bytes"] < info["memory"]["full"]["bytes"]
    odd = hub.model_info("acme/odd-code")
    reasons = " ".join(odd["verdict"]["reasons"])
    assert not odd["verdict"]["ok"] and "trust_remote_code" in reasons and "pickle" in reasons and odd["gated"]


def test_unknown_repo_and_unreachable_hub_are_explained(fake_hub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(hub.ModelError, match="no model acme/missing on the Hub"):
        hub.model_info("acme/missing")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    found = hub.search_models("anything")
    assert found.offline and found.notice == hub.OFFLINE_NOTICE
