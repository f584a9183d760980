"""One function run in a child process, its answer (or its exception) sent back over a pipe.

For work split across cores inside one command: capture's workers, the flush's session reader. On Linux the
child is forked, so it starts at once with everything imported (elsewhere it is spawned). It exits when its
parent dies (a kill -9 of the command) instead of working on alone.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any


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
    import threading

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
