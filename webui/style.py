"""How Adapta looks: the theme, the app-wide CSS and a small head script, chosen so that every tab passes axe-core.

    from webui.style import CSS, HEAD, THEME
    demo.launch(css=CSS, head=HEAD, theme=THEME)   # webui.app.launch_app does this

``THEME`` is Gradio's Soft theme with the colours that failed WCAG AA contrast (4.5:1 for normal text) replaced, in light
and in dark mode: labels, help text, placeholders, the selected radio option, primary buttons and the selected tab.
``CSS`` holds the layout rules (plot heights, no horizontal page scroll on a phone, a visible keyboard focus ring).
``HEAD`` gives Gradio's "Empty value" placeholders (an ``aria-label`` on a role-less ``div``, which screen readers may skip)
a role so that the label is announced.
tests/webui/test_accessibility.py checks all of it with axe-core in Chromium.
"""

from __future__ import annotations

import gradio as gr

# Measured contrast on white / the page background: primary_600 6.3:1, primary_700 on primary_100 6.4:1, neutral_600 7.6:1,
# neutral_500 4.8:1; dark mode: neutral_300 on neutral_700 7.0:1, primary_400 on the dark page 6.4:1.
# System fonts: the Soft theme's Montserrat and IBM Plex Mono cost four font files (~200 KiB) on every first paint.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"]).set(
    block_label_text_color="*primary_700",
    block_title_text_color="*primary_700",
    block_info_text_color="*neutral_600",
    block_info_text_color_dark="*neutral_300",
    body_text_color_subdued="*neutral_600",
    body_text_color_subdued_dark="*neutral_300",
    input_placeholder_color="*neutral_500",
    input_placeholder_color_dark="*neutral_400",
    checkbox_label_background_fill_selected="*primary_600",
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_background_fill_dark="*primary_600",
    button_primary_background_fill_hover_dark="*primary_700",
    color_accent="*primary_600",
)

CSS = """
#job-loss-plot, #job-lr-plot, #job-objective-plot {min-height: 260px}
.adapta-progress {margin: 4px 0}
/* The theme has a single accent colour; in dark mode it needs to be lighter to stay readable on the dark page. */
.dark {--color-accent: var(--primary-400)}
/* Keyboard users see where they are: tab headers, buttons and links get a ring when focused by keyboard. */
button:focus-visible, [role="tab"]:focus-visible, a:focus-visible, summary:focus-visible, [role="button"]:focus-visible {
  outline: 3px solid var(--color-accent); outline-offset: 2px;
}
/* No horizontal scroll of the page on narrow screens: long words and paths wrap, wide tables scroll inside themselves. */
.prose, .prose * {overflow-wrap: anywhere}
/* An empty table has no focusable cell, so a keyboard user could not scroll it: its headers wrap instead of scrolling. */
.no-rows .virtual-table-viewport {overflow-x: hidden}
.no-rows table {table-layout: fixed; width: 100%}
.no-rows th {white-space: normal; overflow-wrap: anywhere}
@media (max-width: 640px) {
  .gradio-container {padding-left: 6px !important; padding-right: 6px !important}
}
"""

HEAD = """
<script>
(() => {
  let queued = false;
  const fix = () => {
    queued = false;
    document.querySelectorAll("div.empty[aria-label]:not([role])").forEach((el) => el.setAttribute("role", "img"));
  };
  const start = () => {
    fix();
    new MutationObserver(() => { if (!queued) { queued = true; requestAnimationFrame(fix); } })
      .observe(document.body, {childList: true, subtree: true});
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
</script>
"""

__all__ = ["CSS", "HEAD", "THEME"]
