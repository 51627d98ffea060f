"""Local accounts for a self-hosted Adapta: names and scrypt password hashes in ``<data home>/users.json``.

    python launch.py adduser alice        # reads the password from standard input (twice on a terminal)
    python launch.py --auth               # the app then asks for a name and password

The file holds one entry per user: ``{"alice": {"hash": "scrypt$n$r$p$salt$digest", "created_at": ...}}``,
written atomically with mode 0600. No plain password is ever written; checks run in constant time.

Hashes use scrypt with N=2^17, r=8, p=1 (128 MiB, about 0.1-0.4 s); a hash made with older, weaker parameters is
replaced at that user's next successful sign-in. A sign-in for a name that does not exist runs the same one scrypt
(against a dummy hash), so the time it takes does not tell which names exist (``bench/login_timing.py`` measures it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from storage.paths import data_home

USERS_FILE = "users.json"
MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}$")
_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024  # a hash asking for more (a tampered users.json) is refused instead of run
RESERVED_NAMES = {"local", "demo", "anonymous", "admin-bot"}


class UserError(ValueError):
    """A bad user name or password, said in one sentence."""


def users_file() -> Path:
    return data_home().root / USERS_FILE


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt with the memory limit these parameters need (OpenSSL's default of 32 MiB is below N=2^17, r=8)."""
    needed = 128 * r * (n + p) + 1024 * 1024
    if needed > MAX_SCRYPT_MEMORY:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} need more than {MAX_SCRYPT_MEMORY} bytes")
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=needed)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$digest`` for ``password`` with the current parameters (a fresh random salt unless given)."""
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[dict[str, int], bytes, bytes] | None:
    """(parameters, salt, digest) of a ``scrypt$n$r$p$salt$digest`` hash, or None when it is not one."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        return {"n": int(n), "r": int(r), "p": int(p)}, _unb64(salt), _unb64(digest)
    except (ValueError, TypeError, AttributeError):
        return None


def password_matches(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (compared in constant time)."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    params, salt, digest = parsed
    try:
        candidate = _scrypt(password, salt, **params)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, digest)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with weaker scrypt parameters than the current ones (it is upgraded at the next sign-in)."""
    parsed = _parse(stored)
    return parsed is None or any(parsed[0][key] < value for key, value in _SCRYPT.items())


def _dummy_hash() -> str:
    """A well-formed hash with the current parameters that no password matches: what a missing user's sign-in is checked against."""
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(secrets.token_bytes(16))}${_b64(secrets.token_bytes(32))}"


def check_name(name: str) -> str:
    """The name if it can be an account (letters, digits, . _ -; up to 39 characters; not a reserved word)."""
    if not _NAME.match(name or ""):
        raise UserError(f"user name {name!r} is not allowed; use 1-39 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if name.lower() in RESERVED_NAMES:
        raise UserError(f"user name {name!r} is reserved; pick another")
    return name


def load_users() -> dict[str, dict[str, str]]:
    """Every account (name → {hash, created_at}); empty when nobody was added."""
    path = users_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not readable JSON ({error}); restore it or delete it and add the users again") from None
    return data if isinstance(data, dict) else {}


def _write_users(users: dict[str, dict[str, str]]) -> None:
    path = users_file()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(users, stream, indent=2, sort_keys=True)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def add_user(name: str, password: str) -> bool:
    """Create the account, or set a new password for an existing one; True when it was new."""
    check_name(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is too short; use at least {MIN_PASSWORD_LENGTH} characters")
    users = load_users()
    created = name not in users
    users[name] = {"hash": hash_password(password), "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    _write_users(users)
    return created


def verify_user(name: str, password: str) -> bool:
    """True when ``name`` exists and ``password`` is its password. Either way one scrypt runs (a missing user's against a dummy
    hash), so the time does not tell whether the name exists; a right password on an older hash upgrades it."""
    entry = load_users().get(name or "")
    stored = str(entry.get("hash", "")) if isinstance(entry, dict) else ""
    checked = stored if _parse(stored) is not None else _dummy_hash()
    ok = password_matches(password or "", checked) and checked == stored
    if ok and needs_rehash(stored):
        _upgrade_hash(name, password, stored)
    return ok


def _upgrade_hash(name: str, password: str, old: str) -> None:
    """Store ``password`` again with the current parameters, unless the user's hash changed meanwhile (a new password)."""
    fresh = hash_password(password)
    users = load_users()
    entry = users.get(name)
    if isinstance(entry, dict) and entry.get("hash") == old:
        entry["hash"] = fresh
        _write_users(users)
