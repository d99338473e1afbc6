"""Ctrl-C during training: finish the current step, save a checkpoint, then stop."""
from __future__ import annotations

import signal
import threading
from typing import Any


class DeferredInterrupt:
    """Within the block, the first SIGINT only sets ``requested``; the loop checks it between steps,
    so the checkpoint it then saves is taken at a step boundary and a resume is exact. The handler
    is removed at the first SIGINT, so a second Ctrl-C interrupts at once. Outside the main thread
    (where Python cannot install handlers) Ctrl-C behaves as usual.
    """

    def __enter__(self) -> DeferredInterrupt:
        self.requested = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._handle)
            self._previous = previous if previous is not None else signal.default_int_handler
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def __exit__(self, *exc_info: Any) -> None:
        self._restore()
