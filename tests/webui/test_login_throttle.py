"""Sign-in throttling on a real ``launch.py --auth`` server, over real HTTP: wrong passwords pause a name and an address (even the
right password is refused, at once, with the wait in the answer), the pause ends, and a burst of bad logins does not slow others.

One server serves the module; each test uses its own accounts and its own client addresses (``X-Forwarded-For``, which uvicorn
takes from a 127.0.0.1 peer, as from a reverse proxy on the same machine), so the tests do not share counters.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.served_app import ServedApp, add_accounts, served_app
from webui.front_door import FREE_FAILURES, LoginThrottle, delay_after, wait_words

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2", "carol": "carol-password-3"}


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    home = tmp_path_factory.mktemp("throttle") / "home"
    home.mkdir()
    add_accounts(home, PASSWORDS)
    with served_app(["--auth", "--no-worker"], home=home) as app:
        yield app


def login(app: ServedApp, name: str, password: str, address: str) -> tuple[httpx.Response, float]:
    with httpx.Client(base_url=app.url, timeout=60) as client:
        client.get("gradio_api/app_id")  # connected before the clock starts
        started = time.perf_counter()
        response = client.post("login", data={"username": name, "password": password}, headers={"X-Forwarded-For": address})
        return response, time.perf_counter() - started


def assert_wrong(response: httpx.Response) -> None:
    assert response.status_code == 400 and response.json()["detail"] == "Incorrect credentials.", response.text


def assert_paused(response: httpx.Response) -> int:
    """The refusal of a paused sign-in; returns its wait in seconds."""
    assert response.status_code == 400, f"not refused: {response.status_code} {response.text}"
    detail = response.json()["detail"]
    assert detail.startswith("Too many failed sign-ins") and "try again in 1 second" in detail, detail
    return int(response.headers["Retry-After"])


def test_wrong_passwords_pause_the_name_at_once_and_the_right_password_works_after_the_wait(auth_app: ServedApp) -> None:
    checked = []
    for _ in range(FREE_FAILURES):
        response, seconds = login(auth_app, "alice", "wrong-password", "192.0.2.1")
        assert_wrong(response)
        checked.append(seconds)
    refused, refused_s = login(auth_app, "alice", PASSWORDS["alice"], "192.0.2.1")
    wait = assert_paused(refused)
    assert wait == 1 and refused_s < min(checked) / 2, f"refused in {refused_s:.3f} s; checks took {checked}"
    assert refused.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in refused.headers
    # the name is paused from every address
    assert_paused(login(auth_app, "alice", PASSWORDS["alice"], "192.0.2.2")[0])

    time.sleep(wait + 0.1)
    signed_in, _ = login(auth_app, "alice", PASSWORDS["alice"], "192.0.2.2")
    assert signed_in.status_code == 200 and signed_in.json() == {"success": True}
    # the right password cleared alice's count: a new address gets its full allowance again
    assert_wrong(login(auth_app, "alice", "wrong-password", "192.0.2.3")[0])
    assert_wrong(login(auth_app, "alice", "wrong-password", "192.0.2.3")[0])


def test_failures_from_one_address_pause_every_name_from_it(auth_app: ServedApp) -> None:
    for number in range(FREE_FAILURES):
        assert_wrong(login(auth_app, f"nobody{number}", "wrong-password", "198.51.100.7")[0])
    refused, refused_s = login(auth_app, "bob", PASSWORDS["bob"], "198.51.100.7")
    assert_paused(refused)
    assert refused_s < 0.05, f"a paused sign-in took {refused_s:.3f} s"
    signed_in, _ = login(auth_app, "bob", PASSWORDS["bob"], "198.51.100.8")  # bob himself was never paused
    assert signed_in.status_code == 200


def get_times(client: httpx.Client, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def burst_of_bad_logins(app: ServedApp, burst: int, user: httpx.Client, size: int = 5) -> list[float]:
    """``size`` bad logins at once (new names and addresses: each runs the password check); ``user``'s /config times meanwhile."""
    attackers = [httpx.Client(base_url=app.url, timeout=60) for _ in range(size)]
    start = threading.Barrier(size + 1)
    answers: list[int] = []

    def attack(number: int) -> None:
        attackers[number].get("gradio_api/app_id")
        start.wait()
        answers.append(attackers[number].post("login", data={"username": f"burst{burst}-{number}", "password": "wrong-password"},
                                              headers={"X-Forwarded-For": f"203.0.113.{burst * 10 + number + 1}"}).status_code)

    threads = [threading.Thread(target=attack, args=(number,)) for number in range(size)]
    for thread in threads:
        thread.start()
    start.wait()
    during = []
    while any(thread.is_alive() for thread in threads):
        during += get_times(user, "config", 1)
    for thread in threads:
        thread.join()
    for client in attackers:
        client.close()
    assert answers == [400] * size
    return during


def test_a_burst_of_bad_logins_does_not_slow_other_users(auth_app: ServedApp) -> None:
    """5 parallel bad logins, 3 times, vs a signed-in user's ``GET /config``: median within 2x of idle (idle sampled before each
    burst). Before, the checks ran on the event loop, and /config waited for all five (6-25x in bench/login_burst.py)."""
    with httpx.Client(base_url=auth_app.url, timeout=60) as carol:
        carol.post("login", data={"username": "carol", "password": PASSWORDS["carol"]}).raise_for_status()
        get_times(carol, "config", 3)
        idle: list[float] = []
        during: list[float] = []
        for burst in range(3):
            idle += get_times(carol, "config", 6)
            during += burst_of_bad_logins(auth_app, burst, carol)
    ratio = statistics.median(during) / statistics.median(idle)
    assert ratio <= 2.0, f"/config: idle median {statistics.median(idle) * 1000:.1f} ms, during bursts {statistics.median(during) * 1000:.1f} ms " \
                         f"({len(during)} calls): {ratio:.2f}x"


def test_the_throttle_doubles_caps_forgets_and_stays_bounded() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_tracked=50, clock=lambda: now[0])
    assert [delay_after(failures) for failures in (4, 5, 6, 7, 13, 14, 99)] == [0, 1, 2, 4, 256, 300, 300]
    assert wait_words(0.2) == "1 second" and wait_words(7.5) == "8 seconds" and wait_words(300) == "5 minutes"
    for _ in range(FREE_FAILURES):
        assert throttle.begin("mallory", "10.0.0.1") == 0
        throttle.finish("mallory", "10.0.0.1", ok=False)
    assert throttle.begin("mallory", "10.0.0.2") == pytest.approx(1.0)  # the name, from anywhere
    assert throttle.begin("someone", "10.0.0.1") == pytest.approx(1.0)  # the address, for any name
    now[0] += 1.01
    assert throttle.begin("mallory", "10.0.0.1") == 0
    assert throttle.begin("mallory", "10.0.0.3") > 0, "one check at a time once the free failures are spent"
    throttle.finish("mallory", "10.0.0.1", ok=False)
    assert throttle.wait_for("mallory", "10.0.0.9") == pytest.approx(2.0)
    now[0] += 3601  # an hour without failures: forgotten, the next failure is the first again
    assert throttle.begin("mallory", "10.0.0.1") == 0
    throttle.finish("mallory", "10.0.0.1", ok=False)
    assert throttle.wait_for("mallory", "10.0.0.1") == 0
    assert throttle.begin("mallory", "10.0.0.1") == 0
    throttle.finish("mallory", "10.0.0.1", ok=True)
    # at most FREE_FAILURES checks of one name may be under way at once
    assert [throttle.begin("victim", f"10.1.0.{n}") for n in range(FREE_FAILURES + 1)][-1] > 0
    # a flood of names and addresses never grows the memory past max_tracked
    for number in range(500):
        address = f"10.2.{number // 250}.{number % 250}"
        assert throttle.begin(f"user{number}", address) == 0
        throttle.finish(f"user{number}", address, ok=False)
        assert len(throttle) <= 50 + 1 + FREE_FAILURES  # the victim's checks under way are never forgotten
    assert len(throttle) >= 45 - 1 - FREE_FAILURES


def test_the_wait_is_said_in_one_sentence() -> None:
    from webui.front_door import refusal

    error = refusal(299.2)
    assert error.status_code == 400 and error.headers == {"Retry-After": "300"}
    assert error.detail == "Too many failed sign-ins for this name or from this address; try again in 5 minutes."


def test_throttled_sign_ins_leave_no_traceback_in_the_log(auth_app: ServedApp) -> None:
    assert "Traceback" not in auth_app.log.read_text(errors="replace")
