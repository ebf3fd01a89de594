"""Terminal progress for long farm operations.

A TD waiting on a farm wants to see that something is moving, and a CI log wants a handful of
lines, not a thousand carriage returns. So a :class:`ProgressBar` redraws one line in place on
a terminal, and on anything else (a pipe, a log file, Maya's script editor) prints a plain line
each time the work crosses a 10 % step, plus one at the end.

Drawing progress must never break the work it reports on: every write tolerates a closed or
broken stream, and a label the stream cannot encode is shown with replacement characters.

    from dccfutures import Executor, progress
    futures = [ex.submit(render, frame) for frame in frames]
    for future in progress.as_completed(futures, label="rendering"):
        print(future.result())
"""
import concurrent.futures
import shutil
import sys
import time
from typing import IO, Iterable, Iterator, Optional, TypeVar

__all__ = ["ProgressBar", "as_completed"]

_F = TypeVar("_F", bound=concurrent.futures.Future)

_BAR_WIDTH = 24
_MIN_REDRAW = 0.1  # seconds between terminal redraws when nothing visible changed much


class ProgressBar:
    """Progress of ``total`` steps drawn on ``stream`` (default: ``sys.stderr``).

    ``update(done, message)`` sets how many steps are done; a ``message`` of None keeps the
    previous one; a ``fraction`` moves the bar and percent ahead of whole steps (the progress
    of steps under way). Use it as a context manager, or call :meth:`close` when the work ends.
    """

    def __init__(self, total: int, label: str = "", stream: Optional[IO[str]] = None):
        self.total = max(0, int(total))
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.fraction: Optional[float] = None
        self.message: Optional[str] = None
        self.closed = False
        self._start = time.monotonic()
        self._tty = _isatty(self.stream)
        self._last_draw = 0.0
        self._last_text = ""
        self._drawn_width = 0
        self._last_step = 0          # the last 10 % step printed on a non-terminal
        self._last_line_done = -1    # ``done`` of the last plain line printed

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def percent(self) -> int:
        """Whole percent done (100 for an empty total)."""
        if not self.total:
            return 100
        if self.fraction is not None:
            return int(100 * min(1.0, max(0.0, self.fraction)))
        return int(100 * min(self.done, self.total) / self.total)

    def update(self, done: int, message: Optional[str] = None,
               fraction: Optional[float] = None) -> None:
        """Set the number of steps done and optionally the message and the fraction done;
        redraw if worth it."""
        if self.closed:
            return
        old_percent = self.percent
        self.done = max(0, int(done))
        self.fraction = fraction
        if message is not None:
            self.message = message
        if self._tty:
            self._draw_tty(force=self.percent != old_percent or self.done >= self.total)
        elif self.percent // 10 > self._last_step:
            self._print_line()

    def close(self) -> None:
        """Draw the final state and end the line. Safe to call twice."""
        if self.closed:
            return
        if self._tty:
            self._draw_tty(force=True)
            self._write("\n")
        elif self.done != self._last_line_done:
            self._print_line()
        self.closed = True

    def text(self, width: Optional[int] = None) -> str:
        """The line as drawn now: ``3/12   25%  0:01  label: message``; given a terminal
        ``width``, with a bar in front and cut to fit. The count, percent and elapsed time
        win the space over the bar, and the bar over the label."""
        core = "%d/%d  %3d%%  %s" % (min(self.done, self.total) if self.total else self.done,
                                     self.total, self.percent,
                                     _elapsed(time.monotonic() - self._start))
        caption = ": ".join(p for p in (self.label, self.message) if p)
        line = core + ("  " + caption if caption else "")
        if width is not None:
            bar_width = min(_BAR_WIDTH, (width - len(core) - 4) // 2)
            if bar_width >= 4:
                line = self._bar(bar_width) + "  " + line
            if len(line) > width:
                line = line[:max(0, width - 3)] + "..."
        return _encodable(line, getattr(self.stream, "encoding", None))

    # -- drawing -------------------------------------------------------------------------

    def _bar(self, width: int) -> str:
        filled = width * self.percent // 100
        return "[" + "#" * filled + "-" * (width - filled) + "]"

    def _draw_tty(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < _MIN_REDRAW:
            return
        width = max(10, shutil.get_terminal_size((80, 24)).columns - 1)  # never wrap
        line = self.text(width)
        if line == self._last_text and not force:
            return
        padding = " " * max(0, self._drawn_width - len(line))  # erase a longer previous line
        self._write("\r" + line + padding)
        self._last_draw, self._last_text, self._drawn_width = now, line, len(line)

    def _print_line(self) -> None:
        self._last_step = self.percent // 10
        self._last_line_done = self.done
        self._write(self.text() + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (ValueError, OSError, AttributeError):
            pass  # closed, broken pipe, or not a stream at all: progress is never worth a crash


def as_completed(futures: Iterable[_F], timeout: Optional[float] = None, label: str = "",
                 stream: Optional[IO[str]] = None) -> Iterator[_F]:
    """``concurrent.futures.as_completed`` that draws a :class:`ProgressBar` as futures finish.

    Yields each future once, as it finishes; raises ``TimeoutError`` like the original when
    ``timeout`` seconds pass first. The bar counts failures in its message, and is closed when
    the iteration ends, however it ends.
    """
    futures = list(futures)
    done = 0
    failed = 0
    with ProgressBar(len(set(futures)), label=label, stream=stream) as bar:
        bar.update(0)
        for future in concurrent.futures.as_completed(futures, timeout):
            done += 1
            failed += _failed(future)
            bar.update(done, "%d failed" % failed if failed else None)
            yield future


def _failed(future: concurrent.futures.Future) -> bool:
    return future.cancelled() or future.exception() is not None


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return "%d:%02d:%02d" % (hours, minutes, seconds)
    return "%d:%02d" % (minutes, seconds)


def _encodable(text: str, encoding: Optional[str]) -> str:
    """``text`` with what ``encoding`` cannot represent replaced (a C-locale terminal)."""
    if not encoding:
        return text
    try:
        return text.encode(encoding, "replace").decode(encoding)
    except LookupError:
        return text
