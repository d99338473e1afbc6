"""Ctrl-C or SIGTERM during training: finish the current step, save a checkpoint, then stop; a
second signal stops at once.

SIGTERM is what a cluster scheduler (or ``kill``) sends before it stops a job, so it is treated
like Ctrl-C: the run can be resumed exactly.
"""
from __future__ import annotations

import signal
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal; ``signum`` says which (the exit status is 128 + signum)."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum


class DeferredInterrupt:
    """Within the block, the first SIGINT or SIGTERM only sets ``requested`` (and ``signum``); the
    loop checks it between steps, so the checkpoint it then saves is taken at a step boundary and a
    resume is exact. A second signal (either) stops at once: it raises ``Interrupted`` wherever the
    program is, and sets ``again``. A checkpoint being written is then abandoned, its temporary file
    removed and the previous one kept (see data/atomic.py). The handlers before the block are put
    back when it ends. Outside the main thread (where Python cannot install handlers) signals behave
    as usual.
    """

    def __enter__(self) -> DeferredInterrupt:
        self.requested = self.again = False
        self.signum = signal.SIGINT
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.signal(signum, self._handle)
                if previous is None:  # installed outside Python: hand back the standard behaviour
                    previous = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
                self._previous[signum] = previous
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested, self.signum = True, signum
        for each in self._previous:
            signal.signal(each, self._stop_at_once)

    def _stop_at_once(self, signum: int, frame: Any) -> None:
        # Not the handlers from before the block: SIGTERM's default would kill the process outright,
        # leaving a half-written temporary file, and the default SIGINT's KeyboardInterrupt says nothing.
        self.again, self.signum = True, signum
        raise Interrupted(f"stopped at once by a second signal ({signal.Signals(signum).name})", signum)

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def __exit__(self, *exc_info: Any) -> None:
        self._restore()


def raise_interrupted(signum: int, frame: Any) -> None:
    """A signal handler that stops the program the way Ctrl-C does, remembering the signal."""
    raise Interrupted(f"stopped by {signal.Signals(signum).name}", signum)
