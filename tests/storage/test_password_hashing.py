"""Password hashes in ``users.json``: current scrypt parameters, old hashes upgraded at the next sign-in, and a sign-in that
costs one scrypt whether or not the name exists (so its time does not reveal which names are accounts)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from storage import users

OLD_N = 2**14


def old_style_hash(password: str) -> str:
    """A hash exactly as the previous version wrote it (N=2^14, r=8, p=1)."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=OLD_N, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024)
    encode = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")  # noqa: E731
    return f"scrypt${OLD_N}$8$1${encode(salt)}${encode(digest)}"


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The N of every scrypt run from here on (the real function still runs)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def stored_hash(name: str) -> str:
    return json.loads(users.users_file().read_text())[name]["hash"]


def test_new_accounts_are_hashed_with_n_2_17(adapta_home: Path) -> None:
    users.add_user("alice", "alice-password-1")
    assert stored_hash("alice").startswith("scrypt$131072$8$1$")
    assert users.verify_user("alice", "alice-password-1") and not users.verify_user("alice", "wrong-password")


def test_a_missing_user_costs_one_scrypt_at_the_same_parameters_as_an_existing_one(adapta_home: Path, scrypt_calls: list[int]) -> None:
    users.add_user("alice", "alice-password-1")
    scrypt_calls.clear()
    assert not users.verify_user("alice", "wrong-password")
    existing = list(scrypt_calls)
    scrypt_calls.clear()
    assert not users.verify_user("mallory", "wrong-password")
    missing = list(scrypt_calls)
    assert existing == missing == [2**17], (existing, missing)


def test_an_old_hash_is_upgraded_at_the_next_successful_sign_in_only(adapta_home: Path) -> None:
    users.add_user("bob", "placeholder-1")
    data = json.loads(users.users_file().read_text())
    data["bob"]["hash"] = old_style_hash("bob-password-2")
    users.users_file().write_text(json.dumps(data))

    assert not users.verify_user("bob", "wrong-password")
    assert stored_hash("bob").startswith(f"scrypt${OLD_N}$"), "a wrong password must not rewrite the hash"
    assert users.verify_user("bob", "bob-password-2")
    upgraded = stored_hash("bob")
    assert upgraded.startswith("scrypt$131072$8$1$")
    assert users.verify_user("bob", "bob-password-2") and not users.verify_user("bob", "wrong-password")
    assert stored_hash("bob") == upgraded, "a current hash is not rewritten at every sign-in"
