"""Accessibility and layout of every tab in real Chromium: axe-core, narrow screens, both themes, the keyboard.

axe-core (bundled by ``axe-playwright-python``) runs on each of the six tabs, and on Train with its Advanced accordion
open, in the light and the dark theme (``?__theme=``) at 1400 px, 1024 px and a phone viewport (390x844); a violation
with impact serious or critical fails the test, with axe's own description of each offending element. At 1024 px and on
the phone the page body must not scroll sideways and each tab's main button must be on screen and the topmost element at
its centre (not covered). The keyboard test tabs through the page as a keyboard user would: every tab header and every
tab's main button takes the focus with a visible ring, and Enter on a header opens that tab. Skipped, with the reason,
only when /usr/bin/chromium is missing.

    CI=1 .venv/bin/python -m pytest -q -p no:cacheprovider -x tests/webui/test_accessibility.py
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.webui.test_browser import CHROMIUM, browser  # noqa: F401 - the fixture is used by name
from webui.i18n import t

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (/usr/bin/chromium); run `make install-dev`")

TABS = ["models", "data", "train", "jobs", "playground", "export"]
# The button a newcomer presses on each tab (enabled on a fresh page, so the keyboard can reach it).
MAIN_BUTTONS = {"models": "model-use", "data": "data-use", "train": "train-submit", "jobs": "job-cancel", "playground": "play-run",
                "export": "share-push"}
VIEWPORTS = {"desktop": (1400, 900), "laptop": (1024, 768), "phone": (390, 844)}
BLOCKING_IMPACTS = {"serious", "critical"}


def open_app(browser: Any, app_url: str, theme: str, viewport: str) -> Any:  # noqa: F811 - the imported fixture
    """A fresh page of the app in ``theme`` at ``viewport``, waited until the tab headers are shown."""
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{app_url}?__theme={theme}")
    page.locator("#tab-models-button").wait_for()
    # axe measures colours as they are at that instant: a button half-way through a variant change (the guide's current
    # step turning primary) reads as low contrast, so transitions end at once and axe sees what a person sees after them
    page.add_style_tag(content="*, *::before, *::after {transition: none !important; animation-duration: 0s !important}")
    return page


def settle(page: Any) -> None:
    """Wait until no component shows a pending event, no finite animation or transition runs (axe would measure colours
    half-way through a button's change of variant) and two frames have painted (lazy tab children render on open)."""
    page.wait_for_function("""() => !document.querySelector('.pending, .generating') && !document.getAnimations().some(
        (animation) => animation.playState === 'running' && animation.effect?.getComputedTiming().endTime !== Infinity)""")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def open_tab(page: Any, tab: str) -> None:
    page.locator(f"#tab-{tab}-button").click()
    page.locator(f"#tab-{tab}-button[aria-selected=true]").wait_for()
    page.locator(f"#tab-{tab}").first.wait_for()
    settle(page)


def open_advanced(page: Any) -> None:
    """Open the Train tab's Advanced accordion (found by its English label)."""
    header = page.locator("#tab-train button.label-wrap").filter(has_text=t("en", "train.advanced")).first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()
    settle(page)


def blocking_violations(page: Any, where: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one readable line per element."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    lines = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING_IMPACTS:
            for node in violation["nodes"]:
                lines.append(f"{where}: {violation['id']} ({violation['impact']}) {node['target']}: {node['failureSummary'][:300]}")
    return lines


def layout_problems(page: Any, tab: str, where: str) -> list[str]:
    """Sideways page scroll, or the tab's main button off screen or covered by something else."""
    problems = []
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1] + 1:
        problems.append(f"{where}: the page scrolls sideways ({widths[0]} px of content in a {widths[1]} px window)")
    button = page.locator(f"#{MAIN_BUTTONS[tab]}").first
    button.scroll_into_view_if_needed()
    placement = button.evaluate("""(el) => {
      const box = el.getBoundingClientRect();
      const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return {left: box.left, right: box.right, width: box.width, height: box.height, window: window.innerWidth,
              onTop: !!top && (top === el || el.contains(top))};
    }""")
    if placement["width"] < 1 or placement["height"] < 1:
        problems.append(f"{where}: #{MAIN_BUTTONS[tab]} has no size")
    elif placement["left"] < 0 or placement["right"] > placement["window"] + 1:
        problems.append(f"{where}: #{MAIN_BUTTONS[tab]} is off screen ({placement['left']:.0f}-{placement['right']:.0f} px of {placement['window']})")
    elif not placement["onTop"]:
        problems.append(f"{where}: #{MAIN_BUTTONS[tab]} is covered by another element")
    return problems


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_tab_passes_axe_and_fits_the_screen(browser: Any, app_url: str, theme: str, viewport: str) -> None:  # noqa: F811 - the imported fixture
    page = open_app(browser, app_url, theme, viewport)
    try:
        assert page.evaluate("document.body.classList.contains('dark')") == (theme == "dark"), f"the {theme} theme was not applied"
        found: list[str] = []
        for tab in TABS:
            open_tab(page, tab)
            where = f"{tab} tab, {theme}, {viewport}"
            if tab == "train":
                open_advanced(page)
                where += " (Advanced open)"
            found += blocking_violations(page, where)
            if viewport != "desktop":
                found += layout_problems(page, tab, where)
        assert not found, "accessibility or layout problems:\n" + "\n".join(found)
    finally:
        page.context.close()


def press_tab_until(page: Any, element_id: str, limit: int = 250) -> dict[str, Any]:
    """Press Tab until ``#element_id`` has the focus; returns how it looks then (outline) and how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const el = document.activeElement, style = getComputedStyle(el);
          return {id: el.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0, color: style.outlineColor};
        }""")
        if focused["id"] == element_id:
            return {**focused, "presses": presses}
    raise AssertionError(f"#{element_id} never took the keyboard focus in {limit} presses of Tab")


def test_keyboard_reaches_every_tab_and_its_main_button_with_a_visible_ring(browser: Any, app_url: str) -> None:  # noqa: F811 - the imported fixture
    page = open_app(browser, app_url, "light", "desktop")
    try:
        settle(page)
        for tab in TABS:
            # Start from the top of the page, as after a fresh load: the body takes the focus (and is then left unfocusable).
            page.evaluate("() => { document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex'); }")
            header = press_tab_until(page, f"tab-{tab}-button")
            assert header["outline"] != "none" and header["width"] >= 2, f"the {tab} tab header has no visible focus ring: {header}"
            page.keyboard.press("Enter")
            page.locator(f"#tab-{tab}-button[aria-selected=true]").wait_for()
            settle(page)
            button = press_tab_until(page, MAIN_BUTTONS[tab])
            assert button["outline"] != "none" and button["width"] >= 2, f"#{MAIN_BUTTONS[tab]} has no visible focus ring: {button}"
    finally:
        page.context.close()
