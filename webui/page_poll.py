"""The page's poll: one timer event every 2 s for every part that follows the jobs, answering only what changed.

Two costs of a poll are paid in the browser, not on the server:
- **Each event.** Gradio 6's page, at each status change of each event (pending, then complete), hands every component that
  is an input or output of any event its loading status again, cloning its data (``update_loading_stati_state``): with the
  Train form's ~200 components on the page, five events per tick (the Jobs table, the report, the objective plot, the image
  samples, the guide) kept Chromium busy about half of the time and made every click wait. :class:`Poll` gathers the parts into
  one event (``poll.add(fn, inputs, outputs)``, then ``poll.wire()``).
- **Each value sent.** A value makes the page re-render its component; two Vega plots redrawn every tick for a job that had
  finished long ago were the largest of these. Each part keeps, in a ``gr.State``, a fingerprint per output of what it sent
  last and answers ``gr.update()`` (Gradio leaves the component as it is) for the outputs whose fingerprint is the same
  (:func:`changed_only`).

    poll = Poll()
    poll.add(refresh, [selected, lang, sent], [table, ..., sent])   # fn(*inputs, request) -> one value per output
    poll.add_script(SIGNAL_JS, [signal])                            # runs in the page after each answer
    poll.wire()                                                     # at the Blocks' top level: the timer and its event
    updates, sent = changed_only([table, detail, plot], sent)       # sent: the State's dict, None or "" at first
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import pandas as pd

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
"""How often the page asks what changed."""


def _encode(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return {"frame": value.to_json(orient="split", date_format="iso")}
    return repr(value)


def fingerprint(value: Any) -> str:
    """A short digest of one output's value (a plain value, a ``gr.update`` dict or a DataFrame), equal for equal values."""
    text = json.dumps(value, default=_encode, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def changed_only(values: list[Any], sent: dict[str, str] | str | None) -> tuple[list[Any], dict[str, str]]:
    """``values`` with each one equal to what was last sent (``sent``: position → fingerprint) replaced by ``gr.update()``,
    and the fingerprints to keep for the next answer."""
    before = sent if isinstance(sent, dict) else {}
    now = {str(position): fingerprint(value) for position, value in enumerate(values)}
    updates = [gr.update() if before.get(position) == digest else value for (position, digest), value in zip(now.items(), values, strict=True)]
    return updates, now


@dataclass
class PollPart:
    """One part of the poll: ``fn(*inputs, request)`` returns one value per output."""

    fn: Callable[..., list[Any]]
    inputs: list[Any]
    outputs: list[Any]


@dataclass
class Poll:
    """The parts that one timer event refreshes, in the order they were added."""

    parts: list[PollPart] = field(default_factory=list)
    scripts: list[tuple[str, list[Any]]] = field(default_factory=list)
    """JavaScript run in the page after each answer: (code, inputs)."""

    def add(self, fn: Callable[..., list[Any]], inputs: list[Any], outputs: list[Any]) -> None:
        self.parts.append(PollPart(fn, list(inputs), list(outputs)))

    def add_script(self, code: str, inputs: list[Any]) -> None:
        self.scripts.append((code, list(inputs)))

    @property
    def inputs(self) -> list[Any]:
        """Every part's inputs, each component once (several parts read the selected job and the language)."""
        unique: list[Any] = []
        for component in (component for part in self.parts for component in part.inputs):
            if not any(component is seen for seen in unique):
                unique.append(component)
        return unique

    @property
    def outputs(self) -> list[Any]:
        return [component for part in self.parts for component in part.outputs]

    def positions(self) -> list[list[int]]:
        """For each part, where its inputs stand in :attr:`inputs`."""
        inputs = self.inputs
        return [[next(index for index, component in enumerate(inputs) if component is wanted) for wanted in part.inputs]
                for part in self.parts]

    def answer(self, request: gr.Request | None, values: list[Any], positions: list[list[int]] | None = None) -> list[Any]:
        """Every part's outputs for ``values`` (one per :attr:`inputs`; ``positions``: :meth:`positions`, worked out once by
        :meth:`wire`); a part that fails leaves its outputs as they are (logged), so one broken part never stops the others."""
        answers: list[Any] = []
        for part, places in zip(self.parts, positions if positions is not None else self.positions(), strict=True):
            try:
                answers += list(part.fn(*[values[place] for place in places], request))
            except Exception:  # noqa: BLE001 - a part's bug must not freeze the rest of the page
                log.exception("the poll's part %s failed", getattr(part.fn, "__qualname__", part.fn))
                answers += [gr.update() for _ in part.outputs]
        return answers

    def wire(self) -> gr.Timer:
        """The page's timer (every :data:`POLL_SECONDS`) and its one ``tick`` event for every part, then the scripts (in the
        page: no server event of their own). Call it at the top level of the Blocks, outside the tabs: a timer inside a tab
        starts only once that tab has been opened, and the guide's title and end-of-job notices would wait for it."""
        timer = gr.Timer(POLL_SECONDS)
        positions = self.positions()

        def tick(request: gr.Request, *values: Any) -> list[Any]:
            return self.answer(request, list(values), positions)

        event = timer.tick(tick, self.inputs, self.outputs, api_visibility="private", show_progress="hidden", concurrency_limit=None)
        for code, inputs in self.scripts:
            event = event.then(None, inputs, None, js=code, api_visibility="private")
        return timer


__all__ = ["POLL_SECONDS", "Poll", "PollPart", "changed_only", "fingerprint"]
