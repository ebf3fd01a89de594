"""Fake ``maya.api.OpenMaya``: ``MGlobal`` (state, display), ``MObject``, ``MFnPlugin``
(commands), ``MPxCommand``, ``MArgList``, ``MSceneMessage.addCallback`` (``kMayaExiting``) and
``MMessage.removeCallback``."""
import itertools
import sys

from maya._state import STATE


class MGlobal(object):
    kInteractive = 0
    kBatch = 1
    kLibraryApp = 2
    kBaseUIMode = 3

    @staticmethod
    def mayaState():  # noqa: N802 - Maya's name
        return {"interactive": MGlobal.kInteractive, "batch": MGlobal.kBatch,
                "library": MGlobal.kLibraryApp}[STATE.mode]

    @staticmethod
    def displayInfo(msg):  # noqa: N802
        sys.stdout.write("%s\n" % msg)

    @staticmethod
    def displayWarning(msg):  # noqa: N802
        sys.stdout.write("# Warning: %s\n" % msg)

    @staticmethod
    def displayError(msg):  # noqa: N802
        sys.stdout.write("# Error: %s\n" % msg)


class MObject(object):
    """An opaque handle; the one ``loadPlugin`` passes to ``initializePlugin`` knows its
    plug-in."""
    _plugin = None

    def isNull(self):  # noqa: N802
        return self._plugin is None


class MArgList(object):
    def __init__(self, args=()):
        self._args = list(args)

    def __len__(self):
        return len(self._args)

    def asString(self, index):  # noqa: N802
        return str(self._args[index])

    def asInt(self, index):  # noqa: N802
        return int(self._args[index])

    def asDouble(self, index):  # noqa: N802
        return float(self._args[index])


class MPxCommand(object):
    """Base class of plug-in commands: subclass it and override ``doIt(args)``."""

    def __init__(self):
        pass

    def doIt(self, args):  # noqa: N802
        raise RuntimeError("MPxCommand.doIt is not implemented")

    def isUndoable(self):  # noqa: N802
        return False


class MFnPlugin(object):
    """``MFnPlugin(obj, vendor="Unknown", version="Unknown", apiVersion="Any")`` for the
    MObject given to ``initializePlugin``/``uninitializePlugin``."""

    def __init__(self, obj, vendor="Unknown", version="Unknown", apiVersion="Any"):
        if not isinstance(obj, MObject) or obj.isNull():
            raise TypeError("MFnPlugin: expected the plug-in MObject given to "
                            "initializePlugin, got %r" % (obj,))
        self._plugin = obj._plugin
        self._vendor = vendor
        self._version = version

    def name(self):
        return self._plugin

    def vendor(self):
        return self._vendor

    @property  # a str property in Maya's API 2.0, not a method
    def version(self):
        return self._version

    def registerCommand(self, name, creator, createSyntax=None):  # noqa: N802,N803
        """Make ``maya.cmds.<name>(*args)`` call ``creator().doIt(MArgList(args))``."""
        if name in STATE.commands:
            raise RuntimeError("registerCommand: command '%s' is already registered" % name)
        if not callable(creator):
            raise TypeError("registerCommand: creator must be callable")
        STATE.commands[name] = (self._plugin, creator)

    def deregisterCommand(self, name):  # noqa: N802
        if name not in STATE.commands:
            raise RuntimeError("deregisterCommand: command '%s' is not registered" % name)
        del STATE.commands[name]


_CALLBACK_IDS = itertools.count(1)


class MMessage(object):
    """Base of the message classes: ``removeCallback(id)``."""

    @staticmethod
    def removeCallback(id):  # noqa: N802,A002 - Maya's names
        """Remove a callback added with ``addCallback``; an unknown id raises RuntimeError."""
        if STATE.callbacks.pop(id, None) is None:
            raise RuntimeError("(kInvalidParameter): callback id %r is not registered" % (id,))


class MSceneMessage(MMessage):
    """``addCallback(message, function, clientData=None)`` -> id. Only ``kMayaExiting``
    ("called prior to Maya exit") is ever sent: by ``maya._fake.quit()``, which calls
    ``function(clientData)``. Maya requires a plug-in to remove its callbacks when it is
    unloaded; ``maya._fake.callbacks()`` shows what is left."""

    kMayaInitialized = 29
    kMayaExiting = 30

    @staticmethod
    def addCallback(message, function, clientData=None):  # noqa: N802,N803 - Maya's names
        if message not in (MSceneMessage.kMayaExiting, MSceneMessage.kMayaInitialized):
            raise RuntimeError("fake maya: MSceneMessage %r is not supported" % (message,))
        if not callable(function):
            raise TypeError("addCallback: function must be callable")
        ident = next(_CALLBACK_IDS)
        STATE.callbacks[ident] = (message, function, clientData)
        return ident
