"""What a worker and the training child of one job attempt agree on, light enough for the worker (and the web server) to import.

The child's exit codes (the worker turns each into the job's status and one sentence), the file the child writes that
sentence to, the environment names they pass each other, how a process of a job attempt is recognised from its command
line (:func:`job_attempt_of`), and the safeguard both use: dying with their parent, armed by the parent before the new
program runs (:func:`dies_with_this_process`, a ``preexec_fn``) and again by the process itself (:func:`die_with_parent`).
The child itself (:mod:`jobs.queue.child`) loads the trainers.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_OUT_OF_MEMORY, EXIT_BUSY, EXIT_FENCED, EXIT_DATABASE = 0, 1, 2, 3, 4, 5, 6
ERROR_FILE = "error.txt"
LAUNCH_COMMAND = "launch"
PARENT_PID_ENV = "ADAPTA_PARENT_PID"
"""The pid a job process must die with: the worker for the child or launcher, the launcher for its ranks."""
LOCK_HELD_ENV = "ADAPTA_ATTEMPT_LOCK_HELD"
OOM_MESSAGE = (
    "training ran out of memory; lower training.batch_size or training.max_length, enable training.gradient_checkpointing, "
    "or use lora / qlora instead of full fine-tuning"
)


def job_attempt_of(command_line: str, job_id: int) -> int | None:
    """The attempt of job ``job_id`` that a process with this command line runs (child, launcher or rank), else None.

    Every process of an attempt carries ``-m jobs.queue.child ... --job-id N --attempt M`` (the worker's argv, which
    ``accelerate`` passes on to each rank); NUL-separated ``/proc/<pid>/cmdline`` text works as well as spaces."""
    words = command_line.replace("\0", " ").split()
    if "jobs.queue.child" not in words:
        return None
    try:
        if int(words[words.index("--job-id") + 1]) != job_id:
            return None
        return int(words[words.index("--attempt") + 1])
    except (ValueError, IndexError):
        return None


PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux (or no glibc): nothing to arm
        return None


def die_with_parent(signal_number: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``signal_number`` to this process when its parent dies, so no orphan keeps training.

    The parent it must have is ``$ADAPTA_PARENT_PID`` when set (else the current one): a parent that died before the
    request took effect is noticed, because this process then already has another parent."""
    expected = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, signal_number)
    if os.getppid() != expected:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal_number)


def dies_with_this_process(signal_number: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen` that makes the new process die with this one from its first instruction.

    :func:`die_with_parent` runs only once the new program has imported its modules (torch, transformers: seconds, and
    tens of seconds on a loaded machine); a parent killed meanwhile would leave an orphan that long. This one runs between
    fork and exec, and the death signal survives exec. It only calls a C function resolved before the fork (no import,
    no lock), which is what makes it safe in a process with threads. None where the system has no ``prctl``."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal_number)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(128 + signal_number)

    return arm
