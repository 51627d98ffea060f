"""The page's Blocks: Gradio's, with the HTTP API's ``gr.api`` components left out of the layout the browser builds.

Each ``gr.api`` endpoint (``webui/api.py``) adds one invisible ``api`` component per parameter and per result: 66 of the
page's ~475. They show nothing and no browser event reads or writes them, yet Gradio's page builds a node for each and scans
every event's targets for it before the first event is sent (docs/benchmarks.md, "Page load"). :class:`AdaptaBlocks` keeps
them in the config's component list and dependencies, where ``gradio_client`` and the "Use via API" page read them, marked
``visible: false`` (the page waits until every visible component has mounted before it runs its first event), and drops them
from the layout trees.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

HIDDEN_FROM_LAYOUT = frozenset({"api"})
"""Component types that the browser never shows, left out of the layout (still served as components)."""


def without_types(layout: dict[str, Any], types_by_id: dict[int, str], hidden: frozenset[str] = HIDDEN_FROM_LAYOUT) -> dict[str, Any]:
    """``layout`` (a ``{"id", "children"}`` tree) without the nodes whose component type is in ``hidden``."""
    if "children" not in layout:
        return layout
    children = [without_types(child, types_by_id, hidden) for child in layout["children"] if types_by_id.get(child["id"]) not in hidden]
    return {**layout, "children": children}


class AdaptaBlocks(gr.Blocks):
    """``gr.Blocks`` whose served layout leaves out the components of :data:`HIDDEN_FROM_LAYOUT`."""

    def get_config_file(self) -> Any:
        config = super().get_config_file()
        types_by_id = {component["id"]: component["type"] for component in config.get("components", [])}
        for component in config.get("components", []):
            if component["type"] in HIDDEN_FROM_LAYOUT:  # the page waits for every visible component to mount before it is ready
                component["props"]["visible"] = False
        if "layout" in config:
            config["layout"] = without_types(config["layout"], types_by_id)
        for page in config.get("page", {}).values():
            if "layout" in page:
                page["layout"] = without_types(page["layout"], types_by_id)
        return config
