"""Batch stage, processes: jobs evaluated in forked workers, results written in input order.

The parent plans jobs, keeps a few in flight, and writes each result when every one before it
is written. Workers are forked after the bundle is loaded (they share it copy-on-write) and die
with the parent, even a parent killed with SIGKILL. Ctrl-C, SIGTERM and SIGHUP stop the run
(KeyboardInterrupt), and so does a worker that dies (WorkerDied): the caller then removes its
temporary output.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from types import FrameType
from typing import Any

from pctrules.batch.io import Job

Progress = Callable[[int, int], None]
"""Called with (rows written, input bytes consumed) after each chunk."""


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A job's rendered rows, and how they came out."""

    data: bytes
    rows: int
    decided: int
    failed: int
    fast_rows: int
    nbytes: int
    warned: int = 0


@dataclass
class Tally:
    """What has been written so far, and how many rows the jobs planned so far hold."""

    rows: int = 0
    decided: int = 0
    failed: int = 0
    fast_rows: int = 0
    nbytes: int = 0
    warned: int = 0
    planned: int = 0
    planning_done: bool = False

    def add(self, r: ChunkResult) -> None:
        self.rows += r.rows
        self.warned += r.warned
        self.decided += r.decided
        self.failed += r.failed
        self.fast_rows += r.fast_rows
        self.nbytes += r.nbytes

    def done_text(self) -> str:
        of = f"{self.planned:,}" if self.planning_done else f"at least {self.planned:,}"
        return f"{self.rows:,} of {of} rows"


class WorkerDied(Exception):
    """A worker process stopped before its jobs were done."""


Run = Callable[[Job], ChunkResult]
Write = Callable[[bytes], None]

_RUN: Run | None = None  # set in the parent just before the workers fork, which inherit it


def run_jobs(
    run: Run,
    jobs: Iterator[Job],
    workers: int,
    write: Write,
    tally: Tally,
    progress: Progress | None,
) -> None:
    """Every job through `run`, its result's bytes to `write`, in the jobs' order. Called
    inside `stoppable()`: a stopping signal raises KeyboardInterrupt between chunks."""
    global _RUN
    planned = _planned(jobs, tally)
    first = next(planned, None)
    if first is None:
        return
    second = next(planned, None)
    if workers == 1 or second is None or "fork" not in mp.get_all_start_methods():
        # One chunk, or one worker: a process of our own would only add its start-up time.
        for job in chain([first] if second is None else [first, second], planned):
            _write(write, run(job), tally, progress)
        return
    _RUN = run
    try:
        _forked(chain([first, second], planned), workers, write, tally, progress)
    finally:
        _RUN = None


def _forked(
    jobs: Iterator[Job], workers: int, write: Write, tally: Tally, progress: Progress | None
) -> None:
    ctx = mp.get_context("fork")
    job_q = ctx.Queue(maxsize=workers * 2)
    result_q = ctx.Queue()
    # The bundle, graph and fast-path tables are shared with the workers copy-on-write; frozen,
    # the collector never touches (and so never copies) them.
    gc.freeze()
    procs = [
        ctx.Process(target=_worker, args=(job_q, result_q, os.getpid()), daemon=True)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        _pump(jobs, procs, job_q, result_q, workers, write, tally, progress)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                # Terminated before it set its own handlers, it only noted SIGTERM as the
                # parent's handler does: SIGKILL cannot be noted.
                p.kill()
                p.join()
        job_q.close()
        result_q.close()
        job_q.cancel_join_thread()
        result_q.cancel_join_thread()
        gc.unfreeze()


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not every platform has affinity
        return max(1, os.cpu_count() or 1)


# -- in a worker ---------------------------------------------------------------------------------

_PARENT_CHECK_SECONDS = 2.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker(jobs: Any, results: Any, parent: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: only the parent acts on it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # the parent's handlers are for the parent
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent(parent)
    run = _RUN
    assert run is not None
    while True:
        try:
            job = jobs.get(timeout=_PARENT_CHECK_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:  # the parent is gone (where Linux could not tell us)
                return
            continue
        if job is None:
            return
        try:
            results.put((job.seq, run(job)))
        except BaseException:
            results.put((job.seq, traceback.format_exc()))
            return


def _die_with_parent(parent: int) -> None:
    """Have this worker killed when the parent process dies, even by kill -9, which gives the
    parent no chance to stop it: Linux's PR_SET_PDEATHSIG (elsewhere, the worker notices
    between jobs). A parent already gone before the request took effect: stop now."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


# -- in the parent -------------------------------------------------------------------------------

_CAUGHT: list[int] = []  # the stopping signals received while the run is going


class stoppable:
    """Ctrl-C, SIGTERM and SIGHUP stop the run, so that its temporary file is removed. The
    handler only notes the signal; the run stops at its next check (each chunk written, each
    job planned, every 0.2 s while it waits, and `stop_if_signalled()` before the output is
    renamed into place) by raising KeyboardInterrupt there. Raised in the handler itself, it
    could land anywhere, e.g. in a callback Python runs at fork, which ignores it: the signal
    was lost and the run went on."""

    def __enter__(self) -> None:
        _CAUGHT.clear()
        self.saved: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.saved[sig] = signal.signal(sig, self._note)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        _CAUGHT.clear()

    @staticmethod
    def _note(signum: int, frame: FrameType | None) -> None:
        _CAUGHT.append(signum)


def stop_if_signalled() -> None:
    """KeyboardInterrupt if a stopping signal came since `stoppable()` was entered."""
    if _CAUGHT:
        raise KeyboardInterrupt


def _planned(jobs: Iterator[Job], tally: Tally) -> Iterator[Job]:
    for job in jobs:
        stop_if_signalled()
        tally.planned += job.lines
        yield job
    tally.planning_done = True


def _pump(
    jobs: Iterator[Job],
    procs: list[Any],
    job_q: Any,
    result_q: Any,
    workers: int,
    write: Write,
    tally: Tally,
    progress: Progress | None,
) -> None:
    """Keep a few chunks in flight and write results in input order as they complete."""
    limit = workers * 2 + 1  # enough to keep every worker busy; bounds memory
    pending: dict[int, ChunkResult] = {}
    next_seq = 0
    in_flight = 0
    exhausted = False
    while True:
        while not exhausted and in_flight < limit:
            job = next(jobs, None)
            if job is None:
                exhausted = True
            else:
                _put(job_q, job, procs)
                in_flight += 1
        if not in_flight:
            break
        try:
            seq, result = result_q.get(timeout=0.2)
        except queue.Empty:
            _check_workers(procs)
            continue
        if isinstance(result, str):
            raise RuntimeError(f"a worker failed:\n{result}")
        pending[seq] = result
        in_flight -= 1
        while next_seq in pending:
            _write(write, pending.pop(next_seq), tally, progress)
            next_seq += 1
    for _ in procs:
        _put(job_q, None, procs)


def _put(job_q: Any, job: Job | None, procs: list[Any]) -> None:
    """Queue a job, never waiting for ever: the queue is bounded, and workers that died no
    longer take from it."""
    while True:
        try:
            job_q.put(job, timeout=0.2)
            return
        except queue.Full:
            _check_workers(procs)


def _check_workers(procs: list[Any]) -> None:
    stop_if_signalled()
    for p in procs:
        code = p.exitcode
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise WorkerDied(f"a worker process stopped unexpectedly ({how})")


def _write(write: Write, r: ChunkResult, tally: Tally, progress: Progress | None) -> None:
    stop_if_signalled()
    write(r.data)
    tally.add(r)
    if progress is not None:
        progress(tally.rows, tally.nbytes)
