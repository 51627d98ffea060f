"""Who is calling, and what they may do: the access mode of this server and the caller of one request.

One server runs in one mode, chosen at start (``launch.py``):

- ``open`` (default, bound to 127.0.0.1): one person on their own machine; owner ``local``, everything allowed.
- ``accounts`` (``--auth``): Gradio's sign-in form checks ``users.json`` (``launch.py adduser``); each user sees,
  cancels, tries and pushes only their own jobs and datasets.
- ``hf-oauth`` (a Space with ``hf_oauth: true``): "Sign in with Hugging Face"; anonymous visitors may browse
  models and try base models, but not upload, train or push.
- ``demo`` (``--demo``): everyone may browse, watch the jobs and try finished ones in the playground; nobody
  may upload, train, cancel or push, and nobody downloads weights unless the operator allows it
  (``--demo-downloads`` or ``ADAPTA_DEMO_DOWNLOADS=1``).

Every action in ``webui/`` asks :func:`caller_of` for the :class:`Caller` and passes ``caller.owner_filter``
to the queue, so a job of another user is "not found", exactly like a job that does not exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError

NO_OWNER = ""  # the owner filter of an anonymous caller: matches no row (user names are never empty)
DEMO_DOWNLOADS_ENV = "ADAPTA_DEMO_DOWNLOADS"


class AccessMode(str, Enum):
    """How this server decides who is calling."""

    OPEN = "open"
    ACCOUNTS = "accounts"
    HF_OAUTH = "hf-oauth"
    DEMO = "demo"


class NotAllowed(AdaptaError):
    """The caller may not do this (anonymous, or a demo server)."""


@dataclass(frozen=True)
class Caller:
    """The person behind one request: ``name`` owns what they create (None: anonymous)."""

    name: str | None
    can_write: bool
    sees_everyone: bool = False

    @property
    def owner_filter(self) -> str | None:
        """The owner to filter every query by; None means every owner (single-user and demo servers)."""
        if self.sees_everyone:
            return None
        return self.name or NO_OWNER

    @property
    def owner(self) -> str:
        """The owner written on new rows (only writers create rows)."""
        return self.name or NO_OWNER


LOCAL_CALLER = Caller(name="local", can_write=True, sees_everyone=True)
DEMO_VISITOR = Caller(name=None, can_write=False, sees_everyone=True)
ANONYMOUS = Caller(name=None, can_write=False)

_mode = AccessMode.OPEN
_demo_downloads = False


def set_access_mode(mode: AccessMode | str) -> AccessMode:
    """Choose this server's mode (once, before the app is built)."""
    global _mode
    _mode = AccessMode(mode)
    return _mode


def access_mode() -> AccessMode:
    return _mode


def allow_demo_downloads(allowed: bool = True) -> None:
    """Let demo visitors download finished jobs' adapters and models (the operator's ``--demo-downloads``); off by default."""
    global _demo_downloads
    _demo_downloads = bool(allowed)


def demo_downloads_allowed() -> bool:
    """True when the operator lets demo visitors download weights (``--demo-downloads`` or ``ADAPTA_DEMO_DOWNLOADS=1``)."""
    return _demo_downloads or os.environ.get(DEMO_DOWNLOADS_ENV, "").strip().lower() in ("1", "true", "yes")


def oauth_configured() -> bool:
    """True inside a Space whose README enables Hugging Face sign-in (the Hub sets these variables; Gradio checks SYSTEM)."""
    return bool(os.environ.get("SYSTEM") == "spaces" and os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))


def default_mode(*, auth: bool = False, demo: bool = False) -> AccessMode:
    """The mode for the command-line flags: demo, accounts, Hugging Face sign-in on a Space, else open."""
    if demo:
        return AccessMode.DEMO
    if auth:
        return AccessMode.ACCOUNTS
    return AccessMode.HF_OAUTH if oauth_configured() else AccessMode.OPEN


def _oauth_username(request: Any) -> str | None:
    # Gradio's own readers: the session lives in the Starlette scope only when a LoginButton installed its middleware.
    from gradio.helpers import _session_from_request
    from gradio.oauth import _get_valid_oauth_info_from_session

    session = _session_from_request(request)
    info = _get_valid_oauth_info_from_session(session) if session else None
    user = (info or {}).get("userinfo") or {}
    return user.get("preferred_username") or None


def caller_of(request: gr.Request | None) -> Caller:
    """The caller of one Gradio request under this server's mode."""
    if _mode is AccessMode.OPEN:
        return LOCAL_CALLER
    if _mode is AccessMode.DEMO:
        return DEMO_VISITOR
    name = getattr(request, "username", None) if request is not None else None
    if not name and _mode is AccessMode.HF_OAUTH and request is not None:
        name = _oauth_username(request)
    return Caller(name=str(name), can_write=True) if name else ANONYMOUS


def current_caller() -> Caller:
    """The caller of the Gradio event being handled (Gradio keeps its request in a context variable), for code that was not handed
    one; outside an event: :func:`caller_of` without a request (everyone on a single-user server, anonymous on a shared one)."""
    from gradio.context import LocalContext

    return caller_of(LocalContext.request.get(None))


def caller_hub_token(typed: str | None, oauth_token: gr.OAuthToken | None) -> str | None:
    """The caller's Hugging Face token: typed into a token field, else their "Sign in with Hugging Face" token, else none."""
    return (typed or "").strip() or (oauth_token.token if oauth_token is not None else None)


def require_weights_download(caller: Caller) -> Caller:
    """``caller`` if they may download a job's weights (adapter, model or merged model): everyone but a demo visitor, unless the
    operator allowed demo downloads; the owner check of the job itself stays with the caller's query."""
    if _mode is AccessMode.DEMO and not demo_downloads_allowed():
        raise NotAllowed("this demo server does not hand out model weights; try finished jobs in the Playground instead")
    return caller


def require_writer(caller: Caller, action: str) -> Caller:
    """``caller`` if they may ``action`` (upload data, train, cancel, push); otherwise a one-sentence refusal."""
    if caller.can_write:
        return caller
    if _mode is AccessMode.DEMO:
        raise NotAllowed(f"this is a demo server: you cannot {action} here; browse models and try finished jobs in the Playground")
    how = "with the Sign in with Hugging Face button" if _mode is AccessMode.HF_OAUTH else "with your Adapta account"
    raise NotAllowed(f"sign in {how} to {action}; anonymous visitors can browse models and try them only")
