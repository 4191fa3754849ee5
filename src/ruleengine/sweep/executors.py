"""Sweep executors: processes on this machine (`process_runner`) and a Dask cluster (`dask_runner`).

Both are `ruleengine.sweep.run.Runner`s: ``sweep(..., runner=r)`` hands them a `ChunkJob` (what
every chunk of one sweep shares) and the chunks (`PreparedChunk`s, or lists of full parameter dicts), and
they return each chunk's accumulators in chunk order, bit-identical to ``job.run(chunk)`` in this process:
every worker runs the same `evaluate_chunk` on the same arrays.

The job's heavy parts, the compiled strategy and the `MarketData`, travel ONCE per worker (the process
pool's initializer; ``client.scatter(..., broadcast=True)`` on Dask), then only the chunks' parameter
dicts and the small per-sweep fields (rows, columns, cash) travel. A runner keeps its workers and the
shipped data while the next job has the same strategy and market, so a walk-forward's many searches on
one market pay for them once. Close a runner (``with`` or ``close()``) to stop its workers.

`process_runner` runs the first chunks in this process and starts the pool only when the rest of the
sweep is estimated to take longer than ``min_seconds`` (a pool costs about a second to start: small
sweeps are faster without one). Workers are started by ``forkserver`` (``spawn`` where unavailable),
never ``fork``: the parent may already run threads. As with any multiprocessing, a script that calls it
must guard its entry point with ``if __name__ == "__main__":``.

Example:
    >>> from ruleengine.sweep.executors import process_runner
    >>> with process_runner(workers=2) as runner:  # doctest: +SKIP
    ...     res = sweep("rules/golden_cross.yaml", "SPY", grid=["fast=2:100", "slow=5:400"], runner=runner)
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError
from .run import ChunkJob, Runner, thread_runner

#: the ``--executor`` values
EXECUTORS = ("local", "threads", "dask")
#: modules the forkserver imports once, so that each worker forks with them loaded (start-up ~ms, not ~1 s)
_PRELOAD = ["numpy", "numba", "ruleengine.sweep.run", "ruleengine.kernels.sweep_sim",
            "ruleengine.compile.compiled", "ruleengine.compile.execute"]
_DASK_HINT = "pip install 'ruleengine[dask]' (dask and distributed)"

Spec = tuple[float, int, int, str]  # init_cash, start_row, end_row, base: what differs between a runner's jobs


# ----------------------------------------------------------------------------------------- shared data


@dataclass
class Shared:
    """A job's heavy parts as shipped to a worker: the strategy (compiled, or its document text when the
    compiled form does not pickle) and the market. `compiled()` rebuilds and caches it on the worker."""

    kind: str  # "compiled" | "text"
    strategy: Any
    market: Any
    _built: Any = field(default=None, repr=False, compare=False)

    def compiled(self) -> Any:
        if self._built is None:
            if self.kind == "compiled":
                self._built = self.strategy
            else:
                from ..strategies import signal_source

                self._built = signal_source(self.strategy)
        return self._built

    def __getstate__(self) -> dict[str, Any]:
        return {"kind": self.kind, "strategy": self.strategy, "market": self.market, "_built": None}


def shared_of(job: ChunkJob) -> Shared:
    """The job's strategy and market in a form every worker can unpickle (checked here, not in a worker)."""
    c = job.compiled
    try:  # a source pickles without its caches (the workers build their own plans)
        pickle.dumps(c)
        return Shared("compiled", c, job.market)
    except Exception:  # noqa: BLE001 - anything unpicklable in the source: ship the document instead
        doc = c.document
        text = doc.source.text if doc is not None else c.strategy.model_dump(mode="json", by_alias=True,
                                                                               exclude_none=True)
        return Shared("text", text, job.market)


def spec_of(job: ChunkJob) -> Spec:
    return (float(job.init_cash), int(job.start_row), int(job.end_row), str(job.base))


@dataclass
class _Failure:
    """A `RuleEngineError` raised in a worker, returned as a value and raised again here: raising it inside
    the worker left an erred task on the Dask scheduler (seen in test_dask_ctrl_c_cancels_the_futures)."""

    diagnostics: list[Diagnostic]
    source: Any


def evaluate(shared: Shared, spec: Spec, chunk: Sequence[dict[str, Any]], columns: Sequence[int]) -> Any:
    """A worker's task: ``job.run(chunk, columns=columns)`` on the shipped data (a `_Failure` on bad input)."""
    init_cash, r0, r1, base = spec
    job = ChunkJob(shared.compiled(), shared.market, init_cash, r0, r1, list(columns), base)
    try:
        return job.run(chunk)
    except RuleEngineError as exc:
        return _Failure(exc.diagnostics, exc.source)


def _unwrap(result: Any) -> np.ndarray:
    if isinstance(result, _Failure):
        raise RuleEngineError(result.diagnostics, result.source)
    return result


# ----------------------------------------------------------------------------------------- splitting


def split_tasks(chunk_len: int, columns: Sequence[int], want: int, symbol_chunk: int | None = None
                ) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """How one chunk becomes about `want` tasks: (row ranges of the chunk, column parts).

    Symbols split first (`symbol_chunk` per part, default as many parts as needed), then the parameter
    rows, so a chunk yields ``len(ranges) * len(parts)`` tasks.
    """
    k = len(columns)
    want = max(1, int(want))
    size = max(1, int(symbol_chunk) if symbol_chunk else math.ceil(k / want))
    parts = [list(columns[i:i + size]) for i in range(0, k, size)] or [[]]
    pieces = max(1, min(chunk_len, math.ceil(want / len(parts))))
    step = math.ceil(chunk_len / pieces) if chunk_len else 1
    ranges = [(a, min(a + step, chunk_len)) for a in range(0, chunk_len, step)] or [(0, 0)]
    return ranges, parts


def assemble(results: Sequence[Sequence[np.ndarray]], ranges: Sequence[tuple[int, int]],
             parts: Sequence[Sequence[int]], n_stats: int) -> np.ndarray:
    """The chunk's (rows x columns, n_stats) block from its tasks' results ``results[range][part]``.

    Each task's rows are combination-major over its own columns; the parts are interleaved back so that
    the whole block is combination-major, column-minor (as ``job.run(chunk)`` returns it).
    """
    n = ranges[-1][1] if ranges else 0
    k = sum(len(p) for p in parts)
    out = np.empty((n, k, n_stats), dtype=np.float64)
    for (a, b), row in zip(ranges, results, strict=True):
        c = 0
        for part, block in zip(parts, row, strict=True):
            out[a:b, c:c + len(part)] = block.reshape(b - a, len(part), n_stats)
            c += len(part)
    return out.reshape(n * k, n_stats)


# ----------------------------------------------------------------------------------------- base


class _Closing:
    """Context-manager plumbing shared by the runners."""

    #: where the chunks run when they leave this process (None: they stay here), for a code strategy's refusal
    elsewhere: str | None = None
    #: whether the caller chose this runner (False: `make_runner`'s default for no --executor): a chosen
    #: runner that runs chunks elsewhere cannot serve a code strategy's sweep (`refuse_elsewhere`)
    chosen: bool = True

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThreadRunner(_Closing):
    """`thread_runner` behind the same interface as the others (``--executor threads``)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads
        self._run = thread_runner(threads)

    def __call__(self, job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]]) -> Iterator[np.ndarray]:
        return iter(self._run(job, chunks))


# ----------------------------------------------------------------------------------------- processes


_WORKER: dict[str, Any] = {}


def _init_process(blob: bytes) -> None:
    """Process-pool initializer: the job's shared data arrive once per worker."""
    # Ctrl-C reaches the whole process group: the parent decides (it stops the pool), workers stay quiet
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["RULEENGINE_THREADS"] = "1"  # one chunk per process: no thread pools inside a worker
    _WORKER["shared"] = pickle.loads(blob)


def _process_task(spec: Spec, chunk: list[dict[str, Any]], columns: list[int]) -> Any:
    return evaluate(_WORKER["shared"], spec, chunk, columns)


class ProcessRunner(_Closing):
    """Chunks on a pool of worker processes; see `process_runner`."""

    elsewhere = "worker processes on this machine (--executor local)"

    def __init__(self, workers: int | None = None, *, min_seconds: float = 2.0) -> None:
        self.workers = workers
        self.min_seconds = float(min_seconds)
        self._pool: Any = None
        self._key: tuple[Any, ...] | None = None
        self._held: Any = None  # the job's strategy and market, so that their ids stay theirs
        #: chunks evaluated in this process and by the pool (what the start-up rule decided)
        self.in_process = self.in_pool = 0

    def __call__(self, job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]]) -> Iterator[np.ndarray]:
        from ..compile.execute import default_threads

        n = len(chunks)
        workers = max(1, min(self.workers or default_threads(), n))
        i = 0
        if self._key != (id(job.compiled), id(job.market)) or self._pool is None:
            # no workers hold this job yet: run here while the rest looks too short to pay for a pool; the
            # rate is measured from the second chunk on (the first pays the process's cold start)
            t1 = 0.0
            while i < n and (workers <= 1 or i < 2 or n == 2
                             or (time.perf_counter() - t1) / (i - 1) * (n - i) < self.min_seconds):
                result = job.run(chunks[i])
                self.in_process += 1
                yield result
                i += 1
                if i == 1:
                    t1 = time.perf_counter()
            if i == n:
                return
        yield from self._pooled(job, chunks, i, workers)

    def _pooled(self, job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]], first: int,
                workers: int) -> Iterator[np.ndarray]:
        pool = self._start(job)
        spec, cols = spec_of(job), list(job.columns)
        ahead = 2 * workers  # chunks in flight at most: memory stays bounded whatever the grid size
        futures: dict[int, Any] = {}
        n = len(chunks)
        try:
            for i in range(first, min(first + ahead, n)):
                with _sigint_deferred():  # a submit may start a worker process
                    futures[i] = pool.submit(_process_task, spec, chunks[i], cols)
            for i in range(first, n):
                result = _unwrap(futures[i].result())
                del futures[i]  # only now: interrupted while waiting, this chunk counts as running
                if i + ahead < n:
                    with _sigint_deferred():
                        futures[i + ahead] = pool.submit(_process_task, spec, chunks[i + ahead], cols)
                self.in_pool += 1
                yield result
        except (KeyboardInterrupt, GeneratorExit):
            if futures:  # Ctrl-C, or a consumer that stopped early: end the workers now, not after their chunk
                self._stop(kill=True)
            raise  # (a GeneratorExit after the last chunk is the consumer closing us: the pool stays)
        except BaseException as exc:
            from concurrent.futures import BrokenExecutor

            if isinstance(exc, BrokenExecutor):  # a worker died (killed, out of memory): start afresh next time
                self._stop(kill=True)
            for f in futures.values():  # an error: the pool stays for the next job, its queue is dropped
                f.cancel()
            raise

    def _start(self, job: ChunkJob) -> Any:
        key = (id(job.compiled), id(job.market))
        if self._pool is not None and self._key == key:
            return self._pool
        self._stop(kill=False)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        blob = pickle.dumps(shared_of(job), protocol=pickle.HIGHEST_PROTOCOL)
        ctx: Any
        try:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)  # only used when this process starts its forkserver
        except ValueError:  # pragma: no cover - no forkserver on this platform
            ctx = mp.get_context("spawn")
        from ..compile.execute import default_threads

        # sized for the machine, not this job: the pool serves the runner's next jobs on the same data
        size = max(1, self.workers or default_threads())
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx,
                                         initializer=_init_process, initargs=(blob,))
        self._key, self._held = key, (job.compiled, job.market)
        return self._pool

    def _stop(self, kill: bool) -> None:
        pool, self._pool, self._key, self._held = self._pool, None, None, None
        if pool is None:
            return
        if kill:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        else:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._stop(kill=False)


def process_runner(workers: int | None = None, *, min_seconds: float = 2.0) -> ProcessRunner:
    """A `Runner` on worker processes of this machine (``--executor local``).

    Args:
        workers: processes (default ``RULEENGINE_THREADS`` or the usable CPUs).
        min_seconds: the pool starts once the remaining chunks are estimated (from the second one run in
            this process on) to take longer than this; 0: the pool runs every chunk after the first two.

    Results are identical to `thread_runner`'s (the same `evaluate_chunk` on the same arrays).
    """
    return ProcessRunner(workers, min_seconds=min_seconds)


# ----------------------------------------------------------------------------------------- dask


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise RuleEngineError([Diagnostic("D122", "the dask executor needs dask.distributed, which is not "
                                          "installed", path="executor", hint=_DASK_HINT)]) from None
    return distributed


class DaskRunner(_Closing):
    """Chunks as tasks on a Dask cluster; see `dask_runner`."""

    elsewhere = "a Dask cluster's workers (--executor dask)"

    def __init__(self, scheduler: str | None = None, client: Any = None, *, symbol_chunk: int | None = None,
                 timeout: float = 10.0) -> None:
        distributed = _import_distributed()
        self.symbol_chunk = symbol_chunk
        self._own: list[Any] = []  # what this runner started and closes
        self._shared: tuple[tuple[Any, ...], Any, Any] | None = None
        if client is not None:
            self.client = client
        elif scheduler:
            self.client = _connect(distributed, scheduler, timeout)
            self._own.append(self.client)
        else:
            try:
                self.client = distributed.default_client()
            except ValueError:  # no client in this process: a cluster on this machine
                from ..compile.execute import default_threads

                with _sigint_ignored():  # the workers inherit it: Ctrl-C is this process's to handle
                    # errors only: a cancelled sweep's tasks would each log a warning on stderr
                    cluster = distributed.LocalCluster(n_workers=default_threads(), threads_per_worker=1,
                                                       processes=True, dashboard_address=None,
                                                       silence_logs=logging.ERROR)
                self.client = distributed.Client(cluster, set_as_default=False)
                self._own += [self.client, cluster]

    def __call__(self, job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]]) -> Iterator[np.ndarray]:
        n = len(chunks)
        if n == 0:
            return
        shared = self._scatter(job)
        spec, cols = spec_of(job), list(job.columns)
        threads = max(1, sum(self.client.nthreads().values()))
        want = math.ceil(2 * threads / n)  # tasks per chunk: keep every worker thread busy
        ahead = max(1, math.ceil(2 * threads / want))  # chunks in flight: bounded memory on the cluster
        pending: dict[int, tuple[Any, Any, Any]] = {}

        def submit(i: int) -> None:
            chunk = chunks[i]
            ranges, parts = split_tasks(len(chunk), cols, want, self.symbol_chunk)
            futs = [[self.client.submit(evaluate, shared, spec, chunk[a:b], part, pure=False) for part in parts]
                    for a, b in ranges]
            pending[i] = (futs, ranges, parts)

        futs: Any = None
        try:
            for i in range(min(ahead, n)):
                submit(i)
            for i in range(n):
                futs, ranges, parts = pending[i]
                if i + ahead < n:
                    submit(i + ahead)
                results = self.client.gather(futs)
                del pending[i]  # only now: interrupted while gathering, this chunk's tasks are cancelled
                yield assemble([[_unwrap(r) for r in row] for row in results], ranges, parts, job.width)
        except BaseException:
            # Ctrl-C, an error or a consumer that stopped: nothing left running on the cluster
            self.client.cancel([f for futs, _, _ in pending.values() for row in futs for f in row])
            raise
        finally:
            # drop this frame's futures: a traceback kept by the caller (Ctrl-C) holds the frame, and any
            # future still referenced keeps its task (and the scattered data) on the cluster
            pending.clear()
            futs = results = shared = None

    def _scatter(self, job: ChunkJob) -> Any:
        key = (id(job.compiled), id(job.market))
        if self._shared is None or self._shared[0] != key:
            self._shared = None
            future = self.client.scatter(shared_of(job), broadcast=True, hash=False)
            self._shared = (key, future, (job.compiled, job.market))
        return self._shared[1]

    def close(self) -> None:
        self._shared = None
        own, self._own = self._own, []
        for thing in own:
            thing.close()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes start (an ignored signal stays ignored across exec, and Python
    and asyncio then install no handler): a terminal's Ctrl-C reaches the whole process group, and the
    workers would print their own KeyboardInterrupt tracebacks. Off the main thread: unchanged."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """SIGINT noted but held back while a worker process may be starting, and acted on right after.

    A Ctrl-C in the middle of a start interrupts the parent between asking the forkserver for a child and
    registering it with the pool: the half-started child is never stopped and prints its own traceback when
    the parent goes away. Here a handler only notes the signal (Python runs handlers in the main thread, so
    this holds whichever thread the kernel delivers it to); once the child is the pool's, the previous handler
    runs (KeyboardInterrupt by default) and the pool is stopped as usual. Off the main thread: unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if noted and callable(previous):
            previous(signal.SIGINT, noted[0])


def _connect(distributed: Any, address: str, timeout: float) -> Any:
    """A client of the scheduler at `address`, or a D122 error naming it."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):  # a refused port fails here at once (Dask would retry until the timeout)
            socket.create_connection(parse_host_port(loc, 8786), timeout=timeout).close()
        _handshake(address, timeout)
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise RuleEngineError([Diagnostic(
            "D122", f"cannot reach the Dask scheduler at {address} ("
                    + (f"{type(exc).__name__}: {exc}" if str(exc) else f"no answer within {timeout:g} s") + ")",
            path="scheduler",
            hint="check the address (e.g. tcp://HOST:8786) and that `dask scheduler` runs there with workers "
                 "(`dask worker ADDRESS`); or run on this machine with --executor local")]) from None


def _handshake(address: str, timeout: float) -> None:
    """Dask's handshake with `address` within `timeout` seconds.

    Why: a `Client` whose connection fails waits forever on a port that accepts but never answers, and one
    that fails otherwise lingers and stalls the interpreter's exit; this probe has neither problem. It runs
    on its own thread so that it works under a running event loop (Jupyter) too.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, probe()).result()


def dask_runner(scheduler: str | None = None, client: Any = None, *, symbol_chunk: int | None = None,
                timeout: float = 10.0) -> DaskRunner:
    """A `Runner` on a Dask cluster (``--executor dask --scheduler ADDRESS``).

    Args:
        scheduler: the scheduler's address (``tcp://host:8786``); None = `client`, else the current default
            client, else a `distributed.LocalCluster` of one single-threaded process per CPU.
        client: an existing `distributed.Client` (not closed by the runner).
        symbol_chunk: symbols per task (default: the chunk's symbols split so that every worker thread
            has about two tasks, then its parameter rows).
        timeout: seconds to reach the scheduler.

    The job's strategy and market are scattered once to every worker; each chunk becomes tasks by
    parameter rows and symbol parts, gathered back in order. Interrupting the iteration (Ctrl-C, an
    error) cancels the outstanding futures.

    Raises:
        RuleEngineError: D122 when dask is not installed or the scheduler cannot be reached.
    """
    return DaskRunner(scheduler, client, symbol_chunk=symbol_chunk, timeout=timeout)


# ----------------------------------------------------------------------------------------- choice


def make_runner(executor: str | None = "local", scheduler: str | None = None,
                workers: int | None = None) -> ThreadRunner | ProcessRunner | DaskRunner:
    """The runner for ``--executor`` / ``--scheduler`` (a scheduler alone means dask).

    Raises:
        RuleEngineError: D122 for an unknown executor, a scheduler with another executor, or the dask
            errors of `dask_runner`.
    """
    from ..errors import did_you_mean

    name = (executor or ("dask" if scheduler else "local")).strip().lower()
    if name not in EXECUTORS:
        raise RuleEngineError([Diagnostic("D122", f"unknown executor '{executor}'", path="executor",
                                          hint=did_you_mean(name, list(EXECUTORS))
                                          or "choose local (processes on this machine), threads or dask")])
    if scheduler and name != "dask":
        raise RuleEngineError([Diagnostic("D122", f"--scheduler {scheduler} needs the dask executor, not "
                                          f"'{name}'", path="scheduler", hint="add --executor dask")])
    runner: ThreadRunner | ProcessRunner | DaskRunner
    if name == "threads":
        runner = ThreadRunner(workers)
    elif name == "local":
        runner = process_runner(workers)
    else:
        runner = dask_runner(scheduler)
    runner.chosen = executor is not None or scheduler is not None
    return runner


def refuse_elsewhere(runner: Any) -> None:
    """D122 when the caller chose a `runner` that runs chunks outside this process, for a strategy whose
    signals come from the sandbox (a code strategy): its code runs only in this machine's sandbox, so its
    chunks run here one after the other, and a request for processes or a cluster cannot be served."""
    where = getattr(runner, "elsewhere", None)
    if where is None or not getattr(runner, "chosen", True):
        return
    raise RuleEngineError([Diagnostic(
        "D122", f"a code strategy's sweep cannot run on {where}: its signals come from the sandbox's own "
        "processes on this machine and its code does not travel to other workers, so its chunks run in this "
        "process, one after the other", path="executor",
        hint="leave out --executor and --scheduler (in Python: runner=None); the sandbox runs the code")])


__all__ = ["EXECUTORS", "DaskRunner", "ProcessRunner", "Runner", "Shared", "ThreadRunner", "assemble",
           "dask_runner", "evaluate", "make_runner", "process_runner", "refuse_elsewhere", "shared_of",
           "split_tasks"]
