"""The inventory's two outputs, the `scan -o` JSON file and the store, written together: `publish`.

Serializing and writing ~40 MB for 10k skills takes a tenth of a second, and checking the schema another;
for a big inventory forked children do both while this process stores the document. The file is written
into a temporary file beside the target and renamed over it only once the document passed its schema — so
an invalid document is never written — and the store commits only once the file is in place. Without fork
the same steps run here, in that order.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from skill_insights.collectors.skills import read_all, write_all
from skill_insights.collectors.skills.store import store_scan
from skill_insights.outputs import commit, stage, write_atomic
from skill_insights.processes import can_fork, fork_child
from skill_insights.schemas.validate import SchemaCheck, SchemaError


class OutputFailed(Exception):
    """The -o file could not be written; `error` is the OSError of the write."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def publish(
    doc: dict[str, Any], open_store: Callable[[], Any], output: Path | None, *, background: bool
) -> dict[str, Any]:
    """Check `doc` against the inventory schema, write it to `output` (when given) and store it (store_scan's
    diff is returned). SchemaError for an invalid document: nothing is written or stored. OutputFailed when
    the file can't be written: nothing is stored. When the store fails (or can't be opened) the file is still
    written, once the document passed, and the store's error raised. Interrupted: nothing is written.

    `background` (a big inventory): the file and the check are each done by a forked child meanwhile. The
    check is skipped when the store finds it already holds this very document (the usual re-scan): a stored
    document passed it when stored."""
    writer = InventoryWriter(output, doc, fork=background) if output is not None else None
    checking: SchemaCheck | None = None

    def start_check() -> None:
        nonlocal checking
        checking = SchemaCheck(doc, "inventory", background=background and can_fork())

    def finish() -> None:  # the verdict, then the file
        if checking is not None:
            try:
                checking.wait()
            except SchemaError:
                if writer is not None:
                    writer.abort()
                raise
        if writer is not None:
            try:
                writer.finish()
            except OSError as e:
                raise OutputFailed(e) from None

    try:
        return store_scan(open_store(), doc, before_commit=finish, check=start_check)
    except Exception:
        try:
            if checking is None:
                start_check()
            finish()  # the same verdict again, or the file now; an error of its own replaces the store's
        except BaseException:
            if writer is not None:
                writer.abort()  # whatever stopped it (a Ctrl-C meanwhile): no child left waiting
            raise
        raise
    except BaseException:  # interrupted: nothing is written
        if writer is not None:
            writer.abort()
        raise
    finally:
        if checking is not None:
            checking.close()  # a check still running when the store stopped: killed and reaped


def _json(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def _prepare(path: Path, doc: dict[str, Any]) -> str:
    """The indented JSON staged beside `path`; `commit` renames it over `path`."""
    return stage(path, _json(doc))


class InventoryWriter:
    """`finish()` puts the file in place (raising OSError as the write would), `abort()` drops it; the first
    of them decides, later calls do nothing. With `fork` false (or no fork possible) nothing happens before
    `finish()`, which then writes in this process."""

    def __init__(self, path: Path, doc: dict[str, Any], *, fork: bool) -> None:
        self.path, self.doc = path, doc
        self._done = False
        self._child: tuple[int, int, int] | None = None  # pid, result fd (read), go fd (write)
        if fork and can_fork():
            self._child = self._start()

    def _start(self) -> tuple[int, int, int] | None:
        res_r, res_w = os.pipe()
        go_r, go_w = os.pipe()

        def child() -> None:  # prepare, wait for the verdict, rename or drop, report
            tmp: str | None = None
            try:
                # A Ctrl-C reaches the whole process group: the parent decides (abort), the child waits for it.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                os.close(res_r)
                os.close(go_w)
                err: OSError | None = None
                try:
                    tmp = _prepare(self.path, self.doc)
                except OSError as e:
                    err = e
                if os.read(go_r, 1) == b"1" and tmp is not None:  # b"" when the parent is gone: drop it
                    try:
                        commit(tmp, self.path)
                    except OSError as e:
                        err = e
                    tmp = None  # renamed, or removed by commit
                write_all(res_w, b"ok" if err is None else orjson.dumps([err.errno, err.strerror or str(err)]))
            finally:
                if tmp is not None:  # not renamed into place, whatever stopped it: never left behind
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)

        pid = fork_child(child)
        os.close(res_w)
        os.close(go_r)
        if pid is None:
            os.close(res_r)
            os.close(go_w)
            return None
        return pid, res_r, go_w

    def _verdict(self, go: bool) -> bytes | None:
        """Tell the child, wait for it; its report, or None when it died without one."""
        assert self._child is not None
        pid, res_r, go_w = self._child
        with contextlib.suppress(OSError):  # a child already gone: its exit status says so below
            os.write(go_w, b"1" if go else b"0")
        os.close(go_w)
        try:
            data = read_all(res_r)
        finally:  # even when interrupted: the child, told what to do, finishes on its own and is reaped here
            os.close(res_r)
            _, status = os.waitpid(pid, 0)
        return data if os.waitstatus_to_exitcode(status) == 0 and data else None

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        report = self._verdict(True) if self._child is not None else None
        if report is None:  # no child, or it died: write here, where a failure surfaces as it would have
            write_atomic(self.path, _json(self.doc))
        elif report != b"ok":
            errno, strerror = orjson.loads(report)
            raise OSError(errno, strerror)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        if self._child is not None:
            self._verdict(False)
