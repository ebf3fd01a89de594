"""The terminal progress bar and ``progress.as_completed`` (no farm: plain futures)."""
import concurrent.futures
import io
import threading
import time

import pytest

from dccfutures import progress
from dccfutures.progress import ProgressBar


class Stream(io.StringIO):
    """A StringIO that says whether it is a terminal."""

    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def frames(stream):
    """What a terminal shows after each redraw: the text between carriage returns."""
    return [part for part in stream.getvalue().split("\r") if part]


def test_only_the_bar_and_as_completed_are_exported():
    assert progress.__all__ == ["ProgressBar", "as_completed"]


def test_terminal_redraws_one_line_with_bar_count_percent_elapsed_and_label(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    stream = Stream(tty=True)
    bar = ProgressBar(4, label="frames", stream=stream)
    bar.update(1)
    assert frames(stream) == ["[" + "#" * 6 + "-" * 18 + "]  1/4   25%  0:00  frames"]
    bar.update(2, "frame 0002")
    assert frames(stream)[-1] == "[" + "#" * 12 + "-" * 12 + "]  2/4   50%  0:00  frames: frame 0002"
    bar.update(3)  # a message of None keeps the last one
    assert frames(stream)[-1].endswith("3/4   75%  0:00  frames: frame 0002")
    assert "\n" not in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\n") and stream.getvalue().count("\n") == 1


def test_terminal_line_shows_elapsed_time_and_is_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = Stream(tty=True)
    bar = ProgressBar(10, label="a label much too long for a forty column terminal",
                      stream=stream)
    bar._start -= 125  # as if it started 2 min 5 s ago
    bar.update(5)
    line = frames(stream)[-1]
    assert len(line) == 39 and line.endswith("...")   # never wraps to a second line
    # The count, percent and elapsed time keep their place; the bar shrinks, the label is cut.
    assert line.startswith("[" + "#" * 4 + "-" * 5 + "]  5/10   50%  2:05  a lab")


def test_terminal_erases_a_longer_previous_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    stream = Stream(tty=True)
    bar = ProgressBar(2, stream=stream)
    bar.update(1, "a long message")
    bar.update(2, "")
    first, second = frames(stream)[-2:]
    assert len(second) >= len(first) and second.rstrip().endswith("2/2  100%  0:00")


def test_non_terminal_prints_a_line_per_ten_percent_step_and_at_the_end():
    stream = Stream(tty=False)
    with ProgressBar(40, label="cache", stream=stream) as bar:
        for done in range(1, 41):
            bar.update(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10, lines
    assert lines[0] == "4/40   10%  0:00  cache"
    assert lines[-1] == "40/40  100%  0:00  cache"
    assert "\r" not in stream.getvalue()


def test_non_terminal_end_line_when_work_stops_early():
    stream = Stream(tty=False)
    bar = ProgressBar(100, stream=stream)
    bar.update(5)   # below the first step: nothing yet
    assert stream.getvalue() == ""
    bar.update(7, "stopped")
    bar.close()
    bar.close()     # twice is fine
    assert stream.getvalue() == "7/100    7%  0:00  stopped\n"


def test_empty_total_is_complete():
    stream = Stream(tty=False)
    with ProgressBar(0, stream=stream):
        pass
    assert stream.getvalue() == "0/0  100%  0:00\n"


@pytest.mark.parametrize("tty", [True, False])
def test_a_closed_stream_never_raises(tty):
    stream = Stream(tty=tty)
    bar = ProgressBar(3, label="x", stream=stream)
    stream.close()
    bar.update(1, "after close")
    bar.update(3)
    bar.close()
    closed = io.StringIO()
    closed.close()   # closed before the bar even asked isatty()
    with ProgressBar(2, stream=closed) as late:
        late.update(2)


def test_default_stream_is_stderr(capsys):
    with ProgressBar(1, label="to stderr") as bar:
        bar.update(1)
    captured = capsys.readouterr()
    assert captured.out == "" and "1/1  100%" in captured.err and "to stderr" in captured.err


def finish_later(futures, delay=0.02):
    """Complete ``futures`` from another thread, last first; the second one fails."""
    def work():
        for index, future in reversed(list(enumerate(futures))):
            time.sleep(delay)
            if index == 1:
                future.set_exception(ValueError("frame 2 failed"))
            else:
                future.set_result(index)
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_as_completed_yields_in_completion_order_and_draws_the_bar():
    futures = [concurrent.futures.Future() for _ in range(3)]
    stream = Stream(tty=False)
    thread = finish_later(futures)
    seen = list(progress.as_completed(futures, timeout=10, label="renders", stream=stream))
    thread.join()
    assert seen == list(reversed(futures))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "1/3   33%  0:00  renders"
    assert lines[1] == "2/3   66%  0:00  renders: 1 failed"
    assert lines[-1] == "3/3  100%  0:00  renders: 1 failed"


def test_as_completed_counts_a_future_given_twice_once_and_closes_on_break():
    done = concurrent.futures.Future()
    done.set_result(1)
    other = concurrent.futures.Future()
    stream = Stream(tty=True)
    iterator = progress.as_completed([done, done, other], stream=stream)
    assert next(iterator) is done
    iterator.close()   # the caller stopped early: the bar still ends its line
    assert "1/2   50%" in frames(stream)[-1] and stream.getvalue().endswith("\n")


def test_as_completed_timeout_raises_and_closes_the_bar():
    futures = [concurrent.futures.Future() for _ in range(2)]
    stream = Stream(tty=False)
    with pytest.raises(concurrent.futures.TimeoutError):
        for _ in progress.as_completed(futures, timeout=0.1, label="stuck", stream=stream):
            pass
    assert stream.getvalue() == "0/2    0%  0:00  stuck\n"
