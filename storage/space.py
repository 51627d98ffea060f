"""Running as a Hugging Face Space: where the data home goes and what to warn about.

On a Space (``SPACE_ID`` is set) the data home defaults to ``/data/adapta`` when persistent storage is
mounted at ``/data``; otherwise it stays on the Space's ephemeral disk and a warning says that jobs and
uploads vanish on restart. SQLite's WAL mode needs a local file system: a ``/data`` that is a network or
FUSE mount (nfs, cifs, fuse.*) gets a warning to point ``ADAPTA_DB_URL`` at PostgreSQL instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PERSISTENT_ROOT = Path("/data")
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "9p", "fuse", "ceph", "glusterfs", "s3fs")


@dataclass(frozen=True)
class SpaceSettings:
    """What the environment says about where Adapta runs."""

    on_space: bool
    home: Path | None
    warnings: list[str] = field(default_factory=list)


def mount_type(path: Path, mounts_file: Path = Path("/proc/mounts")) -> str | None:
    """The file-system type of the longest mount point containing ``path`` (None when unknown)."""
    try:
        lines = mounts_file.read_text().splitlines()
    except OSError:
        return None
    best: tuple[int, str] | None = None
    target = str(path.resolve()) if path.exists() else str(path)
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and (target == parts[1] or target.startswith(parts[1].rstrip("/") + "/")):
            if best is None or len(parts[1]) > best[0]:
                best = (len(parts[1]), parts[2])
    return best[1] if best else None


def space_settings(persistent_root: Path | None = None, mounts_file: Path = Path("/proc/mounts")) -> SpaceSettings:
    """The Space's data-home default and warnings; ``on_space`` is False (and nothing changes) elsewhere."""
    persistent_root = persistent_root or PERSISTENT_ROOT
    if not os.environ.get("SPACE_ID"):
        return SpaceSettings(on_space=False, home=None)
    warnings: list[str] = []
    if persistent_root.is_dir() and os.access(persistent_root, os.W_OK):
        home = persistent_root / "adapta"
        kind = mount_type(persistent_root, mounts_file) or ""
        if kind.split(".")[0] in NETWORK_FILESYSTEMS:
            warnings.append(
                f"{persistent_root} is a {kind} mount, where SQLite's WAL mode is unsafe; "
                "set ADAPTA_DB_URL to a PostgreSQL server (jobs and uploads can stay on it)"
            )
        return SpaceSettings(on_space=True, home=home, warnings=warnings)
    warnings.append("this Space has no persistent storage at /data: jobs, uploads and trained models are lost when it restarts")
    return SpaceSettings(on_space=True, home=None, warnings=warnings)
