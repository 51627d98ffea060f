"""The front door of a shared server: sign-in throttling, the caller's address, and the security headers of every response.

Sign-in (``launch.py --auth``): Gradio's ``POST /login`` awaits the ``auth`` callable when it is a coroutine function, so
:func:`throttled_sign_in` returns one that

- refuses at once, without running scrypt, while the name or the client address is paused: after ``FREE_FAILURES`` (5)
  failed checks in a row each further failure pauses sign-in for ``FIRST_DELAY_S`` (1 s), doubling up to ``MAX_DELAY_S``
  (5 min); the refusal is Gradio's usual 400 with the wait in ``detail`` and in a ``Retry-After`` header;
- runs the password check in a thread of its own (``PARALLEL_CHECKS``, 1, at nice ``CHECK_NICENESS``, 10), so bad logins
  never block the event loop that serves everyone else, and lets at most ``FREE_FAILURES`` checks of one name or address
  wait or run at the same time;
- resets a name's count when its password is right (an address's count only fades: ``FORGET_AFTER_S`` after its last
  failure); at most ``MAX_TRACKED`` names and addresses are remembered, the least recently failed forgotten first;
- lets a *known device* through whatever the name and address counts say: a browser that signed in as that name before
  carries a signed cookie (:mod:`webui.known_devices`, set here on every successful sign-in), and is throttled by its own
  device id alone (the same free failures and delays). So an attacker rotating client addresses pauses the name for new
  browsers and pays the growing delays, while the user keeps signing in from a browser they used before. A failure from a
  known device counts for the device and the name; its right password clears only the device's count (never the name's,
  which would hand the attacker fresh free tries).

Gradio does not pass the request to ``auth``: :class:`FrontDoor`, a plain ASGI middleware given to FastAPI through
``launch(app_kwargs={"middleware": ...})``, records the client address (``scope["client"]``, which uvicorn takes from
``X-Forwarded-For`` only when the peer is in ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default) and the device cookie in a
context variable that the login handler's task inherits, sets the device cookie on a successful ``POST /login``, and adds
:func:`security_headers` to every HTTP response.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from webui import known_devices

FREE_FAILURES = 5
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
FORGET_AFTER_S = 3600.0
MAX_TRACKED = 10_000
PARALLEL_CHECKS = 1  # scrypt (n=2**14, r=8) is memory-bound: parallel checks do not finish sooner on a small machine
CHECK_NICENESS = 10
MAX_NAME_KEY = 64  # longer names cannot be accounts; they are counted under their first 64 characters



@dataclass
class _Visit:
    """One HTTP request as the sign-in check sees it: the client address key, the device cookie it carried, and (set by the
    check) the name and device a right password just signed in, for the response's cookie."""

    address: str = "unknown"
    device_cookie: str | None = None
    signed_in: tuple[str, str | None] | None = None


_visit: contextvars.ContextVar[_Visit | None] = contextvars.ContextVar("adapta_sign_in_visit", default=None)


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    pending: int = 0


def delay_after(failures: int, free: int = FREE_FAILURES, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> float:
    """Seconds sign-in stays paused after ``failures`` failures in a row (0 for the first ``free``)."""
    if failures < free:
        return 0.0
    return min(first * 2 ** min(failures - free, 62), cap)


def address_key(host: str | None) -> str:
    """The throttling key of a client address: the address itself, or its /64 network for IPv6 (one subscriber's block)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_NAME_KEY]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def wait_words(seconds: float) -> str:
    """``seconds`` rounded up, in words: '1 second', '8 seconds', '5 minutes'."""
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    return f"{math.ceil(whole / 60)} minutes"


class LoginThrottle:
    """Failure counts per user name and per client address, in memory, bounded, thread-safe."""

    def __init__(self, free_failures: int = FREE_FAILURES, first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 forget_after_s: float = FORGET_AFTER_S, max_tracked: int = MAX_TRACKED, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures, self.first_delay_s, self.max_delay_s = free_failures, first_delay_s, max_delay_s
        self.forget_after_s, self.max_tracked, self.clock = forget_after_s, max_tracked, clock
        self._records: OrderedDict[str, _Record] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    @staticmethod
    def keys(name: str, address: str) -> tuple[str, str]:
        return "user:" + (name or "").strip().lower()[:MAX_NAME_KEY], "addr:" + (address or "unknown")

    def _checked_keys(self, name: str, address: str, device: str | None) -> tuple[str, ...]:
        """What may pause this sign-in: a known device only its own count; anyone else the name's and the address's."""
        return ("device:" + device,) if device else self.keys(name, address)

    def __len__(self) -> int:
        return len(self._records)

    def _wait(self, record: _Record | None, now: float) -> float:
        if record is None:
            return 0.0
        wait = delay_after(record.failures, self.free_failures, self.first_delay_s, self.max_delay_s) - (now - record.last_failure)
        if wait > 0:
            return wait
        if record.pending and record.failures + record.pending >= self.free_failures:
            return self.first_delay_s  # enough checks of this name/address are already running
        return 0.0

    def _longest_wait(self, keys: tuple[str, ...], now: float) -> float:
        return max(self._wait(self._records.get(key), now) for key in keys)

    def wait_for(self, name: str, address: str, device: str | None = None) -> float:
        """Seconds before ``name`` may try again from ``address`` (or from the known ``device``) (0: now)."""
        now = self.clock()
        with self._lock:
            return self._longest_wait(self._checked_keys(name, address, device), now)

    def begin(self, name: str, address: str, device: str | None = None) -> float:
        """0 and a check reserved for ``name`` from ``address`` (``device``: the id of a known device it signs in from; end the
        check with :meth:`finish`), or the seconds to wait first."""
        now = self.clock()
        with self._lock:
            keys = self._checked_keys(name, address, device)
            wait = self._longest_wait(keys, now)
            if wait > 0:
                return wait
            for key in keys:
                self._records.setdefault(key, _Record()).pending += 1
            return 0.0

    def finish(self, name: str, address: str, ok: bool, device: str | None = None) -> None:
        """End a check begun with :meth:`begin`: a right password clears the name's count (a known device's: the device's
        alone); a wrong one counts for the name and the address (a known device's: the device and the name)."""
        now = self.clock()
        with self._lock:
            user_key, address_key_ = self.keys(name, address)
            checked = self._checked_keys(name, address, device)
            counted = (checked[0], user_key) if device else (user_key, address_key_)
            cleared = checked[0] if device else user_key
            for key in dict.fromkeys((*checked, *counted)):
                record = self._records.get(key)
                if record is None:
                    record = self._records[key] = _Record()
                if key in checked:
                    record.pending = max(0, record.pending - 1)
                if now - record.last_failure > self.forget_after_s:
                    record.failures = 0  # the last failure is too old to count
                if ok and key == cleared:
                    record.failures = 0
                elif not ok and key in counted:
                    record.failures += 1
                    record.last_failure = now
                    self._records.move_to_end(key)
                if not record.pending and not record.failures:
                    del self._records[key]
            if len(self._records) > self.max_tracked:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget stale counts, then the least recently failed, down to 90% of the bound (so a flood sweeps once per many keys)."""
        idle = [key for key, record in self._records.items() if not record.pending]
        for key in idle:
            if now - self._records[key].last_failure > self.forget_after_s:
                del self._records[key]
        excess = len(self._records) - int(self.max_tracked * 0.9)
        for key in [key for key in idle if key in self._records][:max(0, excess)]:
            del self._records[key]


THROTTLE = LoginThrottle()


def refusal(wait_s: float) -> Exception:
    """The answer to a paused sign-in: Gradio's usual 400 (its form then says the credentials are wrong), the wait in words."""
    from starlette.exceptions import HTTPException

    return HTTPException(status_code=400, headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
                         detail=f"Too many failed sign-ins for this name or from this address; try again in {wait_words(wait_s)}.")


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lower_priority() -> None:
    """Run this password-check thread at a lower CPU priority, so that serving others wins on a busy machine (Linux only:
    there ``setpriority`` on a thread id changes that thread alone)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)
        except OSError:
            pass


def check_pool() -> ThreadPoolExecutor:
    """The threads that run password checks: ``PARALLEL_CHECKS`` of them, of their own (Gradio's worker threads keep their priority)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=PARALLEL_CHECKS, thread_name_prefix="adapta-password-check", initializer=_lower_priority)
        return _pool


def throttled_sign_in(verify: Callable[[str, str], bool], throttle: LoginThrottle | None = None) -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's ``auth`` coroutine: ``verify(name, password)`` off the event loop, behind ``throttle`` (default: the server's)."""
    throttle = throttle or THROTTLE

    async def sign_in(name: str, password: str) -> bool:
        visit = _visit.get() or _Visit()
        device = known_devices.known(name, visit.device_cookie) if visit.device_cookie else None
        wait = throttle.begin(name, visit.address, device)
        if wait > 0:
            raise refusal(wait)
        ok = False
        try:
            ok = bool(await asyncio.get_running_loop().run_in_executor(check_pool(), verify, name, password))
        finally:
            throttle.finish(name, visit.address, ok, device)
        if ok:
            visit.signed_in = (name, device)  # FrontDoor sets (or renews) the device cookie on the response
        return ok

    return sign_in


def frame_ancestors() -> str:
    """Who may show the app in a frame: nobody, or on a Hugging Face Space the Hub's pages (it shows Spaces in an iframe)."""
    return "https://huggingface.co https://*.hf.space" if os.environ.get("SPACE_ID") else "'none'"


def content_security_policy() -> str:
    """The CSP Gradio 6's frontend works with, measured in Chromium: its bootstrap is inline scripts and styles, its icons are
    ``data:`` images, and its plots (Vega) compile expressions with ``new Function`` (so ``'unsafe-eval'``); its events travel
    over same-origin fetch and server-sent events (``connect-src 'self'``). Nothing is loaded from another origin."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        f"frame-ancestors {frame_ancestors()}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


def security_headers() -> list[tuple[bytes, bytes]]:
    """The headers every response carries; ``X-Frame-Options: DENY`` except on a Space (frame-ancestors says who may frame it)."""
    headers = [(b"content-security-policy", content_security_policy().encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"strict-origin-when-cross-origin")]
    if not os.environ.get("SPACE_ID"):
        headers.append((b"x-frame-options", b"DENY"))
    return headers


class FrontDoor:
    """ASGI middleware: remembers the client address and device cookie for the sign-in check, sets the device cookie after a
    right password, and adds the security headers to HTTP responses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = security_headers()
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        cookies = b"; ".join(value for name, value in scope.get("headers", []) if name.lower() == b"cookie").decode("latin-1")
        visit = _Visit(address_key((scope.get("client") or (None,))[0]), known_devices.cookie_value(cookies))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in self.names]
                extra = []
                if visit.signed_in is not None and message.get("status") == 200:
                    name, device = visit.signed_in
                    extra.append(known_devices.set_cookie_header(known_devices.issue(name, device), scope.get("scheme") == "https"))
                message = {**message, "headers": kept + self.headers + extra}
            await send(message)

        token = _visit.set(visit)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _visit.reset(token)
