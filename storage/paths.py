"""The data home: where uploads, runs and converted models live.

``ADAPTA_HOME`` (default ``./data``) holds::

    adapta.db            the SQLite database (unless ADAPTA_DB_URL points elsewhere)
    uploads/<id>/        uploaded datasets, one folder each
    runs/<job>/          one folder per job: spec.yaml, metrics.jsonl, checkpoints/, adapter/ or model/
    models/              models converted or merged by Adapta (e.g. GGUF dequantised to safetensors)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class DataHome:
    """The folders of one data home; ``ensure()`` creates them."""

    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def database_file(self) -> Path:
        return self.root / "adapta.db"

    def ensure(self) -> DataHome:
        for folder in (self.root, self.uploads, self.runs, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def run_dir(self, job_id: int | str) -> Path:
        """The run folder of one job, ``runs/<job>/``."""
        return self.runs / safe_name(str(job_id))

    def model_dir(self, name: str) -> Path:
        """A folder under ``models/`` for a converted or merged model."""
        return self.models / safe_name(name)

    def merged_model_dir(self, job_id: int | str) -> Path:
        """Where a job's LoRA merged into its base is saved (``models/job-<id>-merged``), so it shows in the local catalog."""
        return self.model_dir(f"job-{job_id}-merged")

    def contains(self, path: Path) -> bool:
        """True when ``path`` resolves inside the data home (no ``..`` or symlink escapes)."""
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True


def safe_name(name: str) -> str:
    """A file-system name made of letters, digits, dot, dash and underscore; raises on anything else."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:128]
    if not cleaned or not _SAFE_NAME.match(cleaned):
        raise ValueError(f"cannot make a safe folder name from {name!r}")
    return cleaned


def data_home(root: str | Path | None = None) -> DataHome:
    """The data home from ``root``, else ``ADAPTA_HOME``, else ``/data/adapta`` on a Space with storage, else ``./data``."""
    chosen = root if root is not None else os.environ.get("ADAPTA_HOME")
    if chosen is None:
        from storage.space import space_settings

        chosen = space_settings().home or "data"
    return DataHome(Path(chosen).expanduser().absolute()).ensure()
