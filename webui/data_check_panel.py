"""The Data tab's "Check data" step: the data doctor's findings for the loaded file, and "Fix", which saves a cleaned copy.

Shown with the loaded file's report. "Check data" runs the data doctor (:mod:`jobs.data.doctor`) in a process of its own with a
time limit (:func:`webui.api_data.check_data_action`), with the Train tab's model and max length when they are set (else
without the length check, saying so), and shows each finding (what, how many, the rows, three examples, what "Fix" does),
the token-length histogram with what the current max length cuts, label counts and languages. "Fix" writes a cleaned copy
into the caller's uploads (the file checked stays as it was), picks it as the data file and says what it removed and masked.
A file found to hold secrets is refused by the Submit pre-flight until it is fixed. Nothing empty is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from jobs.errors import AdaptaError
from webui.access import caller_of
from webui.api_caller import public_paths
from webui.api_data import check_data_action, previous_uploads
from webui.i18n import Registry, t

ROWS_SHOWN = 12
"""A finding's row numbers shown in the table (the count says how many there are)."""
FINDING_KEYS = ("check.col.what", "check.col.count", "check.col.rows", "check.col.examples", "check.col.fix")
FINDING_WIDTHS = ["22%", "7%", "13%", "38%", "20%"]
SEVERITY_MARK = {"block": "⛔", "fix": "🛠️", "warn": "⚠️", "info": "ℹ️"}


@dataclass
class DataCheckPanel:
    box: gr.Group
    run: gr.Button
    status: gr.Markdown
    findings: gr.Dataframe
    lengths: gr.Markdown
    histogram: gr.BarPlot
    balance: gr.Markdown
    fix: gr.Button
    fixed: gr.Markdown
    result: gr.State
    """The last check's dict (with ``checked_path`` and, after "Fix", ``fixed_path``)."""

    @property
    def outputs(self) -> list[Any]:
        """What a check or a fix updates, in :func:`check_view`'s order."""
        return [self.status, self.findings, self.lengths, self.histogram, self.balance, self.fix, self.fixed, self.result]


def build(r: Registry) -> DataCheckPanel:
    with gr.Group(elem_id="data-check") as box:
        r.markdown("check.intro")
        with gr.Row():
            run = r.button("check.run", elem_id="data-check-run", scale=0)
            fix = r.button("check.fix", variant="primary", visible=False, elem_id="data-check-fix", scale=0)
        status = gr.Markdown(elem_id="data-check-status")
        fixed = gr.Markdown(visible=False, elem_id="data-check-fixed")
        findings = gr.Dataframe(interactive=False, wrap=True, visible=False, max_height=360, column_widths=FINDING_WIDTHS,
                                elem_id="data-check-findings")
        with gr.Row():
            lengths = gr.Markdown(visible=False, elem_id="data-check-lengths")
            histogram = r.make(gr.BarPlot, "check.histogram", x="tokens", y="rows", sort=None, visible=False, elem_id="data-check-histogram")
        balance = gr.Markdown(visible=False, elem_id="data-check-balance")
    return DataCheckPanel(box, run, status, findings, lengths, histogram, balance, fix, fixed, gr.State({}))


def kind_name(kind: str, lang: str) -> str:
    """How the UI names a finding's kind ("Duplicates", "E-mail addresses" ...), in ``lang``."""
    key = f"check.kind.{kind}"
    name = t(lang, key)
    return kind.replace("_", " ").capitalize() if name == key else name


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(row) for row in rows[:ROWS_SHOWN])
    return f"{shown} … (+{len(rows) - ROWS_SHOWN:,})" if len(rows) > ROWS_SHOWN else shown


def findings_frame(result: dict[str, Any], lang: str) -> pd.DataFrame:
    """One row per finding: what (with its severity and file), how many, the rows, three examples, what "Fix" does."""
    columns = [t(lang, key) for key in FINDING_KEYS]
    rows = []
    for finding in result.get("findings", []):
        side = f" ({t(lang, 'check.in_validation')})" if finding.get("file") == "validation" else ""
        rows.append([f"{SEVERITY_MARK.get(finding['severity'], '')} {kind_name(finding['kind'], lang)}{side}", len(finding["rows"]),
                     _rows_text(finding["rows"]), " · ".join(finding.get("examples", [])[:3]), finding.get("action", "")])
    return pd.DataFrame(rows, columns=columns)


def histogram_frame(lengths: dict[str, Any] | None) -> pd.DataFrame:
    """The token-length histogram's bars: ``≤ upper bound`` tokens, rows."""
    bins = (lengths or {}).get("histogram") or []
    return pd.DataFrame({"tokens": [f"≤{int(upper)}" for upper, _ in bins], "rows": [int(count) for _, count in bins]})


def lengths_text(result: dict[str, Any], lang: str) -> str:
    """What the current max length cuts and the max length that keeps 95 % whole, or why lengths were not checked."""
    lengths = result.get("lengths")
    if not lengths:
        return t(lang, "check.no_lengths", why=result.get("no_lengths") or t(lang, "check.no_model"))
    prompt, answer = len(lengths["cut_in_prompt"]), len(lengths["cut_in_answer"])
    if prompt + answer == 0:
        return t(lang, "check.lengths_ok", max_length=lengths["max_length"], keeps=lengths["keeps_95_percent"])
    return t(lang, "check.lengths_cut", max_length=lengths["max_length"], rows=prompt + answer, prompt=prompt, answer=answer,
             keeps=lengths["keeps_95_percent"])


def balance_text(result: dict[str, Any], lang: str) -> str:
    """Label counts, languages and images per aspect-ratio bucket, or "" when the check has none of them."""
    lines = []
    if result.get("labels"):
        lines.append(t(lang, "check.labels") + " " + ", ".join(f"{name}: {count:,}" for name, count in result["labels"].items()))
    if result.get("languages"):
        ordered = sorted(result["languages"].items(), key=lambda item: -item[1])
        lines.append(t(lang, "check.languages") + " " + ", ".join(f"{code}: {count:,}" for code, count in ordered))
    if result.get("buckets"):
        lines.append(t(lang, "check.buckets") + " " + ", ".join(f"{size}: {count:,}" for size, count in result["buckets"].items()))
    return "\n\n".join(lines)


def status_text(result: dict[str, Any], lang: str) -> str:
    """The check's one line: clean, findings, or secrets that block training."""
    rows = int(result.get("train_rows", 0)) + int(result.get("validation_rows", 0))
    seconds = f"{float(result.get('seconds', 0)):.1f}"
    if result.get("blocks_training"):
        return f"⛔ {t(lang, 'check.blocked', summary=result.get('summary', ''), seconds=seconds)}"
    if not result.get("findings"):
        return f"✅ {t(lang, 'check.clean', rows=f'{rows:,}', seconds=seconds)}"
    return f"⚠️ {t(lang, 'check.found', summary=result.get('summary', ''), seconds=seconds)}"


def check_view(result: dict[str, Any], lang: str) -> list[Any]:
    """Outputs of :attr:`DataCheckPanel.outputs` for a check's dict (each part shown only when it has something to show)."""
    findings = findings_frame(result, lang)
    lengths = result.get("lengths")
    bars = histogram_frame(lengths)
    balance = balance_text(result, lang)
    fixable = any(finding["severity"] in ("block", "fix") for finding in result.get("findings", []))
    return [status_text(result, lang), gr.update(value=findings, visible=not findings.empty),
            gr.update(value=lengths_text(result, lang), visible=True), gr.update(value=bars, visible=not bars.empty, sort=list(bars["tokens"])),
            gr.update(value=balance, visible=bool(balance)), gr.update(visible=fixable), gr.update(value="", visible=False), result]


def _refused(error: Exception, result: dict[str, Any]) -> list[Any]:
    return [f"❌ {public_paths(str(error))}", *[gr.update()] * 6, result]


def wire(panel: DataCheckPanel, lang: gr.State, path: gr.State, fmt: gr.Component, roles: list[gr.Component], task: gr.Component,
         model_ref: gr.Component, max_length: gr.Component | None, previous: gr.Dropdown,
         mapping_of: Callable[..., dict[str, str]]) -> Any:
    """Check, Fix, and a reset when another file is loaded. Returns the Fix event, for the tab to show the fixed file's report
    after it (``previous`` holds the fixed file once it is stored)."""
    length_inputs = [max_length] if max_length is not None else []

    def settings(fmt_value: str, role_values: tuple[Any, ...]) -> tuple[str, dict[str, str]]:
        chosen = fmt_value or "auto"
        return chosen, (mapping_of(chosen, *role_values) if chosen != "auto" else {})

    def checked(path_value: str, fmt_value: str, task_value: str, ref: str, language: str, result: dict[str, Any], request: gr.Request,
                progress: gr.Progress, rest: tuple[Any, ...], fix: bool) -> list[Any]:
        limit, role_values = (rest[0], rest[1:]) if length_inputs else (None, rest)
        if not path_value:
            return [f"⚠️ {t(language, 'data.none')}", *[gr.update()] * 6, result]
        chosen, mapping = settings(fmt_value, role_values)
        try:
            found = check_data_action(path_value, caller_of(request), format=chosen, task=task_value or "causal-lm", columns=mapping,
                                        model=ref, max_length=int(limit) if limit else None, fix=fix,
                                        on_progress=lambda done, what: progress(done, desc=what), earlier=result if fix else None)
        except AdaptaError as error:
            return _refused(error, result)
        return check_view(found, language)

    def run_check(path_value: str, fmt_value: str, task_value: str, ref: str, language: str, result: dict[str, Any], request: gr.Request,
                  progress: gr.Progress = gr.Progress(), *rest: Any) -> list[Any]:
        return checked(path_value, fmt_value, task_value, ref, language, result, request, progress, rest, fix=False)

    inputs = [path, fmt, task, model_ref, lang, panel.result, *length_inputs, *roles]
    panel.run.click(run_check, inputs, panel.outputs, api_visibility="private", concurrency_limit=2, concurrency_id="data_check")

    def run_fix(path_value: str, fmt_value: str, task_value: str, ref: str, language: str, result: dict[str, Any], request: gr.Request,
                progress: gr.Progress = gr.Progress(), *rest: Any) -> list[Any]:
        outputs = checked(path_value, fmt_value, task_value, ref, language, result, request, progress, rest, fix=True)
        done = outputs[-1]
        fixed_path = done.get("fixed_path") if isinstance(done, dict) else None
        if not fixed_path:
            return [*outputs, gr.update()]
        fix = done["fix"]
        outputs[5] = gr.update(visible=False)
        outputs[6] = gr.update(value=t(language, "check.fixed", name=Path(fixed_path).name, removed=fix["removed"], masked=fix["masked"],
                                       summary=fix["summary"], source=Path(path_value).name), visible=True)
        return [*outputs, gr.update(choices=previous_uploads(caller_of(request)), value=fixed_path)]

    fixed = panel.fix.click(run_fix, inputs, [*panel.outputs, previous], api_visibility="private", concurrency_limit=2,
                            concurrency_id="data_check")

    def another_file(path_value: str, result: dict[str, Any]) -> list[Any]:
        """A file other than the one checked (or fixed into) was loaded: the panel starts empty again."""
        if path_value and path_value in (result.get("checked_path"), result.get("fixed_path")):
            return [gr.update()] * len(panel.outputs)
        return ["", gr.update(visible=False), gr.update(visible=False), gr.update(visible=False), gr.update(visible=False),
                gr.update(visible=False), gr.update(value="", visible=False), {}]

    path.change(another_file, [path, panel.result], panel.outputs, api_visibility="private", show_progress="hidden")
    return fixed
