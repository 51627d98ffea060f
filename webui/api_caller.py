"""What every action of ``webui/`` shows its caller: errors as one sentence, paths as the caller may see them.

A user's mistake (an :class:`jobs.errors.AdaptaError`) reaches the browser or an API client as a ``gr.Error`` carrying its one
sentence; anything unexpected becomes one sentence with an error id, logged once, and the server keeps serving. On a shared
server (accounts, Space, demo) a caller sees paths under the data home relative to it (``uploads/…``, ``runs/7``) and no other
path of the server (a folder of the software, a temporary file: only its last name, ``…/name``); relative paths they send are
read back into the data home.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from jobs.errors import AdaptaError
from jobs.queue.local_files import with_paths
from jobs.spec import JobSpec
from jobs.spec.limits import shown
from storage.paths import data_home
from webui.access import AccessMode, access_mode

LOG = logging.getLogger("adapta")
F = TypeVar("F", bound=Callable[..., Any])


HIDDEN_PREFIX = "…/"
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~<-])/(?:[\w.@+~-]+/)*[\w.@+~-]+/?")
"""An absolute path inside free text (not a URL's path, not a Hub id ``org/name``, not a ratio ``3/4``)."""


def public_path(path: str) -> str:
    """One absolute path as a caller of a shared server sees it: relative when under the data home (``.`` for the home itself),
    else only its last name (``…/name``)."""
    root = data_home().root.absolute()
    candidate = Path(path)
    for base in (root, root.resolve()):
        if candidate == base:
            return "."
        if candidate.is_relative_to(base) and ".." not in candidate.parts:
            return candidate.relative_to(base).as_posix()
    return HIDDEN_PREFIX + (candidate.name or "")


def public_paths(value: Any) -> Any:
    """On a shared server (accounts, Space, demo) every path of the server in every string of ``value`` is shown by
    :func:`public_path` (callers see ``uploads/…`` and ``runs/7`` instead of the server's folders, and no other folder of the
    server at all); a single-user server shows paths as they are."""
    if access_mode() is AccessMode.OPEN:
        return value
    if isinstance(value, str):
        root = str(data_home().root.absolute())
        text = value.replace(root + os.sep, "").replace(root, ".")  # the home's own path, whatever characters it holds
        return _ABSOLUTE_PATH.sub(lambda match: public_path(match.group(0)), text)
    if isinstance(value, dict):
        return {key: public_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_paths(item) for item in value]
    if isinstance(value, tuple):
        return tuple(public_paths(item) for item in value)
    return value


def home_paths(spec: JobSpec) -> JobSpec:
    """On a shared server, local paths relative to the data home (as :func:`public_paths` shows them) point back into it: every
    path field of the spec (:data:`jobs.queue.local_files.PATH_FIELDS`) and a base model under ``models/``."""
    if access_mode() is AccessMode.OPEN:
        return spec
    spec = with_paths(spec, lambda _field, value: home_path(value))
    model = home_path(spec.base_model)
    return spec if model == spec.base_model else spec.model_copy(update={"base_model": model})


def home_path(value: str) -> str:
    """On a shared server, a path relative to the data home (as :func:`public_paths` shows it) made absolute again when it exists
    there; any other value as it is."""
    root = data_home().root.absolute()
    if access_mode() is not AccessMode.OPEN and value and not Path(value).is_absolute() and (root / value).exists():
        return str(root / value)
    return value


def report_unexpected(error: BaseException, where: str) -> str:
    """Log an unexpected exception once, as one line with an error id and its last frames (a RecursionError's thousands of
    repeated frames are not copied), and return the sentence the caller sees."""
    error_id = uuid.uuid4().hex[:8]
    frames = traceback.extract_tb(error.__traceback__)[-5:]
    trail = " <- ".join(f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in reversed(frames))
    LOG.error("error %s in %s: %s: %s [%s]", error_id, where, type(error).__name__, shown(str(error), 300), trail)
    return f"something went wrong on the server (error id {error_id}); nothing was changed, try again or report the id to its operator"


def user_errors(fn: F) -> F:
    """Turn an AdaptaError (and a bad argument) into a ``gr.Error`` with its sentence, and any other exception into one sentence
    with an error id (logged once); the server keeps serving."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdaptaError as error:
            raise gr.Error(public_paths(str(error)), print_exception=False) from None
        except (TypeError, ValueError) as error:
            raise gr.Error(f"invalid input: {public_paths(shown(str(error), 300))}", print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the last line of defence of a request: one sentence, one log line
            raise gr.Error(report_unexpected(error, getattr(fn, "__name__", "request")), print_exception=False) from None

    return wrapper  # type: ignore[return-value]
