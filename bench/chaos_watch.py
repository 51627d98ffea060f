"""What the chaos run watches while it runs: every process of the run, sampled from ``/proc`` many times a second.

``bench/chaos.py`` starts a :class:`Watch` and feeds it a snapshot of the run's processes every 50 ms (and, every half
second, the jobs' rows read *before* that snapshot). It records, as the run goes (not only at the end, when an orphan of a
6-step job is long gone):

- attempt starts, in a UNIQUE table: a second leader process for one (job, attempt) is a ``duplicate start``;
- ``overlaps``: two attempts of one job alive in the same snapshot;
- ``orphans``: a process of a job (training child, launcher, rank) whose parent died, still alive
  :data:`ORPHAN_GRACE_SECONDS` later (each process dies with its parent, so that should never happen), or a sub-worker
  of ``worker --gpus`` still alive :data:`SUB_WORKER_GRACE_SECONDS` after its parent died (it stops on its own, gracefully);
- ``outlived leases``: a process of an attempt seen alive more than :data:`LEASE_TOLERANCE_SECONDS` after the database
  already said that attempt's lease had lapsed, or that the job had moved on (another attempt, or finished): the lease
  watchdog must stop an attempt before that.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

JOB_PROCESS_KINDS = ("child", "launcher", "launcher-fork", "rank")
ORPHAN_GRACE_SECONDS = 1.0
"""A job process whose parent died gets this long to die with it (PR_SET_PDEATHSIG is immediate; a loaded machine is slow)."""
SUB_WORKER_GRACE_SECONDS = 12.0
"""A sub-worker whose ``worker --gpus`` parent died stops gracefully: within the 10 s a worker has after SIGTERM, plus sampling."""
LEASE_TOLERANCE_SECONDS = 1.0
"""How long after its lease lapsed (by the database's clock) a dying attempt's process may still be seen (SIGKILL takes a moment)."""


@dataclass
class Proc:
    pid: int
    ppid: int
    group: int
    cmdline: str

    @property
    def kind(self) -> str:
        if "launch.py" in self.cmdline and " worker" in self.cmdline:
            return "worker" if "--gpus" in self.cmdline or ":gpu" not in self.cmdline else "sub-worker"
        if "jobs.queue.child launch" in self.cmdline:
            return "launcher" if self.group == self.pid else "launcher-fork"
        if "jobs.queue.child" in self.cmdline:
            return "rank" if self.group != self.pid else "child"
        return "other"

    @property
    def leads_attempt(self) -> bool:
        """The first process of an attempt: the group leader the worker started (a fork of it shares the command line, not the pid)."""
        return "jobs.queue.child" in self.cmdline and self.group == self.pid

    def arg(self, name: str) -> int | None:
        words = self.cmdline.split()
        return int(words[words.index(name) + 1]) if name in words else None

    @property
    def attempt_key(self) -> tuple[int, int] | None:
        """(job id, attempt) of a job process, else None."""
        if self.kind not in JOB_PROCESS_KINDS:
            return None
        job, attempt = self.arg("--job-id"), self.arg("--attempt")
        return None if job is None or attempt is None else (job, attempt)


def run_processes(home: Path) -> list[Proc]:
    """Every live process of this run: those whose environment names its data home (workers, children, launchers, ranks)."""
    marker = f"ADAPTA_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if stat[0] != "Z":
            found.append(Proc(int(entry.name), int(stat[1]), int(stat[2]), cmdline))
    return found


def attempts_under(victim: Proc, processes: list[Proc]) -> set[tuple[int, int]]:
    """The (job, attempt) pairs a SIGKILL of ``victim`` ends: its own, or those of the job processes below it (a worker's)."""
    children: dict[int, list[Proc]] = {}
    for proc in processes:
        children.setdefault(proc.ppid, []).append(proc)
    hit, stack = set(), [victim]
    while stack:
        proc = stack.pop()
        if proc.attempt_key is not None:
            hit.add(proc.attempt_key)
        stack.extend(children.get(proc.pid, []))
    return hit


@dataclass
class JobState:
    """A job's row as read at one moment: whether its attempt still runs, and whether its lease had lapsed then."""

    running: bool
    attempt: int
    lease_lapsed: bool


@dataclass
class Watch:
    """Everything the sampler saw (see the module docstring)."""

    path: Path
    overlaps: list[tuple[int, list[int]]] = field(default_factory=list)
    duplicate_starts: list[tuple[int, int, int]] = field(default_factory=list)
    seen: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    orphans: dict[int, str] = field(default_factory=dict)
    outlived_leases: dict[tuple[int, int], str] = field(default_factory=dict)
    samples: int = 0
    state_checks: int = 0
    longest_orphaned: dict[str, float] = field(default_factory=dict)
    """kind -> the longest any process of that kind was seen alive after its parent died (seconds)."""
    _parent_gone_since: dict[int, float] = field(default_factory=dict)
    _stale_since: dict[tuple[int, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("CREATE TABLE attempt_starts (job_id INTEGER NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL, "
                        "started REAL NOT NULL, PRIMARY KEY (job_id, attempt))")

    def sample(self, processes: list[Proc], states: dict[int, JobState] | None = None) -> None:
        """One snapshot; ``states`` (the job rows, read just *before* the snapshot) also checks the leases."""
        now = time.time()
        self.samples += 1
        live: dict[int, set[int]] = {}
        for proc in processes:
            key = proc.attempt_key
            if key is None:
                continue
            job, attempt = key
            live.setdefault(job, set()).add(attempt)
            first_last = self.seen.setdefault(key, [now, now])
            first_last[1] = now
            if proc.leads_attempt:  # one leader per attempt, ever
                try:
                    self.db.execute("INSERT INTO attempt_starts VALUES (?, ?, ?, ?)", (job, attempt, proc.pid, now))
                except sqlite3.IntegrityError:
                    known = self.db.execute("SELECT pid FROM attempt_starts WHERE job_id = ? AND attempt = ?", (job, attempt)).fetchone()[0]
                    if known != proc.pid:
                        self.duplicate_starts.append((job, attempt, proc.pid))
        for job, attempts in live.items():
            if len(attempts) > 1:
                self.overlaps.append((job, sorted(attempts)))
        self._check_parents(processes, now)
        if states is not None:
            self._check_leases(processes, states, now)

    def _check_parents(self, processes: list[Proc], now: float) -> None:
        alive = {proc.pid for proc in processes}
        orphaned = set()
        for proc in processes:
            if proc.kind not in (*JOB_PROCESS_KINDS, "sub-worker") or proc.ppid in alive:
                continue
            orphaned.add(proc.pid)
            since = self._parent_gone_since.setdefault(proc.pid, now)
            self.longest_orphaned[proc.kind] = round(max(self.longest_orphaned.get(proc.kind, 0.0), now - since), 2)
            grace = SUB_WORKER_GRACE_SECONDS if proc.kind == "sub-worker" else ORPHAN_GRACE_SECONDS
            if now - since > grace and proc.pid not in self.orphans:
                self.orphans[proc.pid] = f"{proc.pid} {proc.kind} alive {now - since:.1f} s after its parent died: {proc.cmdline[:120]}"
        for pid in set(self._parent_gone_since) - orphaned:
            del self._parent_gone_since[pid]

    def _check_leases(self, processes: list[Proc], states: dict[int, JobState], now: float) -> None:
        self.state_checks += 1
        stale = set()
        for proc in processes:
            key = proc.attempt_key
            state = states.get(key[0]) if key else None
            if state is None:
                continue
            if state.running and state.attempt == key[1] and not state.lease_lapsed:
                continue
            stale.add(key)
            since = self._stale_since.setdefault(key, now)
            if now - since > LEASE_TOLERANCE_SECONDS and key not in self.outlived_leases:
                why = "its lease had lapsed" if state.running and state.attempt == key[1] else (
                    f"the job had moved on to attempt {state.attempt}" if state.attempt != key[1] else "the job had finished or been requeued")
                self.outlived_leases[key] = f"job {key[0]} attempt {key[1]}: {proc.kind} {proc.pid} alive {now - since:.1f} s after {why}"
        for key in set(self._stale_since) - stale:
            del self._stale_since[key]
