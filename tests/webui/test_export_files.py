"""Export tab files: repeated exports do not grow the disk, GGUF export from the tab shows sizes and verdicts, Gradio's cache is cleaned."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from gradio.processing_utils import save_file_to_cache

from tests.finished_jobs import train_counting_job
from webui.access import LOCAL_CALLER
from webui.api_files import adapter_zip, export_folder


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def finished_job(tiny_llama: Path, tmp_path: Path) -> int:
    return train_counting_job(tiny_llama, tmp_path, "export-me")[0]


def test_repeated_zip_exports_do_not_grow_the_disk(finished_job: int, tmp_path: Path) -> None:
    temp_dirs_before = set(Path(tempfile.gettempdir()).glob("adapta-export-*"))
    cache = tmp_path / "gradio-cache"
    first = Path(adapter_zip(finished_job, LOCAL_CALLER))
    used = folder_bytes(export_folder())
    cached = {save_file_to_cache(first, str(cache))}  # what Gradio does with the returned file
    for _ in range(4):
        again = Path(adapter_zip(finished_job, LOCAL_CALLER))
        assert again == first
        cached.add(save_file_to_cache(again, str(cache)))
    assert folder_bytes(export_folder()) == used, "each export must replace the job's zip, not add another"
    assert [path.name for path in export_folder().glob(f"job-{finished_job}-*.zip")] == [first.name]
    assert len(cached) == 1 and len([path for path in cache.rglob("*") if path.is_file()]) == 1, "an unchanged zip is cached once"
    assert set(Path(tempfile.gettempdir()).glob("adapta-export-*")) == temp_dirs_before, "no fresh temporary folder per click"


def test_old_export_files_are_pruned(finished_job: int) -> None:
    import os
    import time

    stale = export_folder() / "job-999-adapter.zip"
    stale.write_bytes(b"x" * 1000)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    adapter_zip(finished_job, LOCAL_CALLER)
    assert not stale.exists()


def test_gguf_export_from_the_tab_lists_sizes_verdicts_and_serves_links_not_copies(finished_job: int) -> None:
    from webui.export_tab import export_gguf

    status, files = export_gguf(str(finished_job), ["q8_0"], "en", None, progress=lambda *args, **kwargs: None)
    assert status.startswith(f"✅ GGUF export of job {finished_job} in "), status
    assert "| q8_0 | `export-me-Q8_0.gguf` |" in status and "✅ passed |" in status and "ollama create NAME -f Modelfile" in status
    assert [Path(path).name for path in files] == ["export-me-Q8_0.gguf", "Modelfile", "gguf_verification.json"]
    served = Path(files[0])
    assert served.is_relative_to(export_folder())
    assert served.stat().st_nlink >= 2, "the download is a hard link to the exported file, not a second copy"
    status_pt, again = export_gguf(str(finished_job), ["q8_0"], "pt-BR", None, progress=lambda *args, **kwargs: None)
    assert status_pt.startswith(f"✅ Exportação GGUF da tarefa {finished_job}") and again == files


def test_the_app_cleans_gradios_cache_and_offers_export_gguf() -> None:
    from webui.app import build_app
    from webui.export_tab import CACHE_CLEANUP

    demo = build_app()
    assert demo.delete_cache == CACHE_CLEANUP
    assert "export_gguf" in {getattr(fn, "api_name", None) for fn in demo.fns.values()}
