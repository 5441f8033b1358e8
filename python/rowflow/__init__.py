"""rowflow: stream CSV files of any size into SQLite, PostgreSQL or MySQL.

The same engine as the ``rowflow`` command, from Python::

    import rowflow

    report = rowflow.load("users.csv", into="sqlite:///tmp/users.db", key=["id"])
    print(report.rows_written, report.rows_rejected, report.reject_file)

    report = rowflow.run("pipeline.toml", set={"source.path": "big.csv"})

    report = (
        rowflow.Pipeline("users.csv", "postgres://me@localhost/db", table="users")
        .compute("full_name", "first_name || ' ' || last_name")
        .filter("country = 'FR'")
        .run()
    )

Every input row ends up written, filtered out or in the reject file (with its line and
reason); a run that crashed or was interrupted resumes where its last commit ended.
The GIL is released while a load runs. Ctrl-C stops reading, commits the rows in
flight, and raises ``KeyboardInterrupt`` again after the summary (its ``report``
attribute holds it). See docs/python.md for every entry point.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ._rowflow import Feeder as _Feeder
from ._rowflow import RowflowError, __version__
from ._rowflow import check_pipeline as _check_pipeline
from ._rowflow import preview_pipeline as _preview_pipeline
from ._rowflow import run_pipeline as _run_pipeline

__all__ = [
    "Error",
    "RunFailed",
    "Report",
    "Preview",
    "Pipeline",
    "run",
    "load",
    "check_load",
    "preview_load",
    "__version__",
]

#: The base of rowflow's exceptions: a pipeline that could not start (bad settings, an
#: unreadable file, a database that cannot be reached). Messages never hold passwords.
Error = RowflowError

Progress = Callable[[Dict[str, Any]], None]
"""A progress callback: called a few times a second with a dict of ``rows_read``,
``rows_written``, ``rows_filtered``, ``rows_rejected``, ``rows_uncommitted``,
``bytes_read``, ``bytes_total`` (``None`` when unknown) and ``elapsed_s``."""


class Report:
    """The end-of-run summary: the same fields as the CLI's ``--json``.

    ``status`` is ``"completed"``, ``"limited"``, ``"skipped"`` (already loaded),
    ``"interrupted"`` or ``"failed"``; ``exit_code`` is the CLI's (0 everything written
    or filtered, 1 finished with rejected rows, 2 failed or interrupted). For a completed
    run, ``rows_read == rows_written + rows_filtered + rows_rejected``.
    """

    status: str
    error: Optional[str]
    rows_read: int
    rows_written: int
    rows_filtered: int
    rows_rejected: int
    rows_rolled_back: int
    rows_not_processed: int
    reconnects: int
    already_committed: int
    note: Optional[str]
    notes: List[str]
    reason: Optional[str]
    rejected_before: int
    bytes_read: int
    elapsed_s: float
    rows_per_s: float
    inputs: List[str]
    target: str
    table: str
    reject_file: Optional[str]
    first_rejects: List[str]
    http: List[Dict[str, Any]]
    exit_code: int

    def __init__(self, fields: Mapping[str, Any]):
        self._fields = dict(fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fields"][name]
        except KeyError:
            raise AttributeError(f"Report has no field {name!r}") from None

    def to_dict(self) -> Dict[str, Any]:
        """The summary as a dict (a copy): what ``rowflow ... --json`` prints."""
        return json.loads(json.dumps(self._fields))

    @property
    def ok(self) -> bool:
        """True when the run completed (or had nothing to do) with no rejected row."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        # The target is redacted by the engine: no password reaches this text.
        return (
            f"Report(status={self.status!r}, rows_read={self.rows_read}, "
            f"rows_written={self.rows_written}, rows_filtered={self.rows_filtered}, "
            f"rows_rejected={self.rows_rejected}, target={self.target!r}, "
            f"table={self.table!r}, elapsed_s={self.elapsed_s})"
        )


class Preview:
    """The first rows of a pipeline's output, as ``Pipeline.preview`` found them
    (nothing written)."""

    columns: List[str]
    types: List[str]
    rows: List[Dict[str, Any]]
    rejected: List[Any]
    filtered: int
    read: int
    notes: List[str]
    http_requests: int

    def __init__(self, fields: Mapping[str, Any]):
        self.__dict__.update(fields)

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return (
            f"Preview(read={self.read}, rows={len(self.rows)}, rejected={len(self.rejected)}, "
            f"filtered={self.filtered}, columns={self.columns!r})"
        )


class RunFailed(RowflowError):
    """A run that started and failed (a lost database, too many rejects, ...). Rows
    committed before the failure stay committed and the next run resumes after them.
    ``report`` holds the summary."""

    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


class _TerminalProgress:
    """The default progress display on a terminal: one line on stderr, rewritten in
    place a few times a second, ended when the run ends."""

    def __init__(self, stream):
        self._stream = stream
        self._shown = False

    def __call__(self, s: Dict[str, Any]) -> None:
        total = s.get("bytes_total")
        pct = f" {100 * s['bytes_read'] / total:5.1f}% |" if total else ""
        rate = s["rows_read"] / s["elapsed_s"] if s["elapsed_s"] > 0 else 0.0
        line = (
            f"\rrowflow:{pct} {s['rows_read']:,} rows read, {s['rows_written']:,} written, "
            f"{s['rows_filtered']:,} filtered, {s['rows_rejected']:,} rejected "
            f"({rate:,.0f} rows/s)"
        )
        self._stream.write(line + "\x1b[K")
        self._stream.flush()
        self._shown = True

    def close(self, report_json: Optional[str] = None) -> None:
        """End the line; with the report, end it with the run's final counts."""
        if report_json is not None:
            r = json.loads(report_json)
            self._stream.write(
                f"\rrowflow: {r['status']}: {r['rows_read']:,} rows read, "
                f"{r['rows_written']:,} written, {r['rows_filtered']:,} filtered, "
                f"{r['rows_rejected']:,} rejected in {r['elapsed_s']:.1f} s\x1b[K"
            )
            self._shown = True
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _progress_for(progress: Union[bool, Progress, None]) -> Optional[Progress]:
    """``None``: a progress line when stderr is a terminal (not in a notebook);
    ``False``: nothing; ``True``: the line wherever stderr goes; a function: it."""
    import sys

    if progress is False:
        return None
    if progress is True:
        return _TerminalProgress(sys.stderr)
    if progress is not None:
        return progress
    interactive = getattr(sys.stderr, "isatty", lambda: False)()
    if interactive and "ipykernel" not in sys.modules:
        return _TerminalProgress(sys.stderr)
    return None


def _run(progress: Union[bool, Progress, None], **kwargs: Any) -> Any:
    cb = _progress_for(progress)
    if not isinstance(cb, _TerminalProgress):
        return _run_pipeline(progress=cb, **kwargs)
    result = None
    try:
        result = _run_pipeline(progress=cb, **kwargs)
        return result
    finally:
        cb.close(result[0] if result else None)


def _execute(check: bool, progress: Union[bool, Progress, None], **kwargs: Any) -> Report:
    """Run with the engine and turn its answer into a ``Report`` (or an exception)."""
    out, interrupted = _run(progress, **kwargs)
    return _finish(out, interrupted, check)


def _set_value(value: Any) -> str:
    """A Python value as the text of a ``--set key=value`` override."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _overrides(set: Optional[Mapping[str, Any]]) -> List[str]:
    return [f"{k}={_set_value(v)}" for k, v in (set or {}).items()]


def _finish(report_json: str, interrupted: bool, check: bool) -> Report:
    report = Report(json.loads(report_json))
    if interrupted:
        e = KeyboardInterrupt(
            f"interrupted: {report.rows_written} rows committed; run again to resume"
        )
        e.report = report  # type: ignore[attr-defined]
        raise e
    if check and report.status == "failed":
        raise RunFailed(report.error or "the run failed", report)
    return report


def _drop_none(value: Any) -> Any:
    """Settings without their ``None`` values (TOML has no null: unset means default)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def run(
    path: Union[str, "os.PathLike[str]"],
    set: Optional[Mapping[str, Any]] = None,
    *,
    restart: bool = False,
    wait: bool = False,
    limit: Optional[int] = None,
    progress: Union[bool, Progress, None] = None,
    check: bool = True,
) -> Report:
    """Run a pipeline file, as ``rowflow run PATH --set key=value ...`` does.

    Args:
        path: the pipeline file (TOML). Relative paths in it are relative to its
            directory.
        set: overrides of the file's settings, ``{"source.path": "big.csv"}`` (paths
            given here are relative to the current directory).
        restart: load from the beginning, not resuming an interrupted run.
        wait: wait for another run of the same load to finish instead of failing.
        limit: stop after this many rows (the next run goes on after them).
        progress: ``None`` (default): a progress line on stderr when it is a
            terminal, nothing in a notebook or a pipe; ``False``: never; ``True``:
            always; a function: called a few times a second with a progress dict (see
            ``Progress``).
        check: raise ``RunFailed`` when the run fails (else return its report, with
            ``status == "failed"``).

    Returns the run's ``Report``. Raises ``rowflow.Error`` when the pipeline cannot
    start, and ``KeyboardInterrupt`` (with ``.report``) after Ctrl-C, once the rows in
    flight are committed.
    """
    return _execute(
        check, progress, path=os.fspath(path), set=_overrides(set),
        restart=restart, wait=wait, limit=limit,
    )


def _default_table(first: str) -> str:
    if first == "-":
        return "stdin"
    stem = os.path.basename(first).split(".")[0]
    t = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return t or "data"


_LOAD_OPTIONS = {
    "table": None, "mode": "append", "key": None, "types": None, "compute": None,
    "where": None, "writers": None, "skip": None, "reject": None, "delimiter": None,
    "header": None, "quote": None, "escape": None, "null": None, "encoding": None,
    "timezone": None, "snake_case": False, "format": None, "union_by_name": False,
    "alter": False,
}


def _load_spec(files: Any, into: Optional[str], _need_into: bool = True, **given: Any) -> Dict[str, Any]:
    """The pipeline settings ``load``'s arguments (``_LOAD_OPTIONS``) describe, as the
    CLI's flags do."""
    unknown = sorted(set(given) - set(_LOAD_OPTIONS))
    if unknown:
        raise TypeError(f"unknown load argument(s): {', '.join(unknown)}")
    o = {**_LOAD_OPTIONS, **given}
    table, mode, key, types, compute, where = (
        o["table"], o["mode"], o["key"], o["types"], o["compute"], o["where"]
    )
    if isinstance(files, (str, os.PathLike)):
        paths = [os.fspath(files)]
    else:
        paths = [os.fspath(f) for f in files]
    if not paths:
        raise Error("no input files")
    url = into if into is not None else os.environ.get("DATABASE_URL", "")
    if not url.strip() and not _need_into:
        url = "sqlite://preview.db"  # a preview writes nothing: any destination will do
    if not url.strip():
        raise Error(
            "no destination: give into=URL (sqlite://out.db, postgres://user@host/db, "
            "mysql://user@host/db) or set DATABASE_URL"
        )
    truncate = mode == "truncate"
    transforms: List[Dict[str, Any]] = []
    if compute:
        transforms.append({"type": "compute", "columns": dict(compute)})
    for condition in [where] if isinstance(where, str) else list(where or []):
        transforms.append({"type": "filter", "where": condition})
    spec = {
        "source": {
            "paths": paths,
            "delimiter": o["delimiter"],
            "has_header": o["header"],
            "quote": o["quote"],
            "escape": o["escape"],
            "null_values": list(o["null"] or []),
            "encoding": o["encoding"],
            "timezone": o["timezone"],
            "normalize_names": "snake_case" if o["snake_case"] else None,
            "format": o["format"],
            "union_by_name": o["union_by_name"],
            "skip_rows": o["skip"] or 0,
            "schema": dict(types or {}),
        },
        "transform": transforms,
        "sink": {
            "url": url,
            "table": table or _default_table(paths[0]),
            "mode": "append" if truncate else mode,
            "truncate": truncate,
            "key": list(key or []),
            "alter": o["alter"],
            "writers": o["writers"],
        },
        "errors": {"reject_file": o["reject"]},
    }
    return _drop_none(spec)


def check_load(files: Any, into: Optional[str] = None, *, set: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> Dict[str, Any]:
    """``rowflow load ... --dry-run``: the same arguments as ``load``; checks the load
    and writes nothing. Returns the dict ``Pipeline.check`` returns."""
    spec = _load_spec(files, into, **kwargs)
    return _check_pipeline(spec_json=json.dumps(spec), set=_overrides(set))


def preview_load(
    files: Any,
    into: Optional[str] = None,
    *,
    rows: int = 20,
    set: Optional[Mapping[str, Any]] = None,
    **kwargs: Any,
) -> "Preview":
    """``rowflow load ... --preview -n ROWS``: the same arguments as ``load``; runs the
    first ``rows`` rows and writes nothing (no destination needed). Returns a
    ``Preview``."""
    spec = _load_spec(files, into, _need_into=False, **kwargs)
    return Preview(_preview_pipeline(spec_json=json.dumps(spec), set=_overrides(set), rows=rows))


def load(
    files: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]],
    into: Optional[str] = None,
    *,
    table: Optional[str] = None,
    mode: str = "append",
    key: Optional[Sequence[str]] = None,
    types: Optional[Mapping[str, str]] = None,
    compute: Optional[Mapping[str, str]] = None,
    where: Union[str, Sequence[str], None] = None,
    writers: Optional[int] = None,
    skip: Optional[int] = None,
    reject: Union[str, "os.PathLike[str]", None] = None,
    delimiter: Optional[str] = None,
    header: Optional[bool] = None,
    quote: Optional[str] = None,
    escape: Optional[str] = None,
    null: Optional[Sequence[str]] = None,
    encoding: Optional[str] = None,
    timezone: Optional[str] = None,
    snake_case: bool = False,
    format: Optional[str] = None,
    union_by_name: bool = False,
    alter: bool = False,
    set: Optional[Mapping[str, Any]] = None,
    restart: bool = False,
    wait: bool = False,
    limit: Optional[int] = None,
    progress: Union[bool, Progress, None] = None,
    check: bool = True,
) -> Report:
    """Load files into a table, as ``rowflow load FILES --into URL ...`` does.

    Args:
        files: a path, a glob, ``"-"`` for standard input, or a list of them.
        into: the destination URL (``sqlite://out.db``, ``postgres://user@host/db``,
            ``mysql://user@host/db``); default: the ``DATABASE_URL`` environment
            variable.
        table: the table (default: the first file's name without extensions).
        mode: ``append``, ``create``, ``replace``, ``upsert`` or ``truncate`` (empty
            the table, then append).
        key: key columns: the primary key of a created table, upsert's conflict target.
        types: column types instead of the inferred ones, ``{"zip": "text"}``.
        compute: computed columns, ``{"total": "price * qty"}``, in order (a later
            one may use an earlier one). They run before ``where``.
        where: SQL condition(s) rows must meet to be kept.
        writers: parallel writers (PostgreSQL, MySQL).
        skip: data rows to skip at the start of each file.
        reject: the reject file (default: ``TABLE.rejects.csv``).
        delimiter, header, quote, escape, null, encoding, timezone, snake_case,
        format, union_by_name, alter: as the CLI's flags of the same names
            (``header=None`` detects it).
        set: any pipeline setting, ``{"runtime.batch_rows": 2000}``.
        restart, wait, limit, progress, check: as for ``run``.
    """
    spec = _load_spec(
        files, into, table=table, mode=mode, key=key, types=types, compute=compute,
        where=where, writers=writers, skip=skip, reject=reject, delimiter=delimiter,
        header=header, quote=quote, escape=escape, null=null, encoding=encoding,
        timezone=timezone, snake_case=snake_case, format=format,
        union_by_name=union_by_name, alter=alter,
    )
    return _execute(
        check, progress, spec_json=json.dumps(spec), set=_overrides(set),
        restart=restart, wait=wait, limit=limit,
    )


class _PyStage:
    """A Python function stage, as ``Pipeline.map_async`` declared it."""

    def __init__(self, fn, name, concurrency, ordered, columns, batch_size=None):
        self.fn = fn
        self.name = name
        self.concurrency = concurrency
        self.ordered = ordered
        self.columns = columns
        #: None: one row a call (map_async); else rows a call (map_batches).
        self.batch_size = batch_size

    def rows_in_flight(self):
        return self.concurrency * (self.batch_size or 1)


class _Batcher:
    """A ``map_batches`` function as the per-row coroutine function the engine calls:
    rows wait (5 ms at most) until ``size`` are there, then go to ``fn`` together; at
    most ``concurrency`` calls of ``fn`` at once."""

    WAIT = 0.005

    def __init__(self, fn, size, concurrency, loop):
        self._fn = fn
        self._size = size
        self._loop = loop
        self._pending = []
        self._timer = None
        self._slots = None
        self._concurrency = concurrency
        self._running = set()  # strong references: the loop keeps only weak ones

    async def __call__(self, row):
        if self._slots is None:  # made on the loop that uses it
            self._slots = asyncio.Semaphore(self._concurrency)
        fut = self._loop.create_future()
        self._pending.append((row, fut))
        if len(self._pending) >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(self.WAIT, self._flush)
        return await fut

    def _flush(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            t = self._loop.create_task(self._run(batch))
            self._running.add(t)
            t.add_done_callback(self._running.discard)

    async def _call(self, rows):
        out = await self._fn(rows)
        if not isinstance(out, list) or len(out) != len(rows):
            got = f"a list of {len(out)}" if isinstance(out, list) else f"a {type(out).__name__}"
            raise ValueError(f"map_batches function returned {got} for {len(rows)} rows")
        return out

    async def _run(self, batch):
        async with self._slots:
            try:
                out = await self._call([r for r, _ in batch])
            except Exception as e:  # noqa: BLE001 - retried row by row below
                if len(batch) == 1:
                    _settle(batch[0][1], error=e)
                    return
            else:
                for (_, fut), o in zip(batch, out):
                    _settle(fut, o)
                return
            # Row by row: each failing row is rejected with its own exception.
            for row, fut in batch:
                try:
                    (o,) = await self._call([row])
                except Exception as e:  # noqa: BLE001 - the row's reject reason
                    _settle(fut, error=e)
                else:
                    _settle(fut, o)


def _settle(fut, result=None, error=None):
    if fut.done():  # the engine stopped waiting (a cancelled run)
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class _StageLoop:
    """The event loop Python stages run on, in a thread of its own, for one run (with a
    thread pool for plain functions). Yields the stages as the engine takes them."""

    def __init__(self, stages):
        self._stages = stages
        self._loop = None
        self._thread = None
        self._pool = None
        self._feeders = []

    def __enter__(self):
        try:
            return self._prepare()
        except BaseException:
            self.__exit__(None, None, None)  # the loop thread does not outlive a failure
            raise

    def _prepare(self):
        out = []
        for s in self._stages:
            if isinstance(s, dict):
                out.append(json.dumps(_drop_none(s), default=os.fspath))
                continue
            if self._loop is None:
                self._start()
            fn = self._coroutine_fn(s)
            if s.batch_size is not None:
                fn = _Batcher(fn, s.batch_size, s.concurrency, self._loop)
            feeder = _Feeder()
            self._feeders.append(feeder)
            # Registered before the run starts: rows that come first wait in the queue.
            asyncio.run_coroutine_threadsafe(_serve(feeder, fn), self._loop).result()
            out.append((feeder, s.name, s.rows_in_flight(), s.ordered, list(s.columns.items())))
        return out

    def _start(self):
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="rowflow-stages", daemon=True
        )
        self._thread.start()

    def _coroutine_fn(self, s):
        import inspect

        fn = s.fn
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)
        ):
            return fn
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            most = max(x.concurrency for x in self._stages if isinstance(x, _PyStage))
            self._pool = ThreadPoolExecutor(
                max_workers=min(32, most), thread_name_prefix="rowflow-fn"
            )
        pool, loop = self._pool, self._loop

        async def call(row):
            result = await loop.run_in_executor(pool, fn, row)
            if inspect.isawaitable(result):
                result = await result
            return result

        return call

    def __exit__(self, *exc):
        for f in self._feeders:
            f.close()
        if self._loop is not None:
            # Calls still running (a run stopped early) are cancelled, not abandoned.
            try:
                asyncio.run_coroutine_threadsafe(
                    _stop_serving(self._feeders), self._loop
                ).result(10)
            except Exception:  # noqa: BLE001 - the loop is closed below all the same
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return False


async def _serve(feeder, fn):
    """Start serving ``feeder``'s rows with ``fn`` on the running loop."""
    loop = asyncio.get_running_loop()
    running = set()  # strong references: the loop keeps only weak ones to tasks

    def ready():
        for job, row in feeder.take():
            t = loop.create_task(_one(feeder, fn, job, row))
            running.add(t)
            t.add_done_callback(running.discard)

    loop.add_reader(feeder.fileno(), ready)


async def _one(feeder, fn, job, row):
    try:
        out = await fn(row)
    except BaseException as e:  # noqa: BLE001 - the row's reject reason
        text = str(e)
        feeder.fail(job, f"{type(e).__name__}: {text}" if text else type(e).__name__)
        if not isinstance(e, Exception):
            raise
    else:
        feeder.finish(job, out)


async def _stop_serving(feeders):
    loop = asyncio.get_running_loop()
    for f in feeders:
        loop.remove_reader(f.fileno())
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for t in others:
        t.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class Pipeline:
    """A pipeline built in code: a source, stages, a destination.

    ``source`` is a path, a glob, a list of them, or a dict of ``[source]`` settings
    (docs/pipeline.md); ``sink`` is a destination URL or a dict of ``[sink]``
    settings. Stage methods return the pipeline, so calls chain.
    """

    def __init__(
        self,
        source: Union[str, "os.PathLike[str]", Sequence[str], Mapping[str, Any]],
        sink: Union[str, Mapping[str, Any]],
        *,
        table: Optional[str] = None,
        mode: Optional[str] = None,
        key: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        errors: Optional[Mapping[str, Any]] = None,
        runtime: Optional[Mapping[str, Any]] = None,
    ):
        if isinstance(source, Mapping):
            src = dict(source)
        elif isinstance(source, (str, os.PathLike)):
            src = {"paths": [os.fspath(source)]}
        else:
            src = {"paths": [os.fspath(s) for s in source]}
        snk = dict(sink) if isinstance(sink, Mapping) else {"url": sink}
        if table is not None:
            snk["table"] = table
        if "table" not in snk:
            first = (src.get("paths") or [src.get("path") or "data"])[0]
            snk["table"] = _default_table(os.fspath(first))
        if mode is not None:
            snk["mode"] = mode
        if key is not None:
            snk["key"] = list(key)
        self._spec: Dict[str, Any] = {
            "name": name,
            "source": src,
            "sink": snk,
            "errors": dict(errors or {}),
            "runtime": dict(runtime or {}),
        }
        # In order: a transform's settings (a dict) or a Python function (_PyStage).
        self._stages: List[Any] = []

    def compute(self, name: str, expr: str) -> "Pipeline":
        """Add a computed column (an SQL expression; a column that exists is replaced)."""
        last = self._stages[-1] if self._stages else None
        if isinstance(last, dict) and last["type"] == "compute" and name not in last["columns"]:
            last["columns"][name] = expr
        else:
            self._stages.append({"type": "compute", "columns": {name: expr}})
        return self

    def filter(self, condition: str) -> "Pipeline":
        """Keep the rows for which the SQL condition is true (NULL drops the row)."""
        self._stages.append({"type": "filter", "where": condition})
        return self

    def select(self, *columns: str) -> "Pipeline":
        """Keep only these columns, in this order."""
        self._stages.append({"type": "select", "columns": list(columns)})
        return self

    def stage(self, settings: Mapping[str, Any]) -> "Pipeline":
        """Add any stage as its ``[[transform]]`` settings, ``{"type": "rename", ...}``."""
        self._stages.append(dict(settings))
        return self

    def http(self, url: str, **settings: Any) -> "Pipeline":
        """Call an HTTP API for every row (the ``http`` stage of docs/pipeline.md):
        ``.http("https://api.example.com/users/{id}", fields={"score": "$.score"},
        concurrency=64)``."""
        self._stages.append({"type": "http", "url": url, **settings})
        return self

    def map_async(
        self,
        fn: Callable[[Dict[str, Any]], Any],
        *,
        concurrency: int = 64,
        columns: Optional[Mapping[str, str]] = None,
        ordered: bool = True,
        name: Optional[str] = None,
    ) -> "Pipeline":
        """Run your function on every row: ``async def fn(row: dict) -> dict | None``
        (a plain ``def`` works too; it runs on a thread pool of ``concurrency``
        threads, at most 32).

        - At most ``concurrency`` calls are in flight for the whole stage, on an asyncio
          event loop rowflow runs in a thread of its own: never a task per row.
        - The returned dict's keys set those columns; columns it leaves out keep their
          values. Return ``None`` to drop the row (counted as filtered).
        - An exception rejects the row: the reject file gets its line and
          ``Type: message``.
        - ``columns`` declares the columns the function adds, with their types
          (``{"score": "float"}``: int, float, decimal, bool, date, timestamp, text).
          A value of the wrong type for its column rejects the row, naming the column.
        - Values arrive as ``int``, ``float``, ``decimal.Decimal``, ``bool``,
          ``datetime.date``, timezone-aware ``datetime.datetime``, ``str`` or ``None``.
        - Rows keep their input order unless ``ordered=False``.
        """
        if not callable(fn):
            raise TypeError(f"map_async needs a function, not {type(fn).__name__}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._stages.append(
            _PyStage(
                fn=fn,
                name=name or getattr(fn, "__name__", "python"),
                concurrency=concurrency,
                ordered=ordered,
                columns=dict(columns or {}),
            )
        )
        return self

    def map_batches(
        self,
        fn: Callable[[List[Dict[str, Any]]], Any],
        *,
        batch_size: int = 500,
        concurrency: int = 4,
        columns: Optional[Mapping[str, str]] = None,
        ordered: bool = True,
        name: Optional[str] = None,
    ) -> "Pipeline":
        """Run your function on rows in batches: ``async def fn(rows: list[dict]) ->
        list[dict | None]`` (or a plain ``def``), for APIs that take many rows a call.

        - Rows are gathered into lists of up to ``batch_size`` (a list goes out
          smaller after 5 ms without new rows); at most ``concurrency`` calls are in
          flight.
        - The returned list must have one entry per row, in order: a dict (its keys set
          those columns) or ``None`` (drop the row).
        - When the call raises, or returns a list of another length, the batch is
          retried row by row (``fn([row])``) to find the bad rows: each of those is
          rejected with its own exception, the others go on. So ``fn`` must be safe to
          call again on the same rows.
        - ``columns`` and ``ordered`` as for ``map_async``.
        """
        if not callable(fn):
            raise TypeError(f"map_batches needs a function, not {type(fn).__name__}")
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        self._stages.append(
            _PyStage(
                fn=fn,
                name=name or getattr(fn, "__name__", "python"),
                concurrency=concurrency,
                ordered=ordered,
                columns=dict(columns or {}),
                batch_size=batch_size,
            )
        )
        return self

    def to_dict(self) -> Dict[str, Any]:
        """The pipeline's settings, as a pipeline file would hold them (Python
        functions are not settings: they are left out)."""
        spec = dict(self._spec)
        spec["transform"] = [s for s in self._stages if isinstance(s, dict)]
        return _drop_none(json.loads(json.dumps(spec, default=os.fspath)))

    def run(
        self,
        *,
        restart: bool = False,
        wait: bool = False,
        limit: Optional[int] = None,
        progress: Union[bool, Progress, None] = None,
        check: bool = True,
    ) -> Report:
        """Run to the end (blocking; the GIL is released meanwhile). See ``run``."""
        spec = self.to_dict()
        spec["transform"] = []
        with _StageLoop(self._stages) as stages:
            return _execute(
                check, progress, spec_json=json.dumps(spec), stages=stages,
                restart=restart, wait=wait, limit=limit,
            )

    def preview(self, rows: int = 20, *, call_http: bool = True) -> Preview:
        """Run the first ``rows`` rows through every stage (Python functions and HTTP
        calls included, unless ``call_http=False``) and write nothing: the output rows
        as dicts with their input ``_line``, and the rows rejected (``(line, reason)``)
        or filtered. A database is not needed (``rowflow preview``'s Python form)."""
        spec = self.to_dict()
        spec["transform"] = []
        with _StageLoop(self._stages) as stages:
            out = _preview_pipeline(
                spec_json=json.dumps(spec), stages=stages, rows=rows, call_http=call_http
            )
        return Preview(out)

    def check(self) -> Dict[str, Any]:
        """Check the pipeline and write nothing (``rowflow check`` / ``load
        --dry-run``): the database is contacted, the inputs' header read, every stage
        planned. Returns a dict: ``ok``, ``inputs``, ``notes``, ``columns`` and each
        stage's (``stages``), ``sink`` (the destination in one line), ``run`` (``{"would":
        "load", "inputs": [...], "notes": [...]}``, ``{"would": "skip", "reason": ...}``
        or ``{"would": "refuse", "error": ...}``), ``table`` (what would become of it)
        and ``table_error``. Raises ``rowflow.Error`` when the check itself cannot be
        made (a bad setting, a database that cannot be reached)."""
        spec = self.to_dict()
        spec["transform"] = []
        with _StageLoop(self._stages) as stages:
            return _check_pipeline(spec_json=json.dumps(spec), stages=stages)

    async def run_async(self, **kwargs: Any) -> Report:
        """``run`` for callers inside asyncio: the load runs on a worker thread and the
        event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.run(**kwargs))
