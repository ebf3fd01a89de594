"""Callables for the shelf action tests: each records how it was called."""
CALLS = []


def record(**kwargs):
    CALLS.append(kwargs)
    return ("recorded", kwargs)


not_callable = 42


def boom(**kwargs):
    raise RuntimeError("boom with %r" % sorted(kwargs))
