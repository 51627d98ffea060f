"""Accessibility and layout of every tab in real Chromium: axe-core, narrow screens, both themes, the keyboard.

axe-core (bundled by ``axe-playwright-python``) runs on each of the six tabs, and on Train with its Advanced accordion
open, in the light and the dark theme (``?__theme=``) at 1400 px, 1024 px and a phone viewport (390x844); a violation
with impact serious or critical fails the test, with axe's own description of each offending element. One case per theme ×
width pair, each checking half the tabs (:func:`tabs_of_case`): every tab is checked at all three widths and in both themes,
and every pair is checked with the header, the guide and the language picker that every tab shows, in 18 tab checks instead of
36. At 1024 px and on the phone the page body must not scroll sideways and each tab's main button must be on screen and the
topmost element at its centre (not covered). The keyboard test tabs through the page as a keyboard user would: every tab header and every
tab's main button takes the focus with a visible ring, and Enter on a header opens that tab. Skipped, with the reason,
only when /usr/bin/chromium is missing.

    CI=1 .venv/bin/python -m pytest -q -p no:cacheprovider -x tests/webui/test_accessibility.py
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.webui.conftest import needs_chromium
from webui.i18n import t

pytestmark = needs_chromium

TABS = ["models", "data", "train", "jobs", "playground", "export"]
# The button a newcomer presses on each tab (enabled, so the keyboard can reach it): the first of each tuple that is shown. On a
# fresh data home the Jobs and Export tabs show only the guide's empty state, whose button leads to the step that fills them,
# and the Data tab its upload, Hub preview and no report yet.
MAIN_BUTTONS = {"models": ("model-use",), "data": ("data-use", "data-hub-load"), "train": ("train-submit",),
                "jobs": ("job-cancel", "job-duplicate", "guide-empty-jobs-go"), "playground": ("play-run", "guide-empty-playground-go"),
                "export": ("share-push", "guide-empty-export-go")}
VIEWPORTS = {"desktop": (1400, 900), "laptop": (1024, 768), "phone": (390, 844)}
THEMES = ["light", "dark"]
BLOCKING_IMPACTS = {"serious", "critical"}


def open_app(browser: Any, app_url: str, theme: str, viewport: str) -> Any:
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


def main_button(page: Any, tab: str) -> str:
    """The id of ``tab``'s main button as the page is now (see :data:`MAIN_BUTTONS`)."""
    shown = [elem_id for elem_id in MAIN_BUTTONS[tab] if page.locator(f"#{elem_id}").first.is_visible()]
    assert shown, f"none of {MAIN_BUTTONS[tab]} is shown on the {tab} tab"
    return shown[0]


def layout_problems(page: Any, tab: str, where: str) -> list[str]:
    """Sideways page scroll, or the tab's main button off screen or covered by something else."""
    problems = []
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1] + 1:
        problems.append(f"{where}: the page scrolls sideways ({widths[0]} px of content in a {widths[1]} px window)")
    elem_id = main_button(page, tab)
    button = page.locator(f"#{elem_id}").first
    button.scroll_into_view_if_needed()
    placement = button.evaluate("""(el) => {
      const box = el.getBoundingClientRect();
      const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return {left: box.left, right: box.right, width: box.width, height: box.height, window: window.innerWidth,
              onTop: !!top && (top === el || el.contains(top))};
    }""")
    if placement["width"] < 1 or placement["height"] < 1:
        problems.append(f"{where}: #{elem_id} has no size")
    elif placement["left"] < 0 or placement["right"] > placement["window"] + 1:
        problems.append(f"{where}: #{elem_id} is off screen ({placement['left']:.0f}-{placement['right']:.0f} px of {placement['window']})")
    elif not placement["onTop"]:
        problems.append(f"{where}: #{elem_id} is covered by another element")
    return problems


def tabs_of_case(theme: str, viewport: str) -> list[str]:
    """The tabs the case ``theme`` × ``viewport`` checks: every other tab, starting one further on for each step in theme or
    width, so that across the six cases each tab is seen at every width, in the light theme at one and the dark at the next."""
    offset = THEMES.index(theme) + list(VIEWPORTS).index(viewport)
    return [tab for index, tab in enumerate(TABS) if (index + offset) % 2 == 0]


def test_the_cases_check_every_tab_at_every_width_and_in_both_themes() -> None:
    cases = [(theme, viewport) for theme in THEMES for viewport in VIEWPORTS]
    for tab in TABS:
        checked = [(theme, viewport) for theme, viewport in cases if tab in tabs_of_case(theme, viewport)]
        assert {viewport for _, viewport in checked} == set(VIEWPORTS) and {theme for theme, _ in checked} == set(THEMES), (tab, checked)
    assert all(tabs_of_case(theme, viewport) for theme, viewport in cases)  # every pair is checked too


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("theme", THEMES)
def test_every_tab_passes_axe_and_fits_the_screen(browser: Any, app_url: str, theme: str, viewport: str) -> None:
    page = open_app(browser, app_url, theme, viewport)
    try:
        assert page.evaluate("document.body.classList.contains('dark')") == (theme == "dark"), f"the {theme} theme was not applied"
        found: list[str] = []
        for tab in tabs_of_case(theme, viewport):
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


def test_keyboard_reaches_every_tab_and_its_main_button_with_a_visible_ring(browser: Any, app_url: str) -> None:
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
            elem_id = main_button(page, tab)
            button = press_tab_until(page, elem_id)
            assert button["outline"] != "none" and button["width"] >= 2, f"#{elem_id} has no visible focus ring: {button}"
    finally:
        page.context.close()
