"""The "Run on Hugging Face Jobs" part of the Train tab: hardware flavor, Space image, target repo, token, send.

The job is recorded in the same Jobs table and its status follows the remote job (see ``jobs.queue.hf_jobs``). The token
field may stay empty on a Space where the user signed in with Hugging Face (the sign-in token is used then); it is
handed to the Hub for this one job and never stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gradio as gr

from jobs.errors import AdaptaError, SpecError
from jobs.queue.hf_jobs import DEFAULT_FLAVOR, FLAVORS
from webui.access import caller_hub_token, caller_of
from webui.api import submit_remote_action
from webui.i18n import Registry, t
from webui.train_tab import form_spec


@dataclass
class RemoteSection:
    flavor: gr.Dropdown
    space: gr.Textbox
    push_repo: gr.Textbox
    token: gr.Textbox
    send: gr.Button
    status: gr.Markdown


def build(r: Registry) -> RemoteSection:
    with r.make(gr.Accordion, "remote.title", open=False, elem_id="remote"):
        r.markdown("remote.intro")
        with gr.Row():
            flavor = r.make(gr.Dropdown, "remote.flavor", choices=list(FLAVORS), value=DEFAULT_FLAVOR, elem_id="remote-flavor")
            space = r.make(gr.Textbox, "remote.space", value=os.environ.get("SPACE_ID", ""), placeholder="OWNER/NAME", elem_id="remote-space")
            push_repo = r.make(gr.Textbox, "remote.push_repo", placeholder="OWNER/NAME", elem_id="remote-push-repo")
            token = r.make(gr.Textbox, "share.token", type="password", elem_id="remote-token")
        send = r.button("remote.send", elem_id="remote-send")
        status = gr.Markdown(elem_id="remote-status")
    return RemoteSection(flavor, space, push_repo, token, send, status)


def wire(section: RemoteSection, train: Any, lang: gr.State, on_submitted: list[Any], submitted_fn: Any) -> None:
    """``train`` is the Train tab (its form makes the spec); ``submitted_fn(job_id, caller)`` updates ``on_submitted``."""
    def send(language: str, flavor: str, space: str, push_repo: str, token: str, request: gr.Request, oauth_token: gr.OAuthToken | None,
             *values: Any) -> list[Any]:
        caller = caller_of(request)
        unchanged = [gr.update()] * len(on_submitted)
        try:
            spec = form_spec(train, list(values))
            typed = caller_hub_token(token, oauth_token)
            job_id = submit_remote_action(spec, caller, typed, push_repo, flavor, space)
        except SpecError as error:
            return ["❌ " + "\n\n❌ ".join(error.problems), *unchanged]
        except AdaptaError as error:
            return [f"❌ {error}", *unchanged]
        return [f"✅ {t(language, 'remote.sent', id=job_id, flavor=flavor)}", *submitted_fn(job_id, caller)]

    section.send.click(send, [lang, section.flavor, section.space, section.push_repo, section.token, *train.form_inputs],
                       [section.status, *on_submitted], api_visibility="private")
