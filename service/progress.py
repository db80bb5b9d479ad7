"""The progress bar of long command-line jobs (imports, exports), drawn by `rich.progress`.

On a terminal it is a live bar on stderr, redrawn five times a second by rich's own thread, so
the job itself only records where it is. Anywhere else (a log file, a pipe, a test's StringIO)
a redrawn line is noise, so the same bar is printed as a plain line at every tenth of the work
(every 100,000 units when the total is unknown) and once at the end: a log then shows the job
moving, and the benchmark waits for the first of those lines to know an import has started.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as RichProgress

UNKNOWN_TOTAL_STEP = 100_000  # units between plain lines when the total is unknown
PLAIN_WIDTH = 200  # a plain line is never wrapped at the 80 columns rich assumes for files


class Progress:
    """`update(done, text)` as the work goes, `finish(done, text)` once; `say(line)` between.
    Use it as a context manager so that a job that fails half-way stops the live bar."""

    def __init__(self, label: str, total: int | None = None, stream: IO[str] | None = None):
        stream = stream if stream is not None else sys.stderr
        self.total = total or None
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        console = Console(file=stream, width=None if self.tty else PLAIN_WIDTH,
                          highlight=False, soft_wrap=not self.tty)
        self.bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(bar_width=30), TaskProgressColumn(),
            TextColumn("{task.fields[text]}"), console=console, refresh_per_second=5,
            redirect_stdout=False, redirect_stderr=False)  # an export may be writing to stdout
        self.task = self.bar.add_task(label, total=self.total, text="")
        self._step: int | None = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tty:  # (off a terminal, rich's stop() would only add an empty line)
            self.bar.stop()  # a job that failed half-way leaves the terminal as it was

    def due(self) -> bool:
        """Whether an update now would be drawn (lets a caller skip formatting its text)."""
        return time.monotonic() - self._last >= 0.1

    def update(self, done: int, text: str) -> None:
        self._last = time.monotonic()
        self.bar.update(self.task, completed=min(done, self.total or done), text=text)
        if self.tty:
            self.bar.start()  # drawn from the first update (no-op once started)
        else:
            step = (int(done / self.total * 10) if self.total else done // UNKNOWN_TOTAL_STEP)
            if step != self._step:
                self._step = step
                self._plain()

    def finish(self, done: int, text: str) -> None:
        """The last state, drawn whatever the time since the previous one; the bar ends."""
        self.bar.update(self.task, completed=self.total or done, text=text)
        if self.tty:
            self.bar.start()
            self.bar.stop()
        else:
            self._plain()

    def say(self, message: str) -> None:
        """A line of its own (a rejected row, say), above the bar rather than through it."""
        self.bar.console.print(message, markup=False)

    def _plain(self) -> None:
        self.bar.console.print(self.bar.make_tasks_table([self.bar.tasks[0]]))
