"""The data doctor's single checks: personal data and secrets (found, not found, masked), images, and the command line."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import launch
from jobs.data.doctor import check_data
from jobs.data.doctor.cli import run_data_check
from jobs.data.doctor.sensitive import find_sensitive, mask_sensitive
from storage.paths import DataHome
from tests.jobs.data.test_doctor import planted

FOUND = [
    ("write to ana.silva@example.com.br today", "email"),
    ("CPF 529.982.247-25", "cpf"), ("cpf 52998224725", "cpf"),
    ("CNPJ 11.222.333/0001-81", "cnpj"),
    ("card 4111 1111 1111 1111", "card"), ("card 5500-0000-0000-0004", "card"),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "iban"), ("GB82WEST12345698765432", "iban"),
    ("server 192.168.1.20", "ip_address"), ("host 2001:db8:85a3::8a2e:370:7334", "ip_address"),
    ("ligue (11) 98765-4321", "phone"), ("call +1 415-555-2671", "phone"), ("call me at 415 555 0132", "phone"),
    ("(11) 98765-4321", "phone"), ("tel: 4155550132", "phone"), ("meu whatsapp é 11987654321", "phone"),
    ("Contato: 1132654321", "phone"),
    ("token hf_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz12", "secret"), ("key AKIAIOSFODNN7EXAMPLE", "secret"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "secret"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----", "secret"),
]
NOT_FOUND = ["CPF 529.982.247-26", "card 4111 1111 1111 1112", "IBAN DE89 3704 0044 0532 0130 01", "localhost 127.0.0.1",
             "version 1.2.3 released on 2024-01-15", "order 12345", "CNPJ 11.222.333/0001-82",
             "a long word: internationalization", "https://example.com/how-to-fine-tune-a-model",
             "order 4155550132 shipped", "pedido 11987654321 enviado", "created at 1733529600"]
"""Bare digit runs that phonenumbers calls valid (an order id, a Brazilian mobile's digits as an order number, a unix
timestamp) are phones only with a phone word before them or a phone's formatting."""


@pytest.mark.parametrize("text, kind", FOUND)
def test_personal_data_and_secrets_are_found_and_masked(text: str, kind: str) -> None:
    matches = find_sensitive(text)
    assert [match.kind for match in matches] == [kind]
    masked, count = mask_sensitive(text)
    assert count == 1 and f"<{'IP' if kind == 'ip_address' else kind.upper()}>" in masked
    assert text[matches[0].start:matches[0].end] not in masked


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_with_wrong_check_digits_are_not_reported(text: str) -> None:
    assert find_sensitive(text) == []


def _png(colour_seed: int, size: int = 64) -> bytes:
    image = Image.effect_noise((size, size), 60 + colour_seed * 40).convert("RGB")
    if colour_seed % 2:
        image = image.transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_duplicates_missing_captions_and_small_images(tmp_path: Path) -> None:
    first = _png(0)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("photos/a.png", first)
        zipped.writestr("photos/a.txt", "a photo of sks dog on grass")
        zipped.writestr("photos/b.png", first)  # the same picture again
        zipped.writestr("photos/b.txt", "a photo of sks dog in the snow")
        zipped.writestr("photos/c.png", _png(1))  # no caption
    check = check_data(archive, resolution=128, home=DataHome(tmp_path / "home"))
    assert check.format == "images" and check.train_rows == 3
    assert {f.kind: f.rows for f in check.findings} == {"image_duplicate": [2], "caption_missing": [3], "image_too_small": [1, 2]}
    assert "b.png" in check.findings[0].examples[0]


def test_images_are_counted_per_aspect_ratio_bucket_and_a_bucket_of_one_is_a_note(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    folder.mkdir()
    shapes = [("a", (64, 64)), ("b", (64, 64)), ("c", (128, 64)), ("d", (64, 64)), ("e", (96, 40))]
    for number, (name, size) in enumerate(shapes):
        (folder / f"{name}.png").write_bytes(_png(number, size=64))
        if size != (64, 64):
            Image.open(folder / f"{name}.png").resize(size).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(f"a photo of shape {name}", encoding="utf-8")
    check = check_data(folder, resolution=64, home=DataHome(tmp_path / "home"))
    assert check.buckets == {"64x64": 3, "88x40": 1, "96x40": 1}  # at 64 px, steps of 8 px (an eighth below 256 px)
    assert {f.kind: f.rows for f in check.findings} == {"single_image_bucket": [3, 5]}  # e (40 px high) fills its bucket
    note = check.findings[0]
    assert note.severity == "info" and "c.png" in note.examples[0] and "88x40" in note.examples[0]
    assert type(check).from_dict(json.loads(json.dumps(check.to_dict()))).buckets == check.buckets
    square = check_data(folder, resolution=64, home=DataHome(tmp_path / "home"), aspect_buckets=False)
    assert square.buckets is None and {f.kind: f.rows for f in square.findings} == {"image_too_small": [5]}  # 40 px < 64 px


def test_the_command_line_prints_json_exits_2_on_secrets_and_fixes(tmp_path: Path) -> None:
    train, validation = planted(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    status = run_data_check(train, validation, as_json=True, fix=True, out_dir=tmp_path / "fixed", stdout=out, stderr=err)
    payload = json.loads(out.getvalue())
    assert status == 2 and payload["blocks_training"] and payload["fix"]["removed"] == 5
    assert {(f["kind"], tuple(f["rows"])) for f in payload["findings"]} >= {("secret", (17,)), ("exact_duplicate", (5,))}
    text = io.StringIO()
    assert run_data_check(Path(payload["fix"]["train"]), stdout=text, stderr=io.StringIO()) == 0
    assert "no problems found in 21 rows" in text.getvalue()


def test_launch_data_check_measures_lengths_with_the_models_tokenizer(tmp_path: Path, tiny_llama: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    train, _ = planted(tmp_path)
    status = launch.main(["data-check", str(train), "--model", str(tiny_llama), "--max-length", "256", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert status == 2 and payload["lengths"]["cut_in_answer"] == [18] and payload["lengths"]["cut_in_prompt"] == [19]
    assert {f["kind"]: f["rows"] for f in payload["findings"]}["too_long"] == [18, 19]
