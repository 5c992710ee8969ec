"""Where a worker's logs go without ever stopping its work: Temporal's core logs through Python
logging, and every log record is written to stderr by a thread of its own.

A process blocks when it writes to a pipe that nobody reads once the pipe is full (64 KiB on
Linux). Temporal's core writes its log lines to stdout by default, from the one thread that
processes every workflow task of the worker, so an unread stdout stopped all of the worker's
runs: no workflow task polled, slots held, the Python process idle, tasks timing out on the
server (bench/stack.py kept the worker's stdout as a pipe it stopped reading; core's
``Workflow task duration exceeded 5 seconds`` warnings under load filled it). Two rules here
make a stuck output cost log lines, never runs:

- core's logs are forwarded (:func:`core_logging`): core hands them to a bounded buffer and
  drops them when it is full, so a core thread never writes to a file descriptor;
- Python's log records go through a bounded queue to a writer thread (:func:`configure`): a
  thread that logs (the event loop, a workflow) never waits on the output; when the writer is
  stuck and the queue full, records are dropped and counted (:func:`dropped`).
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import time
from typing import TextIO

from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

CORE_LOGGER = "temporalio.core"
"""The logger that Temporal's core logs reach (its level filter is core's: warnings and up)."""
QUEUE_SIZE = 10_000
"""Log records waiting for the writer thread at most; more are dropped."""
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """A queue handler that never blocks: a record that does not fit is dropped and counted."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


_handler: DroppingQueueHandler | None = None
_listener: logging.handlers.QueueListener | None = None


def core_logging() -> LoggingConfig:
    """Temporal runtime logging: core's warnings and errors to the :data:`CORE_LOGGER` logger."""
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(
            logger=logging.getLogger(CORE_LOGGER), append_target_to_name=False
        ),
    )


def configure(level: str, stream: TextIO | None = None) -> None:
    """Log at ``level`` and up to ``stream`` (default: stderr) from a writer thread.

    Replaces the root logger's handlers; calling it again replaces the writer.
    """
    global _handler, _listener
    stop()
    writer = logging.StreamHandler(stream if stream is not None else sys.stderr)
    writer.setFormatter(logging.Formatter(FORMAT))
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
    _handler = DroppingQueueHandler(records)
    _listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    root = logging.getLogger()
    root.handlers = [_handler]
    root.setLevel(level.upper())
    _listener.start()


def dropped() -> int:
    """Log records dropped so far because the output was not keeping up."""
    return _handler.dropped if _handler is not None else 0


def stop(timeout: float = 2.0) -> None:
    """Write what is queued and stop the writer thread, waiting up to ``timeout`` seconds (a
    writer stuck on its output is left behind: a daemon thread)."""
    global _listener
    if _listener is None:
        return
    listener, _listener = _listener, None
    deadline = time.monotonic() + timeout
    try:  # the listener's sentinel, None, after what is queued
        _queue_of(listener).put(None, timeout=timeout)
    except queue.Full:
        return
    thread = listener._thread
    if thread is not None:
        thread.join(max(0.0, deadline - time.monotonic()))


def _queue_of(listener: logging.handlers.QueueListener) -> queue.Queue[logging.LogRecord | None]:
    records = listener.queue
    assert isinstance(records, queue.Queue)
    return records
