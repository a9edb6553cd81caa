"""Scanning a big directory tree on every core: this process and forked children, fed through pipes.

A process pool (``concurrent.futures``) costs about a third of the work of a 200 MiB source tree
on two cores: its queue threads fight the walking thread for the GIL, every batch is pickled
twice, and every result is a message of its own. Here, on Linux, the walk itself hands the
files out, and this process is one of the ``workers``:

* each of the ``workers - 1`` children has its own pipe; a batch is one frame of at most
  ``PIPE_BUF`` bytes (file sizes and paths, NUL-separated), written without blocking, so it
  lands whole or not at all. While the walk goes on, a batch goes to a child with room in its
  pipe or is kept; when the walk is done, this process scans the kept batches, topping up the
  children's pipes (made small: a few batches each) before each one, so all end together;
* a child scans its batches with the scanner it inherited (built once, before the fork) and,
  when its pipe is closed, sends back one pickled list of batch results;
* Ctrl-C, an error or an early stop kill the children.

Findings cross back as fingerprints and previews only, as from any worker (``Finding.secret``
is ``None``); known values reach the children by fork, never through a pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from keyroll.scan.walk import FileEntry

__all__ = ["FRAME_BYTES", "ChildHooks", "available", "fan_out"]

R = TypeVar("R")

FRAME_BYTES = 4096
"""a batch frame's size limit: ``PIPE_BUF`` on Linux, so a non-blocking write is all or nothing"""
_PIPE_BYTES = 16 * 1024
"""pipe capacity asked for (at most a few frames queued per child, for balance at the end)"""
_HEADER = struct.Struct("<I")


def available() -> bool:
    """Whether this platform can fan out by fork (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def decode(payload: bytes) -> list[FileEntry]:
    """The batch of one frame's payload (``size NUL path NUL size NUL path``, see :func:`frames`)."""
    parts = payload.split(b"\0")
    fsdecode = os.fsdecode
    return [FileEntry(fsdecode(parts[i + 1]), int(parts[i])) for i in range(0, len(parts) - 1, 2)]


def frames(entries: Iterable[FileEntry], limit: int = FRAME_BYTES) -> Iterator[tuple[list[FileEntry], bytes]]:
    """Batches of consecutive entries with their frames (header + payload), each frame at most
    ``limit`` bytes when an entry fits (a longer path gets a frame of its own)."""
    room = limit - _HEADER.size
    batch: list[FileEntry] = []
    parts: list[bytes] = []
    used = 0
    for entry in entries:
        item = b"%d\0%s" % (entry.size, os.fsencode(entry.path))
        if parts and used + len(item) + 1 > room:
            payload = b"\0".join(parts)
            yield batch, _HEADER.pack(len(payload)) + payload
            batch, parts, used = [], [], 0
        batch.append(entry)
        parts.append(item)
        used += len(item) + 1
    if parts:
        payload = b"\0".join(parts)
        yield batch, _HEADER.pack(len(payload)) + payload


@dataclass(frozen=True)
class ChildHooks:
    """What a forked child runs besides its batches."""

    start: Callable[[], None] = lambda: None
    """right after the fork"""
    end: Callable[[], None] = lambda: None
    """after the last batch, before the results are sent"""


def fan_out(
    entries: Iterable[FileEntry],
    workers: int,
    work: Callable[[list[FileEntry]], R],
    hooks: ChildHooks | None = None,
) -> Iterator[R]:
    """Run ``work`` over batches of ``entries`` in this process and ``workers - 1`` forked
    children; yield every batch's result (after the walk, in no particular order).

    While ``entries`` is being produced (the walk), each batch goes to a child with room in its
    pipe, or is kept here; afterwards this process works through the kept batches itself,
    topping up the children's pipes before each one, so all finish at about the same time.
    ``hooks`` run in each child right after the fork (e.g. to reset a phase clock) and after its
    last batch (e.g. to stop a helper process it started, and wait for it).

    :raises RuntimeError: a child failed (its traceback is in the message) or died.
    """
    pids: list[int] = []  # children not reaped yet
    fds: set[int] = set()  # our pipe ends still open
    results: list[R] = []
    try:
        pipes: list[tuple[int, int]] = []  # (write end of a child's work pipe, read end of its results)
        for _ in range(max(1, workers - 1)):
            pid, w, r = _spawn(work, hooks or ChildHooks(), [w for w, _ in pipes])
            pids.append(pid)
            fds.update((w, r))
            pipes.append((w, r))
        jobs = [w for w, _ in pipes]
        try:
            results.extend(_share(entries, jobs, work))
        except _ChildGone as gone:  # it failed: its own report says why
            i = jobs.index(gone.fd)
            fds.discard(pipes[i][1])
            _collect(pids.pop(i), pipes[i][1])
            raise RuntimeError("scan worker stopped early") from None
        for w in jobs:
            fds.discard(w)
            os.close(w)
        for pid, (_, r) in zip(list(pids), pipes, strict=True):
            fds.discard(r)
            results.extend(_collect(pid, r))
            pids.remove(pid)
    finally:
        _stop(fds, pids)
    yield from results


def _share(entries: Iterable[FileEntry], jobs: list[int], work: Callable[[list[FileEntry]], R]) -> list[R]:
    """Hand the batches to the children while the walk goes on, then work through the rest here."""
    results: list[R] = []
    kept: deque[tuple[list[FileEntry], bytes]] = deque()
    for item in frames(entries):
        if kept or not _send(jobs, item[1]):  # keep the order: kept ones go first
            kept.append(item)
            while kept and _send(jobs, kept[0][1]):
                kept.popleft()
    while kept:
        while kept and _send(jobs, kept[0][1]):
            kept.popleft()
        if kept:
            results.append(work(kept.pop()[0]))
    return results


def _stop(fds: Iterable[int], pids: Iterable[int]) -> None:
    """Interrupted or failed: close our pipe ends, stop the children now."""
    import signal

    for fd in fds:
        os.close(fd)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


class _ChildGone(Exception):
    """A child's work pipe is closed: the child has stopped."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.fd = fd


def _send(pipes: list[int], frame: bytes) -> bool:
    """Write ``frame`` to the first child with room for it; ``False`` when none has.

    :raises _ChildGone: a child's pipe is broken (it failed or died).
    """
    for fd in pipes:
        try:
            written = os.write(fd, frame)
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise _ChildGone(fd) from None
        if written < len(frame):  # a frame over PIPE_BUF (a very long path): finish it here
            try:
                _write_all(fd, frame[written:])
            except BrokenPipeError:
                raise _ChildGone(fd) from None
        return True
    return False


def _spawn(
    work: Callable[[list[FileEntry]], R], hooks: ChildHooks, inherited: list[int]
) -> tuple[int, int, int]:
    jobs_r, jobs_w = os.pipe()
    res_r, res_w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(jobs_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(jobs_w)
            os.close(res_r)
            for fd in inherited:  # the other children's work pipes: they must see EOF
                os.close(fd)
            hooks.start()
            out: list[R] = []
            with os.fdopen(jobs_r, "rb") as jobs:
                while head := jobs.read(_HEADER.size):
                    (n,) = _HEADER.unpack(head)
                    out.append(work(decode(jobs.read(n))))
            hooks.end()
            reply = pickle.dumps(("ok", out), protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # everything goes back to the parent
            import traceback

            reply = pickle.dumps(("error", traceback.format_exc()))
        try:
            with os.fdopen(res_w, "wb") as fh:
                fh.write(reply)
        finally:
            os._exit(code)
    os.close(jobs_r)
    os.close(res_w)
    os.set_blocking(jobs_w, False)
    return pid, jobs_w, res_r


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        select.select([], [fd], [])
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue


def _collect(pid: int, fd: int) -> list[R]:
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"scan worker {pid} died (status {status})")
    kind, value = pickle.loads(data)  # our own child, over our own pipe
    if kind != "ok":
        raise RuntimeError(f"scan worker failed:\n{value}")
    return list(value)
