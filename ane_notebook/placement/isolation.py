"""Crash isolation: run a function in a fresh child process and get its result back.

Core ML can crash (SIGSEGV, SIGABRT) or hang inside native code, which would take the notebook
kernel with it. `run_isolated` runs a callable in a "spawn" child process instead, so that a
crash, a hang past a timeout or an exception in the child becomes a one-line `CoreMLRunError` and
the parent carries on. The child can send progress events back with `emit`.

Nothing here knows about Core ML beyond the wording of its errors (its one user is the live Core
ML run, `coreml.run_coreml`): any picklable callable, or "module:qualname", can be run.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import pickle
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from typing import Any

from ..errors import CoreMLRunError
from .coreml_availability import DEFAULT_TIMEOUT_S

__all__ = ["DEFAULT_TIMEOUT_S", "emit", "run_isolated"]

# Set in the child process only: where `emit` sends progress events.
_EVENTS: Connection | None = None


def emit(event: Any) -> None:
    """Send a progress event to the parent (a no-op outside `run_isolated`'s child)."""
    if _EVENTS is not None:
        _EVENTS.send(("event", event))


def _resolve(func: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(func):
        return func
    module, _, name = func.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{func!r} is not callable")
    resolved: Callable[..., Any] = target
    return resolved


def _child_entry(conn: Connection, func: Callable[..., Any] | str, args: tuple[Any, ...]) -> None:
    """Body of the child process: run, send ("ok", result) or ("error", details), exit."""
    global _EVENTS
    _EVENTS = conn
    try:
        result = _resolve(func)(*args)
    except BaseException as exc:  # noqa: BLE001 - the child reports everything, then exits
        conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
    else:
        try:
            conn.send(("ok", result))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(
                (
                    "error",
                    (
                        type(exc).__name__,
                        f"the result cannot be sent back: {exc}",
                        traceback.format_exc(),
                    ),
                )
            )
    finally:
        conn.close()


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """While a child starts, show it a `__main__` with no file to re-import.

    A "spawn" child re-runs the parent's main script (as `__mp_main__`) so that functions
    defined there can be unpickled. A plain script calling `profile()` without
    `if __name__ == "__main__":` would then call it again inside the child, which multiprocessing
    refuses ("bootstrapping phase"), and the run would look like a Core ML crash. The child only
    ever runs functions of importable modules (ours, or "module:qualname"), so it needs nothing
    from the main script: multiprocessing reads `__main__`'s `__file__`/`__spec__` in `start()`
    only (`multiprocessing.spawn.get_preparation_data`), and this hides them for that call
    (docs/evidence.md#live.spawn_main).
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__file__", None) is None:
        yield  # a notebook, `python -c` or the REPL: nothing would be re-imported
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the child process died with {name}"
    if exitcode:
        return f"the child process exited with status {exitcode} without a result"
    return "the child process exited without a result"


def run_isolated(
    func: Callable[..., Any] | str,
    args: Sequence[Any] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    what: str = "running Core ML",
    model: str = "",
    on_event: Callable[[Any], None] | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> Any:
    """Run `func(*args)` in a fresh ("spawn") child process and return its result.

    `func` is a picklable callable (a function of an importable module, not of the main script:
    the child never re-runs it) or "module:qualname".
    Arguments and result cross the process boundary by pickle. A crash (negative exit code: a
    signal such as SIGSEGV or SIGABRT), a hang past `timeout_s` (the child is killed) or an
    exception in the child becomes a one-line `CoreMLRunError` naming `model` and `what` was
    being done; the parent carries on. Events the child sends with `emit` go to `on_event`;
    `on_wait` is called with the seconds elapsed about once a second while the child works (a
    progress display for steps, such as a first Neural Engine compile, that send no events).
    """
    subject = f" for {model}" if model else ""
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe once Core ML / ObjC is loaded
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child_entry,
        args=(sender, func, tuple(args)),
        daemon=True,
        name="ane_notebook-coreml",
    )
    with _main_not_reimported():
        process.start()
    sender.close()  # so that the child's death closes the pipe
    started = time.monotonic()
    deadline = started + timeout_s
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CoreMLRunError(
                    f"Core ML did not finish {what}{subject} within "
                    f"{timeout_s:g} s; the child process was killed"
                )
            ready = wait_for([receiver, process.sentinel], timeout=min(remaining, 1.0))
            if on_wait is not None:
                on_wait(time.monotonic() - started)
            if receiver in ready or receiver.poll():
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    process.join(timeout=5)
                    raise CoreMLRunError(
                        f"Core ML crashed while {what}{subject}: {_death(process.exitcode)}"
                    ) from None
                if kind == "event":
                    if on_event is not None:
                        on_event(payload)
                    continue
                if kind == "ok":
                    process.join(timeout=5)
                    return payload
                type_name, message, details = payload
                # let it exit on its own (its cleanup, e.g. a temporary compiled model, runs)
                process.join(timeout=5)
                raise CoreMLRunError(
                    f"Core ML failed while {what}{subject}: {type_name}: {message}", details=details
                )
            if process.sentinel in ready:
                process.join(timeout=5)
                raise CoreMLRunError(
                    f"Core ML crashed while {what}{subject}: {_death(process.exitcode)}"
                )
    finally:
        if process.is_alive():
            process.terminate()
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()
        receiver.close()
