"""The data home: where uploads, runs and converted models live.

``ADAPTA_HOME`` (default ``./data``) holds::

    adapta.db            the SQLite database (unless ADAPTA_DB_URL points elsewhere)
    uploads/users/<owner>/<sha>/   uploaded datasets, one folder per owner and content (equal bytes of two users stay two copies)
    uploads/hub/         local copies of Hub dataset splits (per reader)
    runs/<job>/          one folder per job: spec.yaml, metrics.jsonl, checkpoints/, adapter/ or model/
    models/              models converted or merged by Adapta (e.g. GGUF dequantised to safetensors); a folder named
                         ``job-<id>-...`` is derived from that job and belongs to the job's owner
    exports/<owner>/     download zips of that owner's jobs (folders 0o700, files 0o600), replaced per job and kind
    downloads/<owner>.json  the Hub models that owner downloaded with "Download now" (a shared server lists only those)
    device-key           the key that signs "known device" sign-in cookies (webui/known_devices.py; mode 0o600)
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from storage.space import space_settings

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_JOB_MODEL = re.compile(r"^job-(\d+)-")


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

    def upload_dir(self, owner: str, digest: str) -> Path:
        """The folder of one owner's upload with content hash ``digest`` (``uploads/users/<owner>/<digest[:16]>``): never shared
        between owners, so one user's failed or deleted upload cannot touch another's file with the same bytes."""
        return self.owner_uploads(owner) / safe_name(digest[:16])

    def owner_uploads(self, owner: str) -> Path:
        """The folder of every upload of one owner, ``uploads/users/<owner>/`` (what their upload quota counts)."""
        return self.uploads / "users" / safe_name(owner)

    def export_dir(self, owner: str) -> Path:
        """The folder of one owner's export zips, ``exports/<owner>/``: one per owner, so a zip never reaches another user."""
        return self.root / "exports" / safe_name(owner)

    def download_record(self, owner: str) -> Path:
        """The file that lists the Hub models one owner downloaded, ``downloads/<owner>.json``."""
        return self.root / "downloads" / f"{safe_name(owner)}.json"

    def job_of_model(self, path: str | Path) -> int | None:
        """The job a model under ``models/`` was derived from (``models/job-<id>-merged`` and anything inside it), else None."""
        try:
            relative = Path(path).expanduser().resolve().relative_to(self.models.resolve())
        except (ValueError, OSError):
            return None
        match = _JOB_MODEL.match(relative.parts[0]) if relative.parts else None
        return int(match.group(1)) if match else None

    def remove_job_models(self, job_id: int | str) -> list[Path]:
        """Delete every folder under ``models/`` derived from one job (its merged model, half-written ones too); the removed paths."""
        if not self.models.is_dir():
            return []
        removed = [folder for folder in self.models.iterdir() if (match := _JOB_MODEL.match(folder.name)) and int(match.group(1)) == int(job_id)]
        for folder in removed:
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
        return removed

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
        chosen = space_settings().home or "data"
    return DataHome(Path(chosen).expanduser().absolute()).ensure()
