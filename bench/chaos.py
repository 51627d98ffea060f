"""Chaos run: real workers train tiny jobs while a driver SIGKILLs workers, children and launchers at random.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/chaos.py [--db sqlite|postgresql|both] [--jobs 60] [--seed 0]
                                                      [--kill-every 4] [--max-attempts 3] [--timeout 1500] [--json]

Three workers share one queue (SQLite file, or a private PostgreSQL server that is restarted once mid-run):
two plain ``launch.py worker`` processes and one ``launch.py worker --gpus 0,1`` (two sub-workers with fake device
ids; on a CPU machine they train on the CPU). The jobs are tiny and mixed: LoRA on a 2-layer Llama, LoRA sequence
classification on a 2-layer BERT, 2-process ``accelerate`` jobs, jobs that fail on purpose (a validation label
training never saw) and jobs cancelled while they run. A killer SIGKILLs a random worker, sub-worker, training
child, rank or launcher every ``--kill-every`` seconds (on average); the driver restarts a killed worker. Jobs are
submitted with ``--max-attempts`` (default: the queue's own default, 3), and every result states the number used.

While it runs, a sampler (:mod:`chaos_watch`) reads ``/proc`` every 50 ms and the job rows every 0.5 s, and records
orphans (a job process whose parent died, still alive a second later), attempts that outlived their lease (alive after
the database said the lease had lapsed or the job had moved on), overlapping attempts and duplicated attempt starts.
At the end it checks, and prints:
- every job ended in the state its kind expects *for the reason its kind expects*: ``fail`` jobs on the unknown
  validation label, ``cancel`` jobs by the cancel request (``jobs lost`` counts the others). A job whose every attempt
  (up to ``--max-attempts``) was ended by the chaos itself (its process or its worker killed, the server restarted)
  and that was then failed for running out of attempts is counted apart (``failed: every attempt killed``): that is the
  queue doing what it should;
- every succeeded job's adapter, ``summary.json`` and model card are there and the adapter loads onto its base;
- no orphan during the run and no process of the run left once the workers are stopped (``orphans found``);
- no attempt outlived its lease, no job ever had two live attempts (a UNIQUE table of attempt starts, and two attempts
  of one job seen alive together are ``overlaps``);
- metric rows only from fenced attempts: each row's attempt was seen alive, and none was written after a later
  attempt of its job started.
Exit status 0 only when all of that holds. Numbers go to ``bench/results/chaos-<db>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from chaos_watch import JobState, Proc, Watch, attempts_under, run_processes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TERMINAL = {"succeeded", "failed", "cancelled"}
EXPECTED = {"lora": "succeeded", "classify": "succeeded", "ddp": "succeeded", "fail": "failed", "cancel": "cancelled"}
EXPECTED_REASON = {"fail": "which the training data never uses", "cancel": "cancel"}
"""Words the job's error must hold: a ``fail`` job fails on its unknown validation label, a ``cancel`` job by the request."""
LEASE_SECONDS = 6.0
HEARTBEAT_SECONDS = 0.5
STATE_EVERY_SAMPLES = 10
"""The sampler reads the job rows every this many snapshots (0.5 s), just before the snapshot it checks them against."""


class Chaos:
    """One chaos run against one database kind."""

    def __init__(self, db: str, jobs: int, seed: int, kill_every: float, timeout: float, workdir: Path, restart_postgres: bool = True,
                 kinds: tuple[str, ...] = tuple(EXPECTED), *, max_attempts: int):
        self.db, self.job_count, self.kill_every, self.timeout, self.kind_names = db, jobs, kill_every, timeout, kinds
        self.max_attempts = max_attempts
        self.hit: dict[int, set[int]] = {}
        """job id -> its attempts the chaos ended (a process of it or its worker killed, the server restarted under it)."""
        self.random = random.Random(seed)
        self.workdir = workdir
        self.home = workdir / "home"
        self.kills: dict[str, int] = {}
        self.postgres_restarts = 0
        self.restart_postgres = restart_postgres and db == "postgresql"
        self.workers: list[tuple[list[str], subprocess.Popen]] = []
        self.stopping = threading.Event()
        self.watch = Watch(workdir / "ledger.db")
        self.kinds: dict[int, str] = {}
        self.pg_stop = None
        self.pg_dir: Path | None = None

    # --- setup -------------------------------------------------------------------------------------------------
    def _database(self) -> str:
        if self.db == "sqlite":
            return f"sqlite:///{self.home / 'adapta.db'}"
        from tests.postgres import start_postgres

        self.pg_dir = Path(tempfile.mkdtemp(prefix="adapta-chaos-pg-"))
        url, self.pg_stop = start_postgres(self.pg_dir)
        return url

    def _data(self) -> dict[str, Path]:
        from tests.tiny import build_tiny_bert, build_tiny_llama

        data = self.workdir / "data"
        data.mkdir(parents=True)
        qa = data / "qa.jsonl"
        qa.write_text("".join(json.dumps({"question": f"What is item {i}?", "answer": f"Item {i} is number {i}."}) + "\n" for i in range(24)))
        labels = data / "labels.csv"
        labels.write_text("text,label\n" + "".join(f"{'good' if i % 2 else 'bad'} day number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(24)))
        unseen = data / "unseen.csv"
        unseen.write_text("text,label\nan okay day,neutral\n")  # a label training never saw: the child fails, on purpose
        return {"llama": build_tiny_llama(self.workdir / "llama"), "bert": build_tiny_bert(self.workdir / "bert"), "qa": qa, "labels": labels,
                "unseen": unseen}

    def _specs(self, paths: dict[str, Path]) -> list[tuple[str, dict]]:
        steps = {"max_steps": 6, "save_steps": 2, "batch_size": 2, "logging_steps": 1}
        kinds = {
            "lora": {"base_model": str(paths["llama"]), "data": {"train": str(paths["qa"])}, "training": steps},
            "classify": {"task": "text-classification", "base_model": str(paths["bert"]), "data": {"train": str(paths["labels"])}, "training": steps},
            "ddp": {"base_model": str(paths["llama"]), "data": {"train": str(paths["qa"])}, "training": steps,
                    "resources": {"gpus": 0, "processes": 2}},
            "fail": {"task": "text-classification", "base_model": str(paths["bert"]),
                     "data": {"train": str(paths["labels"]), "validation": str(paths["unseen"])}, "training": steps},
            "cancel": {"base_model": str(paths["llama"]), "data": {"train": str(paths["qa"])}, "training": {**steps, "max_steps": 100000}},
        }
        share = {kind: part for kind, part in {"lora": 0.45, "classify": 0.15, "ddp": 0.15, "fail": 0.125, "cancel": 0.125}.items()
                 if kind in self.kind_names}
        scale = self.job_count / sum(share.values())
        counts = {kind: max(1, round(part * scale)) for kind, part in share.items()}
        while sum(counts.values()) > self.job_count and max(counts.values()) > 1:  # trim the most common kinds, keep every kind
            counts[max(counts, key=counts.get)] -= 1
        plan = [kind for kind, count in counts.items() for _ in range(count)]
        plan = (plan + ["lora"] * self.job_count)[: self.job_count]
        self.random.shuffle(plan)
        return [(kind, kinds[kind]) for kind in plan]

    # --- processes ---------------------------------------------------------------------------------------------
    def _start_worker(self, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *argv], cwd=ROOT, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=(self.workdir / "workers.log").open("ab"), start_new_session=True)

    def _supervise_workers(self) -> None:
        while not self.stopping.wait(0.5):
            for index, (argv, process) in enumerate(self.workers):
                if process.poll() is not None and not self.stopping.is_set():
                    self.workers[index] = (argv, self._start_worker(argv))

    def _kill_one(self) -> None:
        processes = [proc for proc in run_processes(self.home) if proc.kind != "other"]
        by_kind: dict[str, list[Proc]] = {}
        for proc in processes:
            by_kind.setdefault(proc.kind, []).append(proc)
        if not by_kind:
            return
        kind = self.random.choice(sorted(by_kind))
        victim = self.random.choice(by_kind[kind])
        try:
            os.kill(victim.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills[kind] = self.kills.get(kind, 0) + 1
        self._mark_hit(attempts_under(victim, processes))

    def _mark_hit(self, attempts: set[tuple[int, int]]) -> None:
        for job, attempt in attempts:
            self.hit.setdefault(job, set()).add(attempt)

    def _killer(self, started: float) -> None:
        restart_at = started + self.random.uniform(0.3, 0.5) * min(self.timeout, 240)
        while not self.stopping.wait(self.random.uniform(0.5, 1.5) * self.kill_every):
            self._kill_one()
            if self.restart_postgres and self.postgres_restarts == 0 and time.monotonic() >= restart_at:
                self._restart_postgres()

    def _restart_postgres(self) -> None:
        from tests.postgres import _server_command, find_bin_dir

        command = _server_command([str(find_bin_dir() / "pg_ctl"), "restart", "-D", str(self.pg_dir / "data"), "-m", "immediate", "-w",
                                   "-l", str(self.pg_dir / "server.log")])
        env = {name: value for name, value in os.environ.items() if not name.startswith("ADAPTA_")}  # the server is not part of the run
        self._mark_hit({key for proc in run_processes(self.home) if (key := proc.attempt_key) is not None})
        subprocess.run(command, cwd=self.pg_dir, env=env, capture_output=True, timeout=120, check=True)
        self.postgres_restarts += 1

    @staticmethod
    def _job_states() -> dict[int, JobState] | None:
        """Every job's row now (running?, attempt, lease lapsed by the database's clock?); None while the database is away."""
        from sqlmodel import select

        from storage.db import database_now, session_scope
        from storage.tables import Job, JobStatus

        try:
            with session_scope() as session:
                moment = database_now(session)
                rows = session.exec(select(Job.id, Job.status, Job.attempt, Job.lease_expires_at)).all()
        except Exception:  # noqa: BLE001 - the server may be restarting
            return None
        return {job_id: JobState(status is JobStatus.RUNNING, attempt, expires is not None and expires < moment)
                for job_id, status, attempt, expires in rows}

    def _sampler(self) -> None:
        count = 0
        while not self.stopping.wait(0.05):
            count += 1
            states = self._job_states() if count % STATE_EVERY_SAMPLES == 0 else None  # read before the snapshot it is checked with
            self.watch.sample(run_processes(self.home), states)

    def _canceller(self) -> None:
        from jobs.errors import AdaptaError
        from jobs.queue import get_job, request_cancel

        pending = {job_id for job_id, kind in self.kinds.items() if kind == "cancel"}
        while pending and not self.stopping.wait(0.5):
            for job_id in list(pending):
                try:
                    job = get_job(job_id)
                    if job.status.value == "running" and job.step > 0 or job.status.value == "queued" and self.random.random() < 0.02:
                        request_cancel(job_id)
                        pending.discard(job_id)
                except AdaptaError:
                    pending.discard(job_id)
                except Exception:  # noqa: BLE001 - the database may be restarting; try again
                    continue

    # --- the run -------------------------------------------------------------------------------------------------
    def run(self) -> dict:
        self.home.mkdir(parents=True)
        url = self._database()
        self.env = {**os.environ, "ADAPTA_HOME": str(self.home), "ADAPTA_DB_URL": url, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        os.environ.update({"ADAPTA_HOME": str(self.home), "ADAPTA_DB_URL": url})
        from jobs.queue import submit_job
        from storage.db import reset_engines

        reset_engines()
        try:
            paths = self._data()
            for kind, spec in self._specs(paths):
                self.kinds[submit_job(spec, max_attempts=self.max_attempts)] = kind
            timing = ["--heartbeat", str(HEARTBEAT_SECONDS), "--lease", str(LEASE_SECONDS)]
            for argv in (["worker", "--worker-id", "chaos-a", *timing], ["worker", *timing], ["worker", "--gpus", "0,1", "--worker-id", "chaos-g", *timing]):
                self.workers.append((argv, self._start_worker(argv)))
            started = time.monotonic()
            threads = [threading.Thread(target=target, daemon=True) for target in (self._supervise_workers, self._sampler, self._canceller)]
            threads.append(threading.Thread(target=self._killer, args=(started,), daemon=True))
            for thread in threads:
                thread.start()
            while time.monotonic() - started < self.timeout and not self._all_finished():
                time.sleep(1.0)
            elapsed = time.monotonic() - started
            self.stopping.set()
            for thread in threads:
                thread.join(timeout=30)
            self._stop_workers()
            return self._check(elapsed)
        finally:
            self.stopping.set()
            for _argv, process in self.workers:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
            if self.pg_stop is not None:
                reset_engines()
                self.pg_stop()

    def _all_finished(self) -> bool:
        from jobs.queue import list_jobs

        try:
            return all(job.status.value in TERMINAL for job in list_jobs(limit=10_000))
        except Exception:  # noqa: BLE001 - the database may be restarting
            return False

    def _stop_workers(self) -> None:
        for _argv, process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _argv, process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        time.sleep(1.0)  # a process killed by its parent's death signal takes a moment to vanish

    # --- the checks ----------------------------------------------------------------------------------------------
    def _artifacts_load(self, job) -> str | None:  # noqa: ANN001 - a Job row
        run_dir = Path(job.run_dir)
        adapter = run_dir / "adapter"
        for needed in (run_dir / "summary.json", run_dir / "README.md", adapter / "adapter_model.safetensors", adapter / "adapter_config.json"):
            if not needed.is_file():
                return f"job {job.id}: {needed.name} is missing"
        try:
            from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification

            loader = AutoPeftModelForSequenceClassification if job.task == "text-classification" else AutoPeftModelForCausalLM
            loader.from_pretrained(str(adapter))
        except Exception as error:  # noqa: BLE001 - reported as a broken artifact
            return f"job {job.id}: the adapter does not load ({type(error).__name__}: {error})"
        return None

    @staticmethod
    def _log_end(job, lines: int = 4) -> str:  # noqa: ANN001 - a Job row or None
        from jobs.queue.worker import LOG_FILE, log_tail

        return "" if job is None or not job.run_dir else " / ".join(log_tail(Path(job.run_dir) / LOG_FILE, lines).splitlines())[-600:]

    def _check(self, elapsed: float) -> dict:
        from sqlmodel import select

        from jobs.queue import list_jobs
        from storage.db import session_scope
        from storage.tables import Metric

        jobs = {job.id: job for job in list_jobs(limit=10_000)}
        lost, worn_out = [], []
        for job_id, kind in self.kinds.items():
            job = jobs.get(job_id)
            verdict = self._verdict(kind, job)
            if verdict == "lost":
                lost.append(f"job {job_id} ({kind}) ended {job.status.value if job else 'deleted'}, expected {EXPECTED[kind]}"
                            f"{' ' + repr(EXPECTED_REASON[kind]) if kind in EXPECTED_REASON else ''}: {job.error if job else ''} | "
                            f"{self._log_end(job)} | attempts ended by the chaos: {sorted(self.hit.get(job_id, ()))}")
            elif verdict == "worn out":
                worn_out.append(f"job {job_id} ({kind}): all {job.attempt} attempts killed ({sorted(self.hit[job_id])})")
        broken = [problem for job in jobs.values() if job.status.value == "succeeded" and (problem := self._artifacts_load(job))]
        left_behind = [f"{proc.pid} {proc.kind} left after the workers stopped: {proc.cmdline[:120]}" for proc in run_processes(self.home)]
        orphans = list(self.watch.orphans.values()) + left_behind
        outlived = list(self.watch.outlived_leases.values())
        with session_scope() as session:
            metrics = session.exec(select(Metric.job_id, Metric.attempt, Metric.created_at)).all()
        starts = {key: first for key, (first, _last) in self.watch.seen.items()}
        unfenced = []
        for job_id, attempt, created in metrics:
            written = (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
            later = [first for (job, other), first in starts.items() if job == job_id and other > attempt]
            if (job_id, attempt) not in starts or (later and written > min(later) + 0.05):
                unfenced.append((job_id, attempt, datetime.fromtimestamp(written, UTC).isoformat()))
        attempts = self.watch.db.execute("SELECT COUNT(*) FROM attempt_starts").fetchone()[0]
        result = {
            "db": self.db, "jobs": len(self.kinds), "kinds": {kind: list(self.kinds.values()).count(kind) for kind in EXPECTED},
            "max_attempts": self.max_attempts, "lease_seconds": LEASE_SECONDS, "heartbeat_seconds": HEARTBEAT_SECONDS,
            "kill_every_seconds": self.kill_every, "seconds": round(elapsed, 1), "kills_survived": sum(self.kills.values()),
            "kills": self.kills, "postgres_restarts": self.postgres_restarts, "attempts_started": attempts,
            "attempts_ended_by_chaos": sum(len(hit) for hit in self.hit.values()),
            "jobs_lost": len(lost), "lost": lost[:20], "failed_every_attempt_killed": len(worn_out), "worn_out": worn_out[:20],
            "broken_artifacts": broken[:20],
            "orphans_found": len(orphans), "orphans": orphans[:20], "longest_orphaned_seconds": self.watch.longest_orphaned,
            "attempts_outliving_lease": len(outlived), "outlived": outlived[:20],
            "overlapping_attempts": len(self.watch.overlaps), "overlaps": self.watch.overlaps[:20],
            "duplicate_attempt_starts": len(self.watch.duplicate_starts), "metric_rows": len(metrics), "unfenced_metric_rows": len(unfenced),
            "unfenced": unfenced[:20], "process_samples": self.watch.samples, "lease_checks": self.watch.state_checks,
            "statuses": {status: sum(1 for job in jobs.values() if job.status.value == status) for status in sorted(TERMINAL | {"queued", "running"})},
        }
        result["ok"] = not (lost or broken or orphans or outlived or self.watch.overlaps or self.watch.duplicate_starts or unfenced)
        return result

    def _verdict(self, kind: str, job) -> str:  # noqa: ANN001 - a Job row or None
        """"as expected" (its kind's state, for its kind's reason), "worn out" (failed on its last attempt, every attempt having been
        ended by the chaos: the last one's error is then the queue's sentence for how it was killed), or "lost"."""
        if job is None:
            return "lost"
        reason = EXPECTED_REASON.get(kind)
        if job.status.value == EXPECTED[kind] and (reason is None or reason in (job.error or "")):
            return "as expected"
        killed = self.hit.get(job.id, set())
        if job.status.value == "failed" and job.attempt >= job.max_attempts and set(range(1, job.attempt + 1)) <= killed:
            return "worn out"
        return "lost"


def main(argv: list[str] | None = None) -> int:
    from jobs.queue.leases import DEFAULT_MAX_ATTEMPTS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-every", type=float, default=4.0, help="mean seconds between two kills")
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS, help=f"attempts per job (default: the queue's, {DEFAULT_MAX_ATTEMPTS})")
    parser.add_argument("--timeout", type=float, default=1500.0, help="give up (and count the unfinished jobs as lost) after this long")
    parser.add_argument("--kinds", default=",".join(EXPECTED), help=f"comma-separated job kinds to mix (default: all of {', '.join(EXPECTED)})")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line per database")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/chaos-<db>.json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped from outside: still stop the workers it started
    ok = True
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        with tempfile.TemporaryDirectory(prefix=f"adapta-chaos-{db}-") as workdir:
            kinds = tuple(kind for kind in args.kinds.split(",") if kind in EXPECTED)
            result = Chaos(db, args.jobs, args.seed, args.kill_every, args.timeout, Path(workdir), kinds=kinds, max_attempts=args.max_attempts).run()
        ok = ok and result["ok"]
        if not args.no_save:
            (ROOT / "bench" / "results" / f"chaos-{db}.json").write_text(json.dumps(result, indent=2) + "\n")
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(f"{db}: {result['jobs']} jobs {result['kinds']} in {result['seconds']} s, max attempts {result['max_attempts']} per job, "
              f"lease {LEASE_SECONDS:g} s, {result['statuses']}")
        print(f"  kills survived: {result['kills_survived']} {result['kills']}, PostgreSQL restarts: {result['postgres_restarts']}")
        print(f"  jobs lost: {result['jobs_lost']}, failed after every attempt was killed: {result['failed_every_attempt_killed']}, "
              f"broken artifacts: {len(result['broken_artifacts'])}")
        print(f"  orphans found (sampled every 50 ms): {result['orphans_found']} (longest seen alive after its parent died, by kind, s: "
              f"{result['longest_orphaned_seconds']}), "
              f"attempts alive past their lease: {result['attempts_outliving_lease']}")
        print(f"  attempts started: {result['attempts_started']} ({result['attempts_ended_by_chaos']} ended by the chaos), overlapping attempts: "
              f"{result['overlapping_attempts']}, duplicate attempt starts: {result['duplicate_attempt_starts']}, metric rows: {result['metric_rows']} "
              f"(unfenced: {result['unfenced_metric_rows']})")
        problems = result["lost"] + result["worn_out"] + result["broken_artifacts"] + result["orphans"] + result["outlived"]
        for problem in problems + [str(overlap) for overlap in result["overlaps"]]:
            print(f"  ! {problem}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
