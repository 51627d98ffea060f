"""Create or update a Hugging Face Space that runs this repository (``launch.py deploy-space OWNER/NAME``).

The README's front matter already says how the Space runs (``sdk: gradio``, ``app_file: launch.py``,
``hf_oauth``); this uploads the project's tracked source files in one commit, never the virtual
environment, the data home, test artifacts or caches. The token is used for the call only.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from jobs.errors import AdaptaError
from jobs.export.hub_client import hub_api, hub_unreachable, valid_repo_id

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXCLUDED_PREFIXES = (".venv/", "data/", "tests/webui/artifacts/", "bench/results/", ".ci/")


def project_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The files git tracks (so nothing ignored, like a venv or the data home, can leak), minus CI-only ones."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        raise AdaptaError(f"{root} is not a git checkout; deploy from a clone of the repository") from None
    return sorted(name for name in listed if name and not name.startswith(EXCLUDED_PREFIXES) and (root / name).is_file())


def deploy_space(space_id: str, *, token: str | None, private: bool = False, root: Path = PROJECT_ROOT) -> str:
    """Create the Space if needed and upload the project in one commit; returns the Space URL."""
    import httpx
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    if not valid_repo_id(space_id):
        raise AdaptaError(f"Space id {space_id!r} is not valid; use OWNER/NAME")
    if not token:
        raise AdaptaError("creating a Space needs a Hugging Face token with write access: set HF_TOKEN or paste one")
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(root / name)) for name in project_files(root)]
    api = hub_api(token)
    try:
        url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.create_commit(space_id, operations, repo_type="space", commit_message="Deploy Adapta")
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        raise AdaptaError(f"the Hub refused the Space {space_id} (HTTP {status}); check the token's write access") from None
    except (OSError, httpx.TransportError) as error:
        raise hub_unreachable(error) from None
    return str(url)
