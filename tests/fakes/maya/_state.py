"""Process-wide state of the fake Maya session (private; tests use ``maya._fake``)."""
import collections
import os
import threading

MODES = ("interactive", "batch", "library")
VERSION = "2025"


class State(object):
    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self, mode=None):
        mode = mode or os.environ.get("DCCFUTURES_FAKE_MAYA_MODE") or "interactive"
        if mode not in MODES:
            raise ValueError("fake maya mode must be one of %s, not %r" % (MODES, mode))
        self.mode = mode
        self.version = os.environ.get("DCCFUTURES_FAKE_MAYA_VERSION") or VERSION
        self.scene = ""                      # "" = untitled, as Maya answers
        self.modified = False
        self.nodes = collections.OrderedDict()   # name -> node type
        self.selection = []
        self.workspace = os.getcwd()
        self.playback = [1.0, 120.0]          # playbackOptions minTime, maxTime
        # UI: short name -> {"kind": window|menu|menuItem|shelfLayout|shelfButton|layout,
        # "parent": short name or None, ...flags}. Only interactive Maya has a main window.
        self.ui = collections.OrderedDict()
        if mode == "interactive":
            self.ui["MayaWindow"] = {"kind": "window", "parent": None}
            self.ui["ShelfLayout"] = {"kind": "layout", "parent": "MayaWindow"}
        self.current_menu = None
        self.current_shelf = None
        self.ui_counter = collections.Counter()
        self.plugins = collections.OrderedDict()  # name -> {"path", "module", "commands"}
        self.commands = {}                    # registered by MFnPlugin.registerCommand
        self.deferred = collections.deque()   # (callable, args, kwargs), normal priority
        self.deferred_lowest = collections.deque()
        self.escape_after = None              # press Esc after this many isCancelled queries
        self.standalone_initialized = False
        self.standalone_done = False
        self.progress = {"active": False, "interruptable": False, "cancelled": False,
                         "status": "", "min": 0, "max": 100, "value": 0}
        self.main_thread = threading.main_thread()
        self.strict_threads = True
        # What Maya's start-up set (modules): variables the fake's commands read before
        # os.environ (the test process's environment is never changed).
        self.env = {}
        self.shelf_files = {}                 # shelf name -> the file it was loaded from
        self.callbacks = collections.OrderedDict()  # MMessage id -> (message, function, data)
        if not hasattr(self, "calls"):
            self.calls = collections.Counter()
        self.calls.clear()


STATE = State()
