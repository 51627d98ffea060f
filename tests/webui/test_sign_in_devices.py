"""Sign-in an attacker cannot turn against the user, on a real ``launch.py --auth`` server over real HTTP: wrong passwords for
Bob from rotating client addresses (``X-Forwarded-For`` from the trusted 127.0.0.1 proxy) pause Bob's name and cost the
attacker growing delays, while Bob's right password from a browser he signed in with before (the signed ``adapta-device``
cookie) still works every time; a forged or borrowed cookie buys nothing."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.served_app import ServedApp, add_accounts, served_app
from webui import known_devices
from webui.front_door import FIRST_DELAY_S, FREE_FAILURES, LoginThrottle

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}
ROUNDS = 12


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    home = tmp_path_factory.mktemp("devices") / "home"
    home.mkdir()
    add_accounts(home, PASSWORDS)
    with served_app(["--auth", "--no-worker"], home=home) as app:
        yield app


def sign_in(client: httpx.Client, name: str, password: str, address: str) -> httpx.Response:
    return client.post("login", data={"username": name, "password": password}, headers={"X-Forwarded-For": address})


def test_rotating_addresses_cannot_lock_out_a_known_device(auth_app: ServedApp) -> None:
    with httpx.Client(base_url=auth_app.url, timeout=60) as bobs_laptop, httpx.Client(base_url=auth_app.url, timeout=60) as attacker:
        first = sign_in(bobs_laptop, "bob", PASSWORDS["bob"], "198.51.100.20")
        assert first.status_code == 200
        [cookie] = [value for value in first.headers.get_list("set-cookie") if value.startswith(f"{known_devices.COOKIE_NAME}=")]
        assert cookie.startswith(f"{known_devices.COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        checked = paused = 0
        refused_bob = []
        started = time.monotonic()
        for number in range(ROUNDS):
            attack = sign_in(attacker, "bob", "wrong-password", f"203.0.113.{number + 1}")
            detail = attack.json()["detail"]
            assert attack.status_code == 400
            checked += detail == "Incorrect credentials."
            paused += detail.startswith("Too many failed sign-ins")
            mine = sign_in(bobs_laptop, "bob", PASSWORDS["bob"], "198.51.100.20")
            if mine.status_code != 200:
                refused_bob.append(mine.json().get("detail"))
        elapsed = time.monotonic() - started
        assert refused_bob == [], f"{len(refused_bob)} of Bob's {ROUNDS} right passwords from his known laptop were refused"
        # the attacker still pays: after the free failures each check waits twice as long as the last, so in `elapsed` seconds
        # at most log2(elapsed) more guesses are checked; the others are refused unchecked
        most = FREE_FAILURES + math.ceil(math.log2(elapsed / FIRST_DELAY_S + 1)) + 1
        print(f"{ROUNDS} guesses from {ROUNDS} addresses in {elapsed:.1f} s: {checked} checked, {paused} refused unchecked; Bob's known "
              f"laptop signed in {ROUNDS - len(refused_bob)} of {ROUNDS} times")
        assert checked <= most and checked + paused == ROUNDS and paused >= 1, (checked, paused, round(elapsed, 1))
        # a new browser is what the pause protects: right after a guess, Bob's name is paused there (his known laptop is not)
        with httpx.Client(base_url=auth_app.url, timeout=60) as new_browser:
            sign_in(attacker, "bob", "wrong-password", "203.0.113.99")
            answer = sign_in(new_browser, "bob", PASSWORDS["bob"], "198.51.100.21")
            assert answer.status_code == 400 and answer.json()["detail"].startswith("Too many failed"), answer.text


def test_a_forged_or_borrowed_device_cookie_bypasses_nothing(auth_app: ServedApp) -> None:
    with httpx.Client(base_url=auth_app.url, timeout=60) as alices_laptop:
        assert sign_in(alices_laptop, "alice", PASSWORDS["alice"], "198.51.100.30").status_code == 200
        borrowed = alices_laptop.cookies[known_devices.COOKIE_NAME]
    name, device, issued, signature = borrowed.split(".")
    forged = f"{name}.{device}.{int(issued) + 1}.{signature}"
    for cookie in (borrowed, forged):
        with httpx.Client(base_url=auth_app.url, timeout=60, cookies={known_devices.COOKIE_NAME: cookie}) as client:
            # bob's name is paused by the previous test's attacker (or pauses now): alice's cookie is not bob's device
            for number in range(FREE_FAILURES):
                sign_in(client, "bob", "wrong-password", f"192.0.2.{number + 50}")
            assert sign_in(client, "bob", PASSWORDS["bob"], "192.0.2.60").json()["detail"].startswith("Too many failed")


def test_a_known_device_is_throttled_by_its_own_count_and_its_success_keeps_the_names() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for number in range(FREE_FAILURES):  # an attacker spends the name's free failures
        assert throttle.begin("bob", f"10.0.0.{number}") == 0
        throttle.finish("bob", f"10.0.0.{number}", ok=False)
    assert throttle.wait_for("bob", "10.9.9.9") > 0
    assert throttle.begin("bob", "10.9.9.9", device="d" * 16) == 0, "the known device is paused by the name"
    throttle.finish("bob", "10.9.9.9", ok=True, device="d" * 16)
    assert throttle.wait_for("bob", "10.9.9.8") > 0, "the known device's sign-in gave the attacker fresh free tries"
    for _ in range(FREE_FAILURES):  # a stolen cookie is throttled like a name
        assert throttle.begin("bob", "10.9.9.9", device="e" * 16) == 0
        throttle.finish("bob", "10.9.9.9", ok=False, device="e" * 16)
    assert throttle.wait_for("bob", "10.9.9.9", device="e" * 16) > 0 and throttle.wait_for("bob", "10.9.9.9", device="d" * 16) == 0


def test_device_cookies_are_signed_for_one_name_and_expire(adapta_home: object) -> None:
    value = known_devices.issue("Bob", now=1_000_000)
    device = known_devices.known("bob", value, now=1_000_100)
    assert device is not None and len(device) == 16
    assert known_devices.known("alice", value, now=1_000_100) is None
    assert known_devices.known("bob", value, now=1_000_000 + known_devices.DEVICE_DAYS * 86400 + 1) is None
    assert known_devices.known("bob", value[:-1] + ("0" if value[-1] != "0" else "1"), now=1_000_100) is None
    assert known_devices.cookie_value(f"a=b; {known_devices.COOKIE_NAME}={value}; c=d") == value
