"""Adapta's command line: wiring only, every command calls into ``jobs/`` or ``storage/``.

    python launch.py [--host --port --share --no-worker]   the web UI with an embedded worker (127.0.0.1:7860)
    python launch.py --auth | --demo      require sign-in (accounts from adduser) | browse and try only, no training
                     [--share-hub-token]  on such a shared server, let visitors' Hub requests use this machine's HF token
                     [--demo-downloads]   with --demo, let visitors download finished jobs' weights (off by default)
    python launch.py adduser NAME         create an account (or reset its password); the password is read from stdin
    python launch.py train SPEC.yaml      run one job spec in the foreground (progress bar, exit 0 on success)
    python launch.py inspect DATA_FILE    preview a data file (or hub:OWNER/NAME): format, columns, problems with row numbers
    python launch.py data-check TRAIN [--validation FILE] [--model M] [--max-length N] [--json] [--fix]
                                          duplicates, personal data, secrets, lengths: exit 0 clean, 1 findings, 2 blocked
    python launch.py models               list the models usable offline (packaged, HF cache, data home)
    python launch.py doctor [--json]      this machine: GPUs, memory, bf16, GPU kernels, attention, which methods run here
    python launch.py download ORG/NAME    check a Hub model and download what a job needs into the HF cache (progress bar)
    python launch.py submit SPEC.yaml     validate a spec and queue it (prints the job id; a sweep spec: its children's ids)
    python launch.py submit SPEC.yaml --hf-jobs a10g-small --push-to OWNER/NAME   run it on Hugging Face Jobs instead
    python launch.py worker [--gpus 0,1]  run queued jobs (one worker process per GPU with --gpus); jobs run without this
                     [--share-hub-token]  machine's HF token (and check Hub access per job) unless --share-hub-token
    python launch.py jobs [--json]        list the jobs recorded in the database
    python launch.py cancel ID | retry ID cancel a queued/running job, requeue a failed/cancelled one
    python launch.py push ID OWNER/NAME   upload a finished job's adapter/model with its card (token: HF_TOKEN or prompt)
    python launch.py export ID --gguf q8_0[,f16,...]   a finished job as GGUF + Ollama Modelfile, each file loaded back and checked
    python launch.py deploy-space OWNER/NAME   create or update a Hugging Face Space running this app

Bad input exits with status 2 and a one-line ``error: ...`` on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import sys
from pathlib import Path

from jobs.data import inspect_dataset
from jobs.data.doctor.cli import run_data_check
from jobs.data.doctor_notes import refuse_known_secrets
from jobs.data.hub_datasets import hub_preview_file
from jobs.errors import AdaptaError
from jobs.evaluation import read_report, report_markdown
from jobs.export import export_gguf, summary_rows
from jobs.export.hub_push import push_gguf_run, push_merged_run, push_run
from jobs.export.space_deploy import deploy_space
from jobs.hub.download import DownloadBar, download_model
from jobs.hub.download_plan import plan_download
from jobs.hub.repo_access import check_access_per_caller
from jobs.hub.tokens import share_token_with_jobs, token_shared_with_jobs, withhold_from_jobs, withhold_operator_credentials
from jobs.models import load_tokenizer, local_catalog, resolve_model
from jobs.models.hardware import detect_hardware, doctor_json, doctor_report
from jobs.models.memory import format_bytes
from jobs.queue import check_job_id, get_job, job_summary, list_jobs, phase_text, reap_expired_leases, request_cancel, retry_job, submit_job
from jobs.queue.hf_jobs import RemoteTracker, submit_remote_job
from jobs.queue.resources import check_resources
from jobs.queue.sweep import submit_sweep
from jobs.queue.sweep_plan import load_sweep
from jobs.queue.worker import WorkerConfig, run_gpu_workers, run_worker, start_background_worker
from jobs.spec import DataFormat, JobSpec, Task, load_spec
from storage.paths import data_home
from storage.space import space_settings
from storage.tables import JobStatus
from storage.users import UserError, add_user, users_file

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GUIDE = """Adapta: no-code adaptation of foundation models.

The web UI is not built yet; the engine runs from the command line:

  1. See which models are usable offline:      python launch.py models
  2. Check a data file before training:         python launch.py inspect examples/data/capitals.jsonl
  3. Train (LoRA on the packaged SmolLM2-135M):  python launch.py train examples/smollm2-lora.yaml
  4. See recorded jobs:                         python launch.py jobs

Outputs land in {runs}/<job id>/ (adapter/, metrics.jsonl, summary.json, README.md model card).
"""


def _command_ui(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("webui") is None or importlib.util.find_spec("webui.app") is None:  # no web UI: explain the CLI
        print(GUIDE.format(runs=data_home().runs))
        return 0
    from webui.access import AccessMode, default_mode
    from webui.app import serve

    mode = default_mode(auth=args.auth, demo=args.demo)
    if mode is AccessMode.ACCOUNTS:
        from webui.app import sign_in_check

        sign_in_check()  # no accounts yet: one clear line before anything starts
    if mode is AccessMode.OPEN and resolve_host(args.host) not in ("127.0.0.1", "localhost", "::1"):
        print("warning: serving on a public address without --auth: anyone who can reach it can train and push as the owner", file=sys.stderr)

    if mode is not AccessMode.OPEN:
        check_access_per_caller()  # a cached private or gated Hub model only for a caller whose own token may read it
        if not args.share_hub_token:
            withhold_operator_credentials()  # visitors' Hub requests carry their own token or none, never the operator's
    if args.demo_downloads:
        from webui.access import allow_demo_downloads

        allow_demo_downloads()
    for warning in space_settings().warnings:
        print(f"warning: {warning}", file=sys.stderr)
    worker = tracker = None
    if not args.no_worker and mode is not AccessMode.DEMO:
        worker = start_background_worker()
        tracker = RemoteTracker().start()
    try:
        serve(host=resolve_host(args.host), port=args.port, share=args.share, mode=mode)
    finally:
        for running in (worker, tracker):
            if running is not None:
                running.stop()
    return 0


def read_new_password(stream=None) -> str:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    stream = stream or sys.stdin
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat the password: "):
            raise AdaptaError("the two passwords differ; run adduser again")
        return first
    return stream.readline().rstrip("\r\n")


def _command_adduser(args: argparse.Namespace) -> int:
    try:
        created = add_user(args.name, read_new_password())
    except UserError as error:
        raise AdaptaError(str(error)) from None
    print(f"{'added' if created else 'updated the password of'} {args.name} in {users_file()}; start the app with `python launch.py --auth`")
    return 0


def _command_train(args: argparse.Namespace) -> int:
    from jobs.queue.run import main as run_main

    argv = [str(args.spec)] + (["--output", args.output] if args.output else [])
    return run_main(argv)


def _command_data_check(args: argparse.Namespace) -> int:
    task = Task(args.task)
    tokenizer = load_tokenizer(resolve_model(args.model, task=task)) if args.model else None
    return run_data_check(Path(args.train), Path(args.validation) if args.validation else None, tokenizer=tokenizer,
                          max_length=args.max_length, as_json=args.json, fix=args.fix, out_dir=args.out,
                          fmt=None if args.format == "auto" else DataFormat(args.format), task=task)


def _command_inspect(args: argparse.Namespace) -> int:
    path = args.path
    if path.startswith("hub:"):
        path = hub_preview_file(path, args.config, args.split)
    report = inspect_dataset(path, format=DataFormat(args.format), task=Task(args.task))
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0


def _command_doctor(args: argparse.Namespace) -> int:
    found = detect_hardware()
    print(json.dumps(doctor_json(found), indent=2) if args.json else doctor_report(found))
    return 0


def _command_models(args: argparse.Namespace) -> int:
    entries = local_catalog()
    if args.json:
        print(json.dumps([entry.__dict__ for entry in entries], indent=2, default=str))
        return 0
    for entry in entries:
        size = f"{entry.size_bytes / 1e6:.0f} MB" if entry.size_bytes else "?"
        print(f"{entry.name:48s} {entry.source:10s} {getattr(entry.task_hint, 'value', entry.task_hint) or '-':20s} {size:>8s}  {entry.ref}")
    if not entries:
        print("no models found offline; install the packaged ones with `make install` or download one with `hf download ORG/NAME`")
    return 0


def _command_download(args: argparse.Namespace) -> int:
    plan = plan_download(args.model, revision=args.revision, task=Task(args.task) if args.task else None, half_precision=args.fp16)
    print(f"{plan.repo_id} @ {plan.commit[:10]}: {len(plan.files)} files, {format_bytes(plan.total_bytes)} "
          f"({format_bytes(plan.bytes_to_fetch)} to fetch)", file=sys.stderr)
    print(download_model(plan, on_progress=DownloadBar()))
    return 0


def _command_jobs(args: argparse.Namespace) -> int:
    reap_expired_leases()  # a run whose process died (a worker's, or a foreground `train`) shows as such
    jobs = list(reversed(list_jobs(limit=args.limit)))
    rows = [job_summary(job) for job in jobs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for job, row in zip(jobs, rows, strict=True):
        progress = f"{row['step']}/{row['total_steps'] or '?'}"
        error = f"  ({row['error']})" if row["error"] else ""
        doing = f"  [{phase_text(job)}]" if row["download"] else ""
        print(f"{row['id']:>5}  {row['status']:10s} {progress:>11s}  attempt {row['attempt']}  {row['name']}{doing}{error}")
    return 0


def _command_report(args: argparse.Namespace) -> int:
    job = get_job(check_job_id(args.job_id))
    report = read_report(job.run_dir)
    if report is None:
        raise AdaptaError(f"job {job.id} has no before/after report yet (status {job.status.value}); "
                          f"a report is written when a job finishes training")
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report_markdown(report, examples=args.examples), end="")
    return 0


def _checked_here(spec: JobSpec) -> JobSpec:
    """What the web Submit also refuses before queueing: resources no worker here has, a data file the data check found
    secrets in."""
    check_resources(spec)
    refuse_known_secrets(spec)
    return spec


def _command_submit(args: argparse.Namespace) -> int:
    plan = load_sweep(args.spec)
    if plan is not None:  # a sweep: one job per combination, in one group
        if args.hf_jobs:
            print("error: --hf-jobs takes a spec of one job; a sweep runs on this queue's workers", file=sys.stderr)
            return 2
        job_ids = submit_sweep(plan, priority=args.priority, check=_checked_here)
        print(f"{plan.kind} sweep '{plan.name}': queued {len(job_ids)} jobs", file=sys.stderr)
        print("\n".join(str(job_id) for job_id in job_ids))
        return 0
    spec = load_spec(args.spec)
    if args.hf_jobs:
        if not args.push_to:
            print("error: --hf-jobs needs --push-to OWNER/NAME: the job pushes its result there", file=sys.stderr)
            return 2
        token = os.environ.get("HF_TOKEN") or getpass.getpass("Hugging Face token (write access; handed to the job, not stored): ")
        job_id = submit_remote_job(spec, token=token, push_repo=args.push_to, image_space=args.space, flavor=args.hf_jobs, timeout=args.timeout)
        print(job_id)
        return 0
    print(submit_job(_checked_here(spec), priority=args.priority))
    return 0


def _command_remote_train(args: argparse.Namespace) -> int:
    from jobs.queue.remote_train import run_remote_job

    return run_remote_job()


def _command_cancel(args: argparse.Namespace) -> int:
    status = request_cancel(args.id)
    print(f"job {args.id}: {'cancelled' if status.value == 'cancelled' else 'cancel requested; its worker stops it'}")
    return 0


def _command_retry(args: argparse.Namespace) -> int:
    retry_job(args.id)
    print(f"job {args.id} queued again; it resumes from its last checkpoint")
    return 0


def _command_push(args: argparse.Namespace) -> int:
    job = get_job(args.id)
    if job.status is not JobStatus.SUCCEEDED:
        print(f"error: job {args.id} is {job.status.value}; only succeeded jobs can be pushed", file=sys.stderr)
        return 2
    token = os.environ.get("HF_TOKEN") or getpass.getpass("Hugging Face token (write access; not stored): ")
    if args.gguf:
        print(push_gguf_run(Path(job.run_dir), args.repo_id, token=token, quants=args.gguf.split(","), private=args.private,
                            merged_dir=data_home().merged_model_dir(job.id)))
        return 0
    if args.merged:
        print(push_merged_run(Path(job.run_dir), args.repo_id, token=token, private=args.private, merged_dir=data_home().merged_model_dir(job.id)))
        return 0
    print(push_run(Path(job.run_dir), args.repo_id, token=token, private=args.private))
    return 0


def _command_export(args: argparse.Namespace) -> int:
    job = get_job(args.id)
    if job.status is not JobStatus.SUCCEEDED:
        print(f"error: job {args.id} is {job.status.value}; only succeeded jobs can be exported", file=sys.stderr)
        return 2

    def show(share: float, step: str) -> None:
        print(f"[{share:4.0%}] {step}", file=sys.stderr)

    result = export_gguf(Path(job.run_dir), [name for name in args.gguf.split(",") if name.strip()], merged_dir=data_home().merged_model_dir(job.id),
                         output_dir=args.output, verify=not args.no_verify, progress=show)
    rows = summary_rows(result)
    if args.json:
        print(json.dumps(result.report, indent=2))
    else:
        for row in rows:
            verdict = "" if row["passed"] is None else ("passed" if row["passed"] else "FAILED")
            print(f"{row['type']:6} {row['size_mb']:8.1f} MB  top-1 {row['top1']}  max logit diff {row['max_logit_diff']}  "
                  f"greedy identical {row['greedy']}  {verdict}  {result.folder / row['file']}")
        print(f"Ollama: ollama create NAME -f {result.modelfile} && ollama run NAME")
    if not result.passed and not args.no_verify:
        print(f"error: the export failed its verification; see {result.verification_path}", file=sys.stderr)
        return 1
    return 0


def _command_deploy_space(args: argparse.Namespace) -> int:
    token = os.environ.get("HF_TOKEN") or getpass.getpass("Hugging Face token (write access; not stored): ")
    print(deploy_space(args.space_id, token=token, private=args.private))
    return 0


def _command_worker(args: argparse.Namespace) -> int:
    if args.share_hub_token:
        share_token_with_jobs()
    if not token_shared_with_jobs():  # a worker may run visitors' jobs: they never get the operator's token
        withhold_from_jobs()
        check_access_per_caller()
    config = WorkerConfig(heartbeat_seconds=args.heartbeat, lease_seconds=args.lease)
    if args.worker_id:
        config.worker_id = args.worker_id
    if args.gpus:
        return run_gpu_workers([gpu.strip() for gpu in args.gpus.split(",") if gpu.strip()], config)
    tracker = RemoteTracker().start()  # also follows the jobs sent to Hugging Face Jobs
    try:
        run_worker(config)
    finally:
        tracker.stop()
    return 0


def resolve_host(host: str | None) -> str:
    """The address to bind: as given, else 127.0.0.1 (this machine only), or all interfaces inside a Space's container."""
    if host:
        return host
    return os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0") if os.environ.get("SPACE_ID") else "127.0.0.1"


def _add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 inside a Space)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    parser.add_argument("--no-worker", action="store_true", help="do not start the embedded worker")
    parser.add_argument("--auth", action="store_true", help="require sign-in with an account made by `adduser`; each user sees only their own work")
    parser.add_argument("--demo", action="store_true", help="demo mode: visitors browse and try finished jobs; nobody uploads, trains or pushes")
    parser.add_argument("--share-hub-token", action="store_true",
                        help="on a shared server (--auth, --demo, a Space), let visitors' Hub requests use this machine's HF_TOKEN / login "
                             "(off by default: they use their own token or none)")
    parser.add_argument("--demo-downloads", action="store_true",
                        help="with --demo, let visitors download finished jobs' adapters and models (off by default; also ADAPTA_DEMO_DOWNLOADS=1)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(prog="launch.py", description="Adapta: no-code adaptation of foundation models.")
    _add_ui_arguments(parser)
    commands = parser.add_subparsers(dest="command")
    ui = commands.add_parser("ui", help="start the app (default)")
    _add_ui_arguments(ui)
    ui.set_defaults(handler=_command_ui)
    adduser = commands.add_parser("adduser", help="create an account for --auth (password read from standard input)")
    adduser.add_argument("name")
    adduser.set_defaults(handler=_command_adduser)
    train = commands.add_parser("train", help="run one job spec in the foreground")
    train.add_argument("spec", type=Path, help="YAML job spec")
    train.add_argument("--output", help="run folder (default: <ADAPTA_HOME>/runs/<job id>)")
    train.set_defaults(handler=_command_train)
    inspect = commands.add_parser("inspect", help="preview and validate a data file")
    inspect.add_argument("path", help="data file (.csv .tsv .jsonl .json .parquet .txt) or hub:OWNER/NAME (its first 200 rows, streamed)")
    inspect.add_argument("--config", help="Hub dataset: configuration (subset)")
    inspect.add_argument("--split", default="train", help="Hub dataset: split (default train)")
    inspect.add_argument("--format", default="auto", choices=["auto", "text", "instruction", "chat", "classification"])
    inspect.add_argument("--task", default="causal-lm", choices=["causal-lm", "text-classification"])
    inspect.set_defaults(handler=_command_inspect)
    data_check = commands.add_parser("data-check", help="check a data file for duplicates, personal data, secrets and lengths; --fix "
                                                        "writes a cleaned copy")
    data_check.add_argument("train", help="data file (.csv .tsv .jsonl .json .parquet .txt), or an image folder or .zip")
    data_check.add_argument("--validation", help="validation file: its copies of training rows are reported too")
    data_check.add_argument("--model", help="model whose tokenizer and chat template measure the lengths (folder or cached Hub id)")
    data_check.add_argument("--max-length", type=int, help="max length in tokens to check against (default 1024 with --model)")
    data_check.add_argument("--format", default="auto", choices=[f.value for f in DataFormat])
    data_check.add_argument("--task", default="causal-lm", choices=[t.value for t in Task if t is not Task.TEXT_TO_IMAGE])
    data_check.add_argument("--json", action="store_true", help="print the findings as JSON")
    data_check.add_argument("--fix", action="store_true", help="write <name>.fixed.<ext>: duplicates removed, personal data and "
                                                                "secrets masked; the input is left untouched")
    data_check.add_argument("--out", type=Path, help="folder for the fixed copy (default: the input's folder)")
    data_check.set_defaults(handler=_command_data_check)
    models = commands.add_parser("models", help="list models usable offline")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=_command_models)
    doctor = commands.add_parser("doctor", help="what this machine offers training: GPUs, bf16, kernels, attention, methods")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=_command_doctor)
    download = commands.add_parser("download", help="check a Hub model and download the files a job needs into the Hugging Face cache")
    download.add_argument("model", help="Hub model id (org/name)")
    download.add_argument("--revision", help="branch, tag or commit (default: main)")
    download.add_argument("--task", choices=["causal-lm", "text-classification", "text-to-image"], help="also check the model fits this task")
    download.add_argument("--fp16", action="store_true", help="diffusers pipelines: take the fp16 weights when the repo has them")
    download.set_defaults(handler=_command_download)
    jobs = commands.add_parser("jobs", help="list recorded jobs")
    jobs.add_argument("--json", action="store_true")
    jobs.add_argument("--limit", type=int, default=500)
    jobs.set_defaults(handler=_command_jobs)
    report = commands.add_parser("report", help="show a finished job's before/after evaluation report")
    report.add_argument("job_id", help="the job id (see `launch.py jobs`)")
    report.add_argument("--json", action="store_true", help="the whole report (every scored example) as JSON")
    report.add_argument("--examples", type=int, default=5, help="how many biggest wins and losses to show")
    report.set_defaults(handler=_command_report)
    submit = commands.add_parser("submit", help="validate a spec and put it in the queue")
    submit.add_argument("spec", type=Path)
    submit.add_argument("--priority", type=int, default=0)
    submit.add_argument("--hf-jobs", metavar="FLAVOR", help="run it on Hugging Face Jobs hardware instead (e.g. t4-small, a10g-small)")
    submit.add_argument("--push-to", metavar="OWNER/NAME", help="with --hf-jobs: the repository the result is pushed to")
    submit.add_argument("--space", metavar="OWNER/NAME", help="with --hf-jobs: the Adapta Space whose image runs the job (default: SPACE_ID)")
    submit.add_argument("--timeout", default="2h", help="with --hf-jobs: the longest the job may run (e.g. 90m, 2h)")
    submit.set_defaults(handler=_command_submit)
    remote = commands.add_parser("remote-train", help="(inside a Hugging Face Job) train ADAPTA_SPEC and push to ADAPTA_PUSH_REPO")
    remote.set_defaults(handler=_command_remote_train)
    for name, handler, text in (("cancel", _command_cancel, "cancel a queued or running job"), ("retry", _command_retry, "requeue a failed or cancelled job")):
        command = commands.add_parser(name, help=text)
        command.add_argument("id", type=int)
        command.set_defaults(handler=handler)
    push = commands.add_parser("push", help="upload a finished job's adapter or model to the Hugging Face Hub")
    push.add_argument("id", type=int)
    push.add_argument("repo_id", help="OWNER/NAME")
    push.add_argument("--private", action="store_true")
    push.add_argument("--merged", action="store_true", help="push the LoRA merged into its base model instead of the adapter")
    push.add_argument("--gguf", metavar="TYPES", help="push GGUF files instead (e.g. q8_0 or f16,q8_0), exported and verified first")
    push.set_defaults(handler=_command_push)
    export = commands.add_parser("export", help="export a finished text-generation job to GGUF (llama.cpp, Ollama, LM Studio)")
    export.add_argument("id", type=int)
    export.add_argument("--gguf", required=True, metavar="TYPES", help="comma-separated: f16, bf16, q8_0, q4_0")
    export.add_argument("--output", type=Path, help="folder for the files (default: <run>/gguf)")
    export.add_argument("--no-verify", action="store_true", help="skip loading each file back and comparing it with the merged model")
    export.add_argument("--json", action="store_true", help="print the verification report as JSON")
    export.set_defaults(handler=_command_export)
    space = commands.add_parser("deploy-space", help="create or update a Hugging Face Space running this app")
    space.add_argument("space_id", help="OWNER/NAME")
    space.add_argument("--private", action="store_true")
    space.set_defaults(handler=_command_deploy_space)
    worker = commands.add_parser("worker", help="run queued jobs")
    worker.add_argument("--gpus", help="comma-separated GPU ids: one worker process per GPU")
    worker.add_argument("--worker-id", help="name of this worker (default: host:pid)")
    worker.add_argument("--heartbeat", type=float, default=WorkerConfig.heartbeat_seconds, help="seconds between lease renewals")
    worker.add_argument("--lease", type=float, default=WorkerConfig.lease_seconds, help="seconds a lease lasts without a heartbeat")
    worker.add_argument("--share-hub-token", action="store_true",
                        help="give jobs this machine's Hugging Face token (HF_TOKEN); off by default, since jobs may be other people's")
    worker.set_defaults(handler=_command_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; user errors print one line and return 2."""
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", _command_ui)  # no command: the app
    try:
        return handler(args)
    except AdaptaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
