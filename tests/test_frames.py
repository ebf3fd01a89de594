"""Qube-compatible frame ranges: every example of Qube's Python API reference, the error
messages, and properties of split/join/chunk/partition/order."""
import doctest
import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dccfutures import frames
from dccfutures.errors import DccFuturesError
from dccfutures.frames import FrameRangeError, chunk, count, join, order, partition, split

FAST = settings(deadline=None, max_examples=50)  # the whole file runs in under 3 s


def test_docstring_examples():
    assert doctest.testmod(frames).failed == 0


# -- the reference's examples -------------------------------------------------------------------

def test_genframes_and_rangesplit_examples():
    assert split("1-10x2") == [1, 3, 5, 7, 9]
    assert split("-10--1x2") == [-10, -8, -6, -4, -2]
    assert split("1-5x2,10-12") == [1, 3, 5, 10, 11, 12]
    assert split("1-100x10") == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91]


def test_genchunks_examples():
    assert chunk(10, "1-100") == ["%d-%d" % (a, a + 9) for a in range(1, 100, 10)]
    chunks = chunk(5, "-100--10")  # 91 frames: 18 chunks of 5 and one of 1
    assert chunks[:2] == ["-100--96", "-95--91"]
    assert chunks[-2:] == ["-15--11", "-10"]
    assert len(chunks) == 19


def test_genpartitions_examples():
    assert partition(2, "1-10") == ["1-5", "6-10"]
    assert partition(3, "-100--1") == ["-100--67", "-66--34", "-33--1"]


def test_rangechunk_examples():
    assert chunk(5, "1-20") == ["1-5", "6-10", "11-15", "16-20"]
    chunks = chunk(5, "-100--1", binary=True)
    # 20 chunks reordered first, last, middle...; each chunk is still five consecutive frames.
    assert chunks[:5] == ["-100--96", "-5--1", "-55--51", "-80--76", "-30--26"]
    assert sorted(chunks) == sorted(chunk(5, "-100--1"))


def test_rangejoin_examples():
    assert join([1, 2, 3, 4, 5]) == "1-5"
    assert join([1, 3, 5, 7, 9, 11, 13]) == "1-13x2"


def test_rangeorder_examples():
    assert order("ascend", "1-10") == list(range(1, 11))
    assert order("binary", "1-10x2") == [1, 9, 5, 3, 7]


# -- split ----------------------------------------------------------------------------------------

def test_duplicates_removed_keeping_the_first():
    assert split("1-5,3-7") == [1, 2, 3, 4, 5, 6, 7]
    assert split("5,1-3,5,2") == [5, 1, 2, 3]
    assert split("1-3", "2-4") == [1, 2, 3, 4]
    assert split("1-3,2", remove_duplicates=False) == [1, 2, 3, 2]


def test_descending_and_negative_ranges():
    assert split("10-1") == list(range(10, 0, -1))
    assert split("10-1x3") == [10, 7, 4, 1]
    assert split("-100--96") == [-100, -99, -98, -97, -96]
    assert split("-96--100") == [-96, -97, -98, -99, -100]
    assert split("-2-2") == [-2, -1, 0, 1, 2]
    assert split("-10-5") == list(range(-10, 6))
    assert split("2--2") == [2, 1, 0, -1, -2]
    assert split("-3") == [-3]
    assert split("7") == [7]
    assert split("5-5") == [5]


def test_step_is_a_bound_and_whitespace_is_tolerated():
    assert split("1-10x4") == [1, 5, 9]
    assert split("1-3x10") == [1]
    assert split(" 1 - 10 x 4 , 20 ") == [1, 5, 9, 20]
    assert split("-1 - -3") == [-1, -2, -3]
    assert split("001-003") == [1, 2, 3]


def test_binary_split_keeps_the_written_order():
    # Qube's binarySort: unique frames in the order written, then first, last, middles.
    assert split("1-10", binary=True) == [1, 10, 5, 3, 7, 2, 4, 6, 8, 9]
    assert split("10-1", binary=True) == [10, 1, 6, 8, 4, 9, 7, 5, 3, 2]
    assert split("1-3,1-3", binary=True) == [1, 3, 2]
    assert split("1,2", binary=True) == [1, 2]


def test_count():
    assert count("1-100") == 100
    assert count("1-10x2", "1-3") == 6


# -- join -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("frame_list, text", [
    ([1, 2, 3, 10, 20, 30], "1-3,10-30x10"),
    ([1, 2], "1,2"),
    ([1, 2, 5, 6], "1,2,5,6"),
    ([7], "7"),
    ([], ""),
    ([5, 4, 3, 2], "5-2"),
    ([9, 7, 5], "9-5x2"),
    ([-3, -2, -1, 0], "-3-0"),
    ([-1, -2, -3], "-1--3"),
    ([3, 1, 2], "3,1,2"),
    ([1, 2, 3, 5, 7, 9], "1-3,5-9x2"),
    ([1, 2, 4, 6, 8], "1,2-8x2"),
    ([1, 1, 1], "1,1,1"),
])
def test_join(frame_list, text):
    assert join(frame_list) == text
    if frame_list:
        assert split(text, remove_duplicates=False) == frame_list


def test_join_takes_any_iterable_of_ints_only():
    assert join(range(1, 8, 3)) == "1-7x3"
    with pytest.raises(TypeError):
        join([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        join(["1"])


# -- chunk and partition --------------------------------------------------------------------------

def test_chunk_keeps_the_written_order_and_drops_duplicates():
    assert chunk(3, "10-1") == ["10-8", "7-5", "4-2", "1"]
    assert chunk(2, "1-3,2-5") == ["1,2", "3,4", "5"]
    assert chunk(3, "1,5,9,10") == ["1-9x4", "10"]
    assert chunk(100, "1-10") == ["1-10"]


def test_partition_sizes():
    assert partition(3, "1-10") == ["1-4", "5-7", "8-10"]
    assert partition(4, "1-5") == ["1,2", "3", "4", "5"]
    assert partition(5, "1-3") == ["1", "2", "3"]
    assert partition(1, "1-5x2,10-12") == ["1-5x2,10-12"]
    assert partition(3, "1-9", binary=True) == ["1-3", "7-9", "4-6"]


@pytest.mark.parametrize("call", [lambda: chunk(0, "1-10"), lambda: partition(0, "1-10"),
                                  lambda: chunk(-1, "1-10"), lambda: partition(-2, "1-10")])
def test_sizes_must_be_positive(call):
    with pytest.raises(ValueError, match="must be 1 or more"):
        call()


# -- order ----------------------------------------------------------------------------------------

def test_every_order_mode():
    text = "10-12,1-3,2"
    assert order("ascend", text) == [1, 2, 3, 10, 11, 12]
    assert order("descend", text) == [12, 11, 10, 3, 2, 1]
    assert order("reverse", text) == [3, 2, 1, 12, 11, 10]
    assert order("binary", text) == [1, 12, 3, 2, 10, 11]
    assert order("rawbinary", text) == [10, 2, 1, 11, 2, 12, 3]
    assert order("binary", "12-10,3-1") == order("binary", "1-3,10-12")


def test_binary_order_is_first_last_then_middles_breadth_first():
    assert order("binary", "1-10") == [1, 10, 5, 3, 7, 2, 4, 6, 8, 9]
    assert order("binary", "1-9") == [1, 9, 5, 3, 7, 2, 4, 6, 8]
    assert order("binary", "1-3") == [1, 3, 2]
    assert order("binary", "4") == [4]


def test_unknown_mode_names_it_and_the_valid_ones():
    with pytest.raises(ValueError) as caught:
        order("random", "1-10")
    assert str(caught.value) == ("unknown frame order mode 'random' "
                                 "(expected one of: ascend, descend, reverse, binary, rawbinary)")


# -- errors ---------------------------------------------------------------------------------------

def test_error_message_names_the_token_and_the_string():
    with pytest.raises(ValueError) as caught:
        split("1-10,1-x")
    assert str(caught.value) == ("bad frame range token '1-x' in '1-10,1-x' "
                                 "(expected N, A-B or A-BxS)")
    assert isinstance(caught.value, DccFuturesError)


@pytest.mark.parametrize("text, token", [
    ("1-x", "1-x"), ("a", "a"), ("1-", "1-"), ("-", "-"), ("1-10x", "1-10x"),
    ("1..10", "1..10"), ("1-10y2", "1-10y2"), ("1-10x2x3", "1-10x2x3"), ("1.5", "1.5"),
    ("- 5", "- 5"), ("+5", "+5"), ("1-10X2", "1-10X2"), ("1 2", "1 2"),
    ("\u0661-\u0663", "\u0661-\u0663"),
    ("1,,2", ""), ("1-5,", ""), ("1-5, ,7", ""),
])
def test_bad_tokens(text, token):
    with pytest.raises(FrameRangeError) as caught:
        split(text)
    assert "bad frame range token %r in %r" % (token, text) in str(caught.value)


@pytest.mark.parametrize("text, step", [("1-10x0", 0), ("1-10x-2", -2), ("10-1x0", 0)])
def test_bad_steps_are_named(text, step):
    with pytest.raises(ValueError) as caught:
        split(text)
    assert str(caught.value) == ("bad frame range token %r in %r (step %d must be 1 or more)"
                                 % (text, text, step))


@pytest.mark.parametrize("call", [lambda: split(""), lambda: split("   "), lambda: split(),
                                  lambda: order("ascend"), lambda: count("")])
def test_empty_ranges(call):
    with pytest.raises(ValueError):
        call()


def test_the_bad_string_among_several_is_named():
    with pytest.raises(ValueError, match=r"token '7-x' in '7-x'"):
        split("1-5", "7-x")


def test_a_range_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str"):
        split(5)


@pytest.mark.parametrize("call", [
    lambda: split("1-100000000"), lambda: split("1-100000000", binary=True),
    lambda: split("1-100000000", remove_duplicates=False), lambda: count("1-100000000"),
    lambda: chunk(10, "1-100000000"), lambda: partition(4, "1-100000000"),
    lambda: order("binary", "1-100000000"), lambda: order("rawbinary", "1-100000000"),
    lambda: order("ascend", "1-100000000"), lambda: frames.runs("1-100000000"),
    lambda: split("-50000000-50000000"), lambda: split("1-600000", "1-600000"),
    lambda: split("1-600000,1-600000"), lambda: split("1-10000000000000000000000"),
])
def test_a_range_past_the_limit_is_refused_before_it_is_expanded(call):
    started = time.perf_counter()
    with pytest.raises(FrameRangeError, match="more than 1,000,000 frames is not a shot"):
        call()
    assert time.perf_counter() - started < 0.25  # expanding would take seconds and gigabytes


def test_a_range_at_the_limit_is_fine():
    assert frames.MAX_FRAMES == 1000000
    assert count("1-%d" % frames.MAX_FRAMES) == frames.MAX_FRAMES
    assert count("1-%dx10" % (frames.MAX_FRAMES * 10)) == frames.MAX_FRAMES


# -- properties -----------------------------------------------------------------------------------

@st.composite
def frame_lists(draw):
    """Lists made of arithmetic runs (so join finds runs) and stray frames, in any order."""
    runs = draw(st.lists(st.tuples(st.integers(-300, 300), st.integers(-4, 4),
                                   st.integers(1, 6)), min_size=1, max_size=8))
    return [start + step * i for start, step, size in runs for i in range(size)]


@st.composite
def parts(draw):
    """One range part and the frames it stands for, duplicates and all."""
    first = draw(st.integers(-200, 200))
    kind = draw(st.sampled_from(["single", "range", "stepped"]))
    if kind == "single":
        return "%d" % first, [first]
    last = draw(st.integers(-200, 200))
    step = 1 if kind == "range" else draw(st.integers(1, 25))
    text = "%d-%d" % (first, last) + ("x%d" % step if kind == "stepped" else "")
    expected = (list(range(first, last + 1, step)) if last >= first
                else list(range(first, last - 1, -step)))
    return text, expected


range_texts = st.lists(parts(), min_size=1, max_size=6).map(
    lambda found: (",".join(text for text, _ in found),
                   list(itertools.chain.from_iterable(expanded for _, expanded in found))))


@FAST
@given(frame_lists().map(lambda found: list(dict.fromkeys(found))))
def test_join_then_split_round_trips_unique_frames(frame_list):
    assert split(join(frame_list)) == frame_list


@FAST
@given(st.lists(st.integers(-10 ** 9, 10 ** 9), min_size=1, unique=True))
def test_join_then_split_round_trips_any_unique_ints(frame_list):
    assert split(join(frame_list)) == frame_list


@FAST
@given(frame_lists())
def test_join_then_split_round_trips_duplicates_too(frame_list):
    assert split(join(frame_list), remove_duplicates=False) == frame_list


@FAST
@given(range_texts)
def test_split_expands_parts_in_order(case):
    text, expected = case
    assert split(text, remove_duplicates=False) == expected
    assert split(text) == list(dict.fromkeys(expected))
    assert count(text) == len(set(expected))


@FAST
@given(range_texts, st.integers(1, 40))
def test_chunks_cover_every_frame_once_in_order(case, size):
    text, _ = case
    chunks = chunk(size, text)
    pieces = [split(piece) for piece in chunks]
    assert list(itertools.chain.from_iterable(pieces)) == split(text)
    assert all(len(piece) == size for piece in pieces[:-1]) and 1 <= len(pieces[-1]) <= size
    assert sorted(chunk(size, text, binary=True)) == sorted(chunks)


@FAST
@given(range_texts, st.integers(1, 40))
def test_partitions_cover_every_frame_once_in_order(case, wanted):
    text, _ = case
    in_parts = partition(wanted, text)
    pieces = [split(piece) for piece in in_parts]
    assert list(itertools.chain.from_iterable(pieces)) == split(text)
    sizes = [len(piece) for piece in pieces]
    assert len(sizes) == min(wanted, count(text))
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert sorted(partition(wanted, text, binary=True)) == sorted(in_parts)


@FAST
@given(range_texts)
def test_binary_orders_are_permutations(case):
    text, expected = case
    unique = split(text)
    assert sorted(order("binary", text)) == sorted(unique)
    assert sorted(order("rawbinary", text)) == sorted(expected)
    in_binary = split(text, binary=True)
    assert sorted(in_binary) == sorted(unique)
    assert in_binary[:2] == ([unique[0], unique[-1]] if len(unique) > 1 else unique)
    ascending = sorted(unique)
    assert order("binary", text)[:2] == ([ascending[0], ascending[-1]]
                                         if len(ascending) > 1 else ascending)
    assert order("ascend", text) == ascending
    assert order("descend", text) == ascending[::-1]
    assert order("reverse", text) == unique[::-1]


def test_runs_give_render_ranges():
    from dccfutures.frames import runs
    assert runs("1-10x2,20") == [(1, 9, 2), (20, 20, 1)]
    assert runs("10-1") == [(1, 10, 1)]                     # ascending, as a ROP renders
    assert runs("5,3,4,4") == [(3, 5, 1)]                   # unique, sorted
    assert runs("1-3,10-30x10") == [(1, 3, 1), (10, 30, 10)]
    assert runs("1,2") == [(1, 2, 1)]                        # what chunk() gives for 2 frames
    assert runs("1,3,5,10") == [(1, 5, 2), (10, 10, 1)]
