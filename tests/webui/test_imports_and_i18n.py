"""Static checks: webui/ stays a UI layer (ast), both languages have the same keys, the form round-trips a spec."""

from __future__ import annotations

import ast
from pathlib import Path

from jobs.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_WEBUI = {"torch", "transformers", "subprocess", "peft", "diffusers", "multiprocessing"}


def imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_webui_never_imports_training_libraries_or_subprocess() -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN_IN_WEBUI) for path in (ROOT / "webui").rglob("*.py")}
    assert not {name: bad for name, bad in offenders.items() if bad}


def test_jobs_and_storage_never_import_gradio() -> None:
    offenders = [str(path.relative_to(ROOT)) for folder in ("jobs", "storage") for path in (ROOT / folder).rglob("*.py")
                 if {"gradio", "gradio_client", "webui"} & imported_top_levels(path)]
    assert not offenders


def test_every_webui_module_has_a_docstring() -> None:
    assert all(ast.get_docstring(ast.parse(path.read_text())) for path in (ROOT / "webui").glob("*.py") if path.stat().st_size)


def test_english_and_portuguese_have_the_same_keys() -> None:
    from webui.i18n import STRINGS

    english, portuguese = set(STRINGS["en"]), set(STRINGS["pt-BR"])
    assert english == portuguese, f"missing in pt-BR: {sorted(english - portuguese)}; extra: {sorted(portuguese - english)}"
    assert all(STRINGS["pt-BR"][key].strip() for key in portuguese)
    assert all(STRINGS["en"][key].count("{") == STRINGS["pt-BR"][key].count("{") for key in english), "placeholders must match"


def test_form_is_built_from_the_schema_and_round_trips_a_spec() -> None:
    from webui.spec_form import schema_fields, spec_to_values, values_to_spec

    fields = schema_fields()
    paths = {field.path for field in fields}
    assert {"training.learning_rate", "lora.r", "prompt_tuning.num_virtual_tokens", "method"} <= paths
    lr = next(field for field in fields if field.path == "training.learning_rate")
    assert lr.maximum == 1.0 and lr.description
    spec = parse_spec({"base_model": "m", "method": "lora", "data": {"train": "d.jsonl", "validation": 0.1, "columns": {"prompt": "q"}},
                       "training": {"max_steps": 7, "learning_rate": 0.01}, "lora": {"target_modules": ["q_proj", "v_proj"]}})
    values = spec_to_values(fields, spec)
    again = parse_spec(values_to_spec(fields, values, base_model="m", train="d.jsonl", columns={"prompt": "q"}))
    assert again == spec


def test_no_widget_shows_a_string_key_instead_of_its_text() -> None:
    """A label made from a key missing in the string tables shows the raw key ("data.role.reasoning"): none may, in either language."""
    import re

    from webui.app import build_app

    key_like = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
    config = build_app().get_config_file()
    shown = [(component.get("props", {}).get("elem_id"), name, value) for component in config["components"]
             for name, value in component.get("props", {}).items() if name in ("label", "info", "placeholder", "value")
             and isinstance(value, str) and key_like.match(value) and not value.endswith((".jsonl", ".yaml", ".csv"))]
    assert not shown, shown
