"""The Hub as a destination: a client for the caller's token, the sentence for an unreachable Hub, and repository ids.

Shared by everything that sends to the Hub (:mod:`jobs.export.hub_push`, :mod:`jobs.export.space_deploy`,
:mod:`jobs.queue.hf_jobs`) and by the model card (which names a base model only when it is a Hub id).

    api = hub_api(token)                  # HF_ENDPOINT or the Hub; refused in offline mode
    valid_repo_id("me/my-adapter")        # True
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from jobs.errors import AdaptaError

if TYPE_CHECKING:
    from huggingface_hub import HfApi

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def hub_api(token: str) -> HfApi:
    """An ``HfApi`` for ``HF_ENDPOINT`` (or the Hub) with this token, in memory only; refused in offline mode."""
    from huggingface_hub import HfApi, constants

    if constants.is_offline_mode():
        raise AdaptaError("offline mode is on (HF_HUB_OFFLINE=1), so nothing can be sent to the Hub; unset it on a connected machine and try again")
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)


def hub_unreachable(error: Exception) -> AdaptaError:
    """The sentence for a connection that never reached the Hub."""
    return AdaptaError(f"the Hub is unreachable ({type(error).__name__}); check the connection or HF_ENDPOINT and try again")


def valid_repo_id(repo_id: str | None) -> bool:
    """OWNER/NAME made of letters, digits, dot, dash and underscore."""
    return bool(_REPO_ID.match(repo_id or ""))
