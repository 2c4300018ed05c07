"""Slow first calls made before the first user asks: the registry table (parameter counts of every
model) and each lab model's torchinfo summary take seconds each for the larger models."""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cvzoo.demo")


def warm_up(jobs: list[Callable[[], Any]]) -> threading.Thread:
    """Run ``jobs`` one after another in a background thread (started here, returned); a job that
    fails is logged at debug level and skipped (the user sees its error when asking for it).

    The thread is a daemon (it never keeps the server up), and at interpreter exit the job in
    progress is waited for (at most 120 s) and the rest skipped: a thread stopped inside a torch call
    aborts the whole process ("terminate called without an active exception", exit status 134).
    """
    stop = threading.Event()

    def run() -> None:
        for job in jobs:
            if stop.is_set():
                return
            try:
                job()
            except Exception:  # a model that cannot be summarised says so when picked
                log.debug("warm-up job %r failed", job, exc_info=True)

    thread = threading.Thread(target=run, name="warm-up", daemon=True)

    def finish() -> None:
        stop.set()
        thread.join(timeout=120)

    atexit.register(finish)
    thread.start()
    return thread
