"""Starting processes: the one module that does it, and why there are three ways.

* `Forked(fn, *args)` — one function run in a child, its answer (or its exception) sent back over a pipe: work
  split across cores inside one command (capture's workers, the flush's session reader, the schema check and
  the scan cache written in the background). On Linux the child is forked, so it starts at once with
  everything imported (elsewhere it is spawned); it exits when its parent dies instead of working on alone.
* `fork_child(child)` — a bare `os.fork`, for the two hot spots where `Forked`'s multiprocessing import and
  process start are a visible share of the command: the scan's workers (a re-scan of 10k skills
  that finds nothing changed is under a second) and the inventory writer, whose child holds a staged file
  until the parent's verdict over a second pipe. Only from a single-threaded process (`can_fork`).
* `process_pool(n)` — a `concurrent.futures` pool for the analysis phases: each phase's crash is its own, and
  the pool's queue hands out phases of very different lengths.

External programs (git, gh, npm, the daemon's own jobs) are started with `subprocess`, never through a shell.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def can_fork() -> bool:
    """Fork only on Linux and from a single-threaded process: fork is the cheap way to hand a worker the
    parent's state, and forking a threaded process can deadlock the child on a lock another thread held."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def fork_child(child: Callable[[], None]) -> int | None:
    """Fork; the child runs `child()` and leaves with `os._exit` (0 when it returned, 1 when it raised),
    never running the parent's exit handlers. The child's pid, or None when no process could be made."""
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=max(1, workers))


class ChildFailed(RuntimeError):
    """The child could not start, died, or did not answer in time."""


class Forked:
    """`Forked(fn, *args)` starts `fn(*args)` in a child; `result()` returns what it returned or raises what
    it raised. A child that cannot start is no error here: `result()` raises ChildFailed then."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        import multiprocessing

        ctx: Any = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self._receive, send = ctx.Pipe(duplex=False)
        self.proc: Any = ctx.Process(target=_child, args=(send, os.getpid(), fn, args), daemon=True)
        try:
            self.proc.start()
        except OSError:  # no process to be had (a process limit)
            self.proc = None
        finally:
            send.close()

    def result(self, timeout: float | None = None) -> Any:
        """The child's answer; ChildFailed when there is none (within `timeout` seconds: then it is killed)."""
        outcome: tuple[bool, Any] | None = None
        try:
            if self.proc is not None and (timeout is None or self._receive.poll(timeout)):
                outcome = self._receive.recv()
        except EOFError:
            pass
        finally:
            self._receive.close()
            if self.proc is not None:
                if outcome is None and self.proc.is_alive():
                    self.proc.kill()
                self.proc.join()
        if outcome is None:
            pid = self.proc.pid if self.proc is not None else None
            raise ChildFailed(f"worker process {pid} gave no answer" if pid else "no worker process could start")
        ok, value = outcome
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Kill the child if it still runs, and reap it: its answer is no longer wanted."""
        self._receive.close()
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join()
            self.proc = None


def _child(send, parent: int, fn: Callable[..., Any], args: tuple) -> None:
    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    try:
        send.send((True, fn(*args)))
    except BaseException as e:  # to the parent, which raises it
        send.send((False, e))
    finally:
        send.close()
