"""The documentation cannot drift: the spec reference is regenerated and compared, the README stays a front door,
and every relative link and image in README.md and docs/ points to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.spec.reference import DOCS_PATH, REGENERATE_COMMAND, spec_reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 150

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_targets(text: str) -> list[str]:
    """The targets of Markdown links and images that point into the repository (no URLs, no bare #anchors)."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return [target for target in _LINK.findall(text) if not _EXTERNAL.match(target) and not target.startswith("#")]


def test_spec_reference_is_generated_from_the_schema() -> None:
    committed = ROOT / DOCS_PATH
    expected = spec_reference_markdown().encode("utf-8")
    assert committed.is_file(), f"{DOCS_PATH} is missing; generate it with: {REGENERATE_COMMAND}"
    assert committed.read_bytes() == expected, (
        f"{DOCS_PATH} no longer matches the JobSpec schema; regenerate it with: {REGENERATE_COMMAND} (then commit it)")


def test_readme_is_a_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it at most {README_MAX_LINES} and move the details into docs/")


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(page: Path) -> None:
    broken = []
    for target in relative_targets(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to files that do not exist: {broken}"


def test_the_link_check_sees_links_and_images() -> None:
    sample = "See [the guide](docs/a.md#x), ![a shot](b.png \"title\") and [the web](https://example.org).\n" \
             "`[not](a-link.md)`\n```\n[also not](c.md)\n```\n[anchor](#here)\n"
    assert relative_targets(sample) == ["docs/a.md#x", "b.png"]
