"""What every action of ``webui/`` shows its caller: errors as one sentence, paths as the caller may see them.

A user's mistake (an :class:`jobs.errors.AdaptaError`) reaches the browser or an API client as a ``gr.Error`` carrying its one
sentence; anything unexpected becomes one sentence with an error id, logged once, and the server keeps serving. On a shared
server (accounts, Space, demo) the data home's absolute path is cut from what a caller sees, and read back from what they send.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from jobs.errors import AdaptaError
from jobs.spec import JobSpec
from jobs.spec.limits import shown
from storage.paths import data_home
from webui.access import AccessMode, access_mode

LOG = logging.getLogger("adapta")
F = TypeVar("F", bound=Callable[..., Any])


def public_paths(value: Any) -> Any:
    """On a shared server (accounts, Space, demo) the data home's absolute path is cut from every string of ``value``, so callers
    see ``uploads/…`` and ``runs/7`` instead of the server's folders; a single-user server shows paths as they are."""
    if access_mode() is AccessMode.OPEN:
        return value
    root = str(data_home().root.absolute())
    if isinstance(value, str):
        return value.replace(root + os.sep, "").replace(root, ".")
    if isinstance(value, dict):
        return {key: public_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_paths(item) for item in value]
    return value


def home_paths(spec: JobSpec) -> JobSpec:
    """On a shared server, data paths relative to the data home (as :func:`public_paths` shows them) point back into it."""
    if access_mode() is AccessMode.OPEN or spec.data.from_hub:
        return spec
    root = data_home().root.absolute()

    def inside(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute() and (root / value).exists():
            return str(root / value)
        return value

    data = spec.data.model_copy(update={"train": inside(spec.data.train), "validation": inside(spec.data.validation)})
    return spec.model_copy(update={"data": data})


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
