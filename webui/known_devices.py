"""Known devices: a signed cookie set at a successful sign-in, so the right password from that browser is never locked out.

An attacker who sends wrong passwords for Bob (from as many client addresses as they like) pauses sign-in for Bob's
*name*; a browser where Bob signed in before carries ``adapta-device``, an HMAC-signed ``(name, device id, issued)``, and
:mod:`webui.front_door` throttles that browser by its own device id instead of by the name or the address. So the
attacker pays the name's growing delays while Bob keeps signing in from his known devices. The key lives in
``<data home>/device-key`` (32 random bytes, mode 0o600, made on first use); deleting it forgets every device.

    value = issue("bob")                       # after a right password: the cookie's value
    known("bob", value)                        # -> the device id, or None (forged, expired, another name's, or absent)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time

from storage.paths import data_home

COOKIE_NAME = "adapta-device"
DEVICE_DAYS = 30
"""How long a device stays known after its last successful sign-in (each sign-in renews the cookie)."""
KEY_FILE = "device-key"
_key_lock = threading.Lock()
_keys: dict[str, bytes] = {}


def _key() -> bytes:
    """The signing key of this data home (created with mode 0o600 on first use; a concurrent first use reads the winner's)."""
    path = data_home().root / KEY_FILE
    with _key_lock:
        cached = _keys.get(str(path))
        if cached is not None:
            return cached
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
        else:
            key = secrets.token_bytes(32)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
        if len(key) < 32:
            raise RuntimeError(f"{path} is not a device key (expected 32 bytes); delete it and restart to forget every known device")
        _keys[str(path)] = key
        return key


def _signature(name: str, device: str, issued: int) -> str:
    message = f"{name.lower()}\n{device}\n{issued}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def _encoded_name(name: str) -> str:
    return base64.urlsafe_b64encode(name.lower().encode()).decode().rstrip("=")


def issue(name: str, device: str | None = None, now: float | None = None) -> str:
    """The cookie value that vouches for ``name`` on this browser (``device``: keep a known device's id; default a new one)."""
    device = device or secrets.token_hex(8)
    issued = int(time.time() if now is None else now)
    return f"{_encoded_name(name)}.{device}.{issued}.{_signature(name, device, issued)}"


def known(name: str, value: str | None, now: float | None = None) -> str | None:
    """The device id when ``value`` is a valid, unexpired cookie issued for ``name``; else None."""
    parts = (value or "").split(".")
    if len(parts) != 4 or not name:
        return None
    encoded, device, issued_text, signature = parts
    if not hmac.compare_digest(encoded, _encoded_name(name)) or not issued_text.isdigit() or len(device) != 16:
        return None
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= DEVICE_DAYS * 86400:
        return None
    return device if hmac.compare_digest(signature, _signature(name, device, issued)) else None


def cookie_value(cookie_header: str) -> str | None:
    """The ``adapta-device`` value in a ``Cookie`` request header, or None."""
    for part in cookie_header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE_NAME and value:
            return value.strip('"')
    return None


def set_cookie_header(value: str, secure: bool) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` response header for a device cookie: HTTP only, same site, ``Secure`` over HTTPS."""
    attributes = f"{COOKIE_NAME}={value}; Max-Age={DEVICE_DAYS * 86400}; Path=/; HttpOnly; SameSite=Strict"
    return b"set-cookie", (attributes + ("; Secure" if secure else "")).encode()
