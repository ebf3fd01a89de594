"""Frame range strings as PipelineFX Qube writes them, without needing ``qb``.

    >>> split("1-10x2")
    [1, 3, 5, 7, 9]
    >>> join([1, 2, 3, 10, 20, 30])
    '1-3,10-30x10'
    >>> chunk(5, "1-20")
    ['1-5', '6-10', '11-15', '16-20']
    >>> order("binary", "1-10x2")
    [1, 9, 5, 3, 7]

Names mirror Qube's Python API: :func:`split` is ``qb.rangesplit`` (and ``qb.genframes``),
:func:`join` is ``qb.rangejoin``, :func:`chunk` is ``qb.rangechunk`` (``qb.genchunks``),
:func:`partition` is ``qb.rangepartition`` (``qb.genpartitions``) and :func:`order` is
``qb.rangeorder``. The ``gen*`` variants return ``qb.Work`` items named by these same strings.

Grammar: comma-separated parts, each ``N``, ``A-B`` or ``A-BxS``. Frames may be negative
(``-100--10``); ``A > B`` counts down (``10-1``); ``S`` is a positive step and ``B`` an upper
bound that need not be hit (``1-10x4`` is 1, 5, 9). Whitespace is allowed around parts and
around ``-`` and ``x`` (``" 1 - 10 x 2 "``), not between a minus sign and its digits.

Taken from PipelineFX's documentation:

* the part syntax and ``1-5x2,10-12`` -> 1, 3, 5, 10, 11, 12; ``1-100x10`` -> 1, 11, ... 91,
  so B is a bound (Perl and Python API references, PipelineFX/docs, Qube 8.0);
* duplicates are removed by default, keeping the first (``removeDuplicates``, Qube 6.2);
* ``rangejoin([1, 2, 3, 4, 5]) == "1-5"`` and ``rangejoin([1, 3, ..., 13]) == "1-13x2"``;
* the binary order: "first, last, middle" (``binarySort`` keyword), which Qube's own
  ``qb`` module implements as first, last, then the middle of what is left and the middles of
  each half, breadth-first, taking the lower middle of an even span. Ours is that order;
* ``binarySort`` happens after duplicates are removed and reorders the list as given, without
  sorting it; for :func:`chunk` and :func:`partition` it reorders the *chunks* (each stays a
  run of consecutive frames), as ``qb.rangechunk`` does;
* the five modes of ``rangeorder``: binary, reverse, rawbinary, ascend, descend.

Decided here (the documentation does not say):

* ``order("binary")`` sorts the unique frames ascending first, then applies the binary order,
  so it depends only on which frames there are; ``order("rawbinary")`` applies it to the
  frames exactly as written, duplicates kept; ``split(binary=True)`` sits between the two, as
  Qube's ``binarySort`` does: unique frames, in the order written. ``reverse`` reverses the
  order written; ``ascend``, ``descend``, ``reverse`` and ``binary`` drop duplicates.
* :func:`join` is greedy and keeps the input order: from the left, the longest run of three
  or more frames with one constant, non-zero step becomes ``A-B`` (step 1 either way) or
  ``A-BxS``; any other frame is written alone. So two frames stay ``a,b``, and
  ``split(join(frames), remove_duplicates=False) == frames`` for every list of ints.
* :func:`partition` makes ``min(count, frames)`` parts whose sizes differ by at most one, the
  larger first. (Qube's ``rangepartition`` chunks by ``ceil(frames / count)``, which can leave
  a short last part, or fewer parts: 5 frames in 4 partitions give 2, 2, 1.)
* ``-10-5`` is -10 up to 5. (The Perl reference lists it as -10..-5, next to ``10-10`` listed
  as -10..10; both look like lost minus signs, so the plain reading is kept.)
* Only a lowercase ``x`` and ASCII digits, as Qube documents. Whitespace around ``-`` and ``x``
  is accepted everywhere, as ``qb.rangechunk`` accepts it (``qb.rangesplit`` only around
  commas); ``join(split(text))`` gives the compact form to hand to Qube. Empty parts
  (``"1,,2"``, ``"1,"``) are errors, as is an empty range.
* Errors are :class:`FrameRangeError`, a ``ValueError`` naming the bad part and the whole
  string; a range that is not a string is a ``TypeError``.
* No call expands more than :data:`MAX_FRAMES` frames (one million, counted as written,
  duplicates included): a shot is thousands of frames, and ``"1-100000000"`` is a typo that
  would otherwise take gigabytes. The size is checked before anything is expanded.
"""
import operator
import re
from typing import Iterable, Iterator, List, Sequence, Tuple

from .errors import DccFuturesError

__all__ = ["FrameRangeError", "split", "join", "chunk", "partition", "order", "count", "runs",
           "MODES", "MAX_FRAMES"]

MODES = ("ascend", "descend", "reverse", "binary", "rawbinary")
MAX_FRAMES = 1000000

_PART = re.compile(r"(-?[0-9]+)(?:\s*-\s*(-?[0-9]+)(?:\s*x\s*(-?[0-9]+))?)?")
_EXPECTED = "expected N, A-B or A-BxS"


class FrameRangeError(DccFuturesError, ValueError):
    """A frame range string is malformed (the message names the bad part and the whole string),
    or a chunk size, partition count or order mode is invalid."""


def _parts(text: str) -> Iterator[range]:
    """The one tokenizer: each comma-separated part of ``text`` as a Python ``range``."""
    if not isinstance(text, str):
        raise TypeError("a frame range must be a str, not %s: %r" % (type(text).__name__, text))
    if not text.strip():
        raise FrameRangeError("empty frame range %r (%s, comma-separated)" % (text, _EXPECTED))
    for raw in text.split(","):
        token = raw.strip()
        match = _PART.fullmatch(token)
        if match is None:
            why = "empty part" if not token else _EXPECTED
            raise FrameRangeError("bad frame range token %r in %r (%s)" % (token, text, why))
        first, last, step = match.groups()
        start = int(first)
        end = start if last is None else int(last)
        size = 1 if step is None else int(step)
        if size < 1:
            raise FrameRangeError("bad frame range token %r in %r (step %d must be 1 or more)"
                                  % (token, text, size))
        yield range(start, end + 1, size) if end >= start else range(start, end - 1, -size)


def _size(frames: range) -> int:
    """``len(frames)``, which overflows past ``sys.maxsize``."""
    return max(0, (frames.stop - frames.start + frames.step - (1 if frames.step > 0 else -1))
               // frames.step)


def _frames(ranges: Sequence[str], remove_duplicates: bool) -> List[int]:
    if not ranges:
        raise FrameRangeError("no frame range given")
    parts = [part for text in ranges for part in _parts(text)]
    total = sum(_size(part) for part in parts)
    if total > MAX_FRAMES:
        raise FrameRangeError("frame range %s has %s frames: more than %s frames is not a shot "
                              "(dccfutures.frames.MAX_FRAMES)"
                              % (", ".join(map(repr, ranges)), format(total, ","),
                                 format(MAX_FRAMES, ",")))
    frames = [frame for part in parts for frame in part]
    return list(dict.fromkeys(frames)) if remove_duplicates else frames


def _binary(items: Sequence) -> list:
    """First, last, then the (lower) middle of each remaining span, breadth-first."""
    if len(items) < 3:
        return list(items)
    result = [items[0], items[-1]]
    spans = [(1, len(items) - 1)]  # half-open index spans still to visit, one level at a time
    while spans:
        below = []
        for low, high in spans:
            if low < high:
                middle = low + (high - low - 1) // 2
                result.append(items[middle])
                below += [(low, middle), (middle + 1, high)]
        spans = below
    return result


def _positive(value: int, what: str) -> int:
    value = operator.index(value)
    if value < 1:
        raise FrameRangeError("%s must be 1 or more, got %d" % (what, value))
    return value


def split(*ranges: str, binary: bool = False, remove_duplicates: bool = True) -> List[int]:
    """The frames of one or more range strings, in the order written (``qb.rangesplit``).

    Duplicates are dropped, keeping the first, unless ``remove_duplicates=False``;
    ``binary=True`` then puts them in binary order (first, last, middle, ...).
    """
    frames = _frames(ranges, remove_duplicates)
    return _binary(frames) if binary else frames


def join(frames: Iterable[int]) -> str:
    """The shortest natural range string for ``frames``, in their order (``qb.rangejoin``).

    Greedy from the left: each longest run of three or more frames with one constant, non-zero
    step is written ``A-B`` or ``A-BxS``; other frames alone. ``join([]) == ""``.
    """
    frames = [operator.index(frame) for frame in frames]
    parts = []
    i = 0
    while i < len(frames):
        step = frames[i + 1] - frames[i] if i + 2 < len(frames) else 0
        end = i + 1
        if step:
            while end < len(frames) and frames[end] - frames[end - 1] == step:
                end += 1
        if end - i >= 3:
            suffix = "" if abs(step) == 1 else "x%d" % abs(step)
            parts.append("%d-%d%s" % (frames[i], frames[end - 1], suffix))
        else:
            end = i + 1
            parts.append("%d" % frames[i])
        i = end
    return ",".join(parts)


def chunk(chunksize: int, *ranges: str, binary: bool = False) -> List[str]:
    """Consecutive chunks of ``chunksize`` unique frames, as range strings (``qb.rangechunk``).

    The last chunk may be shorter. ``binary=True`` reorders the chunks (first, last, middle,
    ...), so each chunk is still consecutive frames.
    """
    size = _positive(chunksize, "chunksize")
    frames = split(*ranges)
    chunks = [join(frames[i:i + size]) for i in range(0, len(frames), size)]
    return _binary(chunks) if binary else chunks


def partition(count: int, *ranges: str, binary: bool = False) -> List[str]:
    """``count`` consecutive parts of the unique frames, as range strings (``qb.genpartitions``).

    Sizes differ by at most one, the larger parts first; never an empty part, so fewer than
    ``count`` parts when there are fewer frames. ``binary=True`` reorders the parts.
    """
    wanted = _positive(count, "partition count")
    frames = split(*ranges)
    size, extra = divmod(len(frames), min(wanted, len(frames)))
    parts = []
    start = 0
    for index in range(min(wanted, len(frames))):
        end = start + size + (1 if index < extra else 0)
        parts.append(join(frames[start:end]))
        start = end
    return _binary(parts) if binary else parts


def order(mode: str, *ranges: str) -> List[int]:
    """The frames in ``mode`` order (``qb.rangeorder``): one of :data:`MODES`.

    ``ascend``/``descend`` sort the unique frames; ``reverse`` reverses them as written;
    ``binary`` is the binary order of the sorted unique frames; ``rawbinary`` the binary order
    of the frames exactly as written, duplicates kept.
    """
    if mode not in MODES:
        raise FrameRangeError("unknown frame order mode %r (expected one of: %s)"
                         % (mode, ", ".join(MODES)))
    if mode == "rawbinary":
        return _binary(split(*ranges, remove_duplicates=False))
    frames = split(*ranges)
    if mode == "reverse":
        return frames[::-1]
    frames.sort(reverse=mode == "descend")
    return _binary(frames) if mode == "binary" else frames


def count(*ranges: str) -> int:
    """How many unique frames the range strings hold."""
    return len(split(*ranges))


def runs(*ranges: str) -> List[Tuple[int, int, int]]:
    """The unique frames as ascending ``(start, end, step)`` runs, end included: what a DCC's
    render call takes (Houdini's ``frame_range``). ``runs("1-10x2,20")`` is
    ``[(1, 9, 2), (20, 20, 1)]``."""
    frames = sorted(split(*ranges))
    found: List[Tuple[int, int, int]] = []
    i = 0
    while i < len(frames):
        if i + 1 == len(frames):
            found.append((frames[i], frames[i], 1))
            break
        step = frames[i + 1] - frames[i]
        end = i + 1
        while end + 1 < len(frames) and frames[end + 1] - frames[end] == step:
            end += 1
        found.append((frames[i], frames[end], step))
        i = end + 1
    return found
