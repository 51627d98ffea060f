"""Whose Hugging Face token a Hub request carries: the caller's, never the operator's on a shared server.

A Hub request made for someone (search, model info, a Hub dataset preview, a job's model download) carries that
person's token: typed into the UI, from "Sign in with Hugging Face" on a Space, or, on a single-user server, the
owner's own ``HF_TOKEN`` / ``hf auth login``. On a shared server (accounts, Space, demo) the operator's credentials
are withheld from the whole process (:func:`withhold_operator_credentials`: ``HF_TOKEN`` removed, implicit tokens
off), so no code path can send them on a visitor's behalf; ``launch.py --share-hub-token`` opts in explicitly. A standalone
worker (``launch.py worker``) keeps the operator's token for itself but withholds it from every job's process
(:func:`withhold_from_jobs`), unless it was started with ``--share-hub-token`` (:data:`SHARE_TOKEN_ENV`, which the per-GPU
workers it starts inherit).

Tokens stay in memory: a queued job's token is kept in this process (:func:`remember_job_token`) and reaches
only that job's child process, through its environment (:func:`child_hub_environment`). It is never written to the
database, the spec, a log or a file; after a restart the job runs without it (a public model still downloads).

    token_for_request(typed_token)            # -> the caller's token, or False (send none) / None (owner's default)
    env = child_hub_environment(os.environ, job_id)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

OPERATOR_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
SHARE_TOKEN_ENV = "ADAPTA_SHARE_HUB_TOKEN"
"""Set to 1 by ``launch.py worker --share-hub-token``: job processes may use the operator's token (inherited by sub-workers)."""

_job_tokens: dict[int, str] = {}
_lock = threading.Lock()
_withheld = False
_withheld_from_jobs = False


def withhold_operator_credentials() -> None:
    """Make this process (and the children it starts) unable to use the operator's Hub token: for shared servers."""
    global _withheld
    from huggingface_hub import constants

    for name in OPERATOR_TOKEN_VARIABLES:
        os.environ.pop(name, None)
    os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    constants.HF_HUB_DISABLE_IMPLICIT_TOKEN = True
    _withheld = True


def withhold_from_jobs() -> None:
    """Start every job process of this worker without the operator's Hub token (the worker keeps its own environment)."""
    global _withheld_from_jobs
    _withheld_from_jobs = True


def share_token_with_jobs() -> None:
    """The operator shares their Hub token with every job (``--share-hub-token``), in this worker and the workers it starts."""
    os.environ[SHARE_TOKEN_ENV] = "1"


def token_shared_with_jobs() -> bool:
    """True when this worker (or the one that started it) was told to share the operator's token with jobs."""
    return os.environ.get(SHARE_TOKEN_ENV) == "1"


def token_for_request(caller_token: str | None) -> str | bool | None:
    """The ``token=`` argument for a Hub call made for a caller: their token; else none on a shared server, the owner's default
    credentials on a single-user one."""
    token = (caller_token or "").strip()
    if token:
        return token
    return False if _withheld else None


def remember_job_token(job_id: int, token: str | None) -> None:
    """Keep the caller's token for their queued job, in this process's memory only."""
    token = (token or "").strip()
    if token:
        with _lock:
            _job_tokens[int(job_id)] = token


def forget_job_token(job_id: int) -> None:
    """Drop a job's token once the job has finished."""
    with _lock:
        _job_tokens.pop(int(job_id), None)


def job_token(job_id: int) -> str | None:
    """The token remembered for a job (None when none was given or this process restarted since)."""
    with _lock:
        return _job_tokens.get(int(job_id))


def child_hub_environment(base: Mapping[str, str], job_id: int) -> dict[str, str]:
    """The environment of a job's child process: the job's own token as ``HF_TOKEN`` when one was given; on a shared server
    otherwise no token at all (implicit tokens off), on a single-user server the owner's environment as it is."""
    env = dict(base)
    token = job_token(job_id)
    if token:
        env["HF_TOKEN"] = token
        env.pop("HUGGING_FACE_HUB_TOKEN", None)
        env.pop("HF_HUB_DISABLE_IMPLICIT_TOKEN", None)  # the implicit token is now the caller's own
    elif _withheld or _withheld_from_jobs:
        for name in OPERATOR_TOKEN_VARIABLES:
            env.pop(name, None)
        env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    return env
