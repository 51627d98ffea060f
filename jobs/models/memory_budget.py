"""The memory a new training job may use here: the device's total, minus what running jobs hold, minus a reserve.

:func:`cpu_training_budget` is the CPU figure to compare with :attr:`jobs.models.memory.MemoryEstimate.total`: total RAM minus
the resident memory of Adapta's running training children (not psutil's momentary ``available``, which swings with the page
cache), minus :func:`budget_memory`'s reserve for the process runtime the estimate leaves out.

    from jobs.models.memory_budget import cpu_training_budget
    device, budget = cpu_training_budget()   # ("CPU (16.0 GB RAM, 14.4 GB for a new job)", 14_400_000_000)
"""

from __future__ import annotations

import os

from jobs.models.memory import format_bytes


def budget_memory(device_total_bytes: int, held_by_running_jobs_bytes: int = 0, *, reserve_bytes: int | None = None) -> int:
    """Bytes a new training job may use: the device's total, minus what running jobs hold, minus a reserve.

    The reserve (default: 10 % of the total, at least 1 GB) covers the process runtime the estimate leaves
    out (Python, torch and transformers, ~0.5 GB per process; the CUDA context on a GPU) and the system.
    """
    if device_total_bytes <= 0:
        raise ValueError("device_total_bytes must be positive")
    reserve = reserve_bytes if reserve_bytes is not None else max(1_000_000_000, device_total_bytes // 10)
    return max(0, int(device_total_bytes) - max(0, int(held_by_running_jobs_bytes)) - int(reserve))


def training_processes_rss(marker: str = "jobs.queue.child") -> int:
    """Resident bytes of this machine's training processes: those whose command line contains ``marker``."""
    import psutil

    held = 0
    me = os.getpid()
    for process in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        try:
            info = process.info
            if info["pid"] == me or not any(marker in part for part in info.get("cmdline") or []):
                continue
            memory = info.get("memory_info")
            held += int(memory.rss) if memory is not None else 0
        except (psutil.Error, TypeError):
            continue
    return held


def cpu_training_budget() -> tuple[str, int]:
    """(description, bytes) a new CPU training job may use: total RAM minus what running training children hold.

    Unlike psutil's momentary ``available`` figure, this does not move with the page cache or with a job that
    is still loading: it is the machine's total memory, minus the resident memory of processes running
    ``jobs.queue.child`` (Adapta's training children), minus :func:`budget_memory`'s reserve. Compare it with
    ``MemoryEstimate.total``.
    """
    import psutil

    total = int(psutil.virtual_memory().total)
    held = training_processes_rss()
    budget = budget_memory(total, held)
    held_text = f", {format_bytes(held)} held by running jobs" if held else ""
    return f"CPU ({format_bytes(total)} RAM{held_text}, {format_bytes(budget)} for a new job)", budget
