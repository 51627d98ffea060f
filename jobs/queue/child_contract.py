"""What a worker and the training child of one job attempt agree on, light enough for the worker (and the web server) to import.

The child's exit codes (the worker turns each into the job's status and one sentence), the file the child writes that
sentence to, the environment names they pass each other, and the safeguard both use: dying with their parent
(:func:`die_with_parent`). The child itself (:mod:`jobs.queue.child`) loads the trainers.
"""

from __future__ import annotations

import os
import signal

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


def die_with_parent(signal_number: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``signal_number`` to this process when its parent dies, so no orphan keeps training.

    The parent it must have is ``$ADAPTA_PARENT_PID`` when set (else the current one): a parent that died before the
    request took effect is noticed, because this process then already has another parent."""
    expected = int(os.environ.get(PARENT_PID_ENV) or os.getppid())
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal_number)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != expected:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal_number)
