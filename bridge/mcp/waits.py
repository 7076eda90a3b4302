"""The core's blocking waits, run from the MCP server's event loop: in worker threads, given back when cancelled.

A wait whose call was cancelled, or that is still running when the server stops (SHUTDOWN), ends within about a
second (the core calls its `idle` check that often), so the process exits without waiting out a 40 s wait.
"""

from __future__ import annotations

import sys
import threading
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from typing import AsyncIterator, Callable

import anyio
import anyio.to_thread


SHUTDOWN = threading.Event()  # set when the server stops


class _Abandoned(Exception):
    """The tool call that waited for this message was cancelled: put the message back."""


@asynccontextmanager
async def taken(open_wait: Callable[[Callable[[], None]], AbstractContextManager]) -> AsyncIterator[object]:
    """Enter one of the core's blocking wait-and-deliver context managers, open_wait(idle), in a worker thread.

    The message is finalized only when the async block returns; if the call is cancelled (the client gave up)
    before or after the thread claimed it, or the block raises, the core puts the message back. A cancelled wait
    is abandoned at once; its thread ends by itself within the wait time."""
    stack = ExitStack()
    lock = threading.Lock()
    state = {"abandoned": False, "entered": False}

    def put_back() -> None:
        try:
            stack.__exit__(_Abandoned, _Abandoned(), None)
        except _Abandoned:
            pass

    def idle() -> None:  # the core calls it while it waits: stop once nobody wants the result
        if state["abandoned"] or SHUTDOWN.is_set():
            raise _Abandoned

    def enter() -> object:
        value = stack.enter_context(open_wait(idle))
        with lock:
            if state["abandoned"]:
                put_back()
                return None
            state["entered"] = True
        return value

    try:
        value = await anyio.to_thread.run_sync(enter, abandon_on_cancel=True)
    except BaseException:
        with lock:
            state["abandoned"] = True
            if state["entered"]:
                put_back()
        raise
    try:
        yield value
    except BaseException:
        if not stack.__exit__(*sys.exc_info()):
            raise
    else:
        stack.close()
