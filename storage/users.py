"""Local accounts for a self-hosted Adapta: names and scrypt password hashes in ``<data home>/users.json``.

    python launch.py adduser alice        # reads the password from standard input (twice on a terminal)
    python launch.py --auth               # the app then asks for a name and password

The file holds one entry per user: ``{"alice": {"hash": "scrypt$n$r$p$salt$digest", "created_at": ...}}``,
written atomically with mode 0600. No plain password is ever written; checks run in constant time.
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
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
RESERVED_NAMES = {"local", "demo", "anonymous", "admin-bot"}


class UserError(ValueError):
    """A bad user name or password, said in one sentence."""


def users_file() -> Path:
    return data_home().root / USERS_FILE


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$digest`` for ``password`` (a fresh random salt unless given)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32,
                                   maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


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
    """True when ``name`` exists and ``password`` is its password (a missing user costs the same time)."""
    entry = load_users().get(name or "")
    stored = entry.get("hash", "") if entry else hash_password("not-a-user-" + secrets.token_hex(4))
    return password_matches(password or "", stored) and entry is not None
