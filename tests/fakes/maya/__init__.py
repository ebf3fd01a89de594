"""A fake of Autodesk Maya's Python API (``maya``), for dccfutures' tests.

Put ``tests/fakes`` on ``sys.path``/``PYTHONPATH`` and ``import maya.cmds`` as inside Maya. The
session's state lives in this process's module globals (``maya._state``): scene name and
modified flag, the nodes and selection of the open scene, the workspace, UI (menus, menu
items, shelves, shelf buttons), loaded plug-ins and their commands, the deferred queue,
standalone state and the mode (interactive, batch, library). A fake scene file is a small
JSON file (``{"fakeMayaScene": 1, "nodes": [[name, type]...], "selection": [...]}``), so
opening, saving and exporting copies are real on disk. The executables in ``tests/fakes/bin``
(``mayapy``, ``maya -batch``) run Python with this package importable, in library or batch
mode, so a runtime launches them exactly as the real ones.

Only the API dccfutures uses exists, with Maya's long and short flag names: any other flag
raises ``TypeError("Invalid flag 'x'")`` as Maya does, any other command AttributeError. No
command takes more positional arguments than Maya's (per maya-stubs): ``file``, ``workspace``,
``menu``, ``menuItem``, ``shelfLayout``, ``shelfButton``, ``evalDeferred``, ``pluginInfo`` and
``progressBar`` take one at most, and a second is a TypeError.

Implemented
-----------
``maya.cmds``: ``file`` (query ``sceneName``/``modified``; ``rename``; ``save`` with optional
``type``; ``open`` + ``force``; ``newFile`` (short ``new``) + ``force``; ``modified=bool``;
``exportAll`` + ``preserveReferences``/``type``/``force``, which writes a copy and changes
neither the scene name nor the modified flag; ``ignoreVersion`` accepted), ``workspace`` (query
``rootDirectory``, with a trailing "/"; ``openWorkspace``), ``about`` (``batch``, ``version``),
``ls`` (names/patterns, ``selection``, ``type``), ``nodeType``, ``select`` (``add``,
``deselect``, ``clear``, ``replace``), ``createNode`` (``name``, ``skipSelect``; dirties the
scene), ``menu`` (create with ``parent``/``label``/``tearOff``/``allowOptionBoxes``,
``exists``, edit ``deleteAllItems``/``label``, query ``label``/``tearOff``/``itemArray``),
``menuItem`` (``label``, ``command``, ``parent`` defaulting to the last menu created,
``divider``, ``exists``, query), ``shelfLayout``/``shelfButton`` (minimal), ``deleteUI``
(menus, items, shelves, buttons, with children), ``evalDeferred`` (string of Python or
callable; ``lowestPriority``, ``lowPriority`` (= normal here), ``evaluateNext``, ``list``),
``loadPlugin`` (a file name on ``MAYA_PLUG_IN_PATH`` or a path; really imports the file and
calls ``initializePlugin``; as Autodesk documents, a name without extension means the
platform's compiled plug-in (.so/.mll/.bundle), so a Python plug-in is found only as
``name.py``, and ``quiet`` hides nothing but the "already loaded" warning; the fake's
``plug-ins/`` stand for Maya's own compiled ones, e.g. ``AbcExport``, which splits its job
string as AbcExport.cpp does), ``unloadPlugin`` (calls ``uninitializePlugin``),
``pluginInfo`` (query ``loaded``/``path``/``listPlugins``; both take the registered name), ``progressBar`` on ``MainProgressBar`` (edit
``beginProgress``/``endProgress``/``isInterruptable``/``status``/``minValue``/``maxValue``/
``progress``/``step``; query ``isCancelled`` and the values), commands registered by plug-ins.
``maya.mel.eval``: ``$gMainWindow`` ("MayaWindow") and ``$gMainProgressBar``
("MainProgressBar"); outside interactive mode they are undeclared (a MEL error, as in Maya)
unless the command declares them (then ""). ``maya.utils``: ``executeDeferred(fn, *args,
**kwargs)``, ``processIdleEvents()``. ``maya.standalone``: ``initialize(name='python')``,
``uninitialize()``. ``maya.OpenMayaUI.MQtUtil.mainWindow()``. ``maya.api.OpenMaya``:
``MGlobal.mayaState()`` with ``kInteractive``/``kBatch``/``kLibraryApp``/``kBaseUIMode``,
``MGlobal.displayInfo/Warning/Error``, ``MObject``, ``MArgList``, ``MPxCommand`` (a real
class), ``MFnPlugin(obj, vendor, version, apiVersion)`` with ``registerCommand``/
``deregisterCommand``/``name``/``vendor``/``version``, ``MSceneMessage.addCallback``
(``kMayaExiting``) and ``MMessage.removeCallback``.

Decisions (stricter than Maya where Maya would crash or silently misbehave)
--------------------------------------------------------------------------
* Mode: ``$DCCFUTURES_FAKE_MAYA_MODE`` at import ("interactive" by default; the fake
  ``mayapy`` sets "library", the fake ``maya`` "batch"); ``maya._fake.set_mode`` changes it.
* In library mode every ``maya.cmds`` command raises RuntimeError before
  ``maya.standalone.initialize()`` and after ``uninitialize()`` (the real maya.cmds has no
  commands then). ``initialize`` outside library mode, twice, or after ``uninitialize``
  raises; ``uninitialize`` without ``initialize`` is a no-op. ``initialize`` runs every
  ``userSetup.py`` on ``sys.path``, as mayapy does; so does the fake ``maya -batch``.
* UI commands (``menu``, ``menuItem``, ``shelf*``, ``deleteUI``, ``progressBar``) raise
  RuntimeError outside interactive mode: guard them with ``about(batch=True)``/``mayaState``.
* In interactive mode a ``maya.cmds`` call from a thread other than the main thread raises
  RuntimeError (the real Maya may crash); ``maya._fake.set_strict_threads(False)`` relaxes it.
* Creating a menu/UI object whose name exists raises "Object's name 'X' is not unique." so a
  plug-in that re-creates its menu without deleting it first fails loudly.
* ``file(save=True)`` on an untitled scene raises; ``file(open=True)`` with unsaved changes
  and no ``force`` raises; ``exportAll`` over an existing file needs ``force``.
* Deferred entries never run by themselves: ``maya.utils.processIdleEvents()`` (or
  ``maya._fake.process_idle_events()``) is the idle loop, in every mode.
* Plug-ins must be API 2.0 (``maya_useNewAPI``); ``unloadPlugin`` drops commands left
  registered. Loading a loaded plug-in is a no-op returning [].
* Interactive start-up and exit are test aids: ``maya._fake.start()`` applies the module
  files on MAYA_MODULE_PATH and in $MAYA_APP_DIR (Autodesk's .mod rules: ``+ [MAYAVERSION:v]
  [PLATFORM:p] [LOCALE:l] name version path``, a condition left out matches every Maya, a
  blank or comment line ends an entry's variable lines, ``plug-ins``/``scripts``/``icons``/
  ``presets`` added by themselves; of two matching entries of one module the first wins),
  loads the shelves of the user's prefs and MAYA_SHELF_PATH, runs the ``userSetup.py``
  files; variables go to the fake's own view (``maya._state.STATE.env``), never to
  ``os.environ``. ``maya._fake.quit()`` runs the ``kMayaExiting`` callbacks, then saves
  every shelf in the shelf bar as Maya does: back to the file it came from when writable
  (a module's included), else into $MAYA_APP_DIR/<version>/prefs/shelves.

Sources
-------
[dcc] /work/shared/reference/dcc-notes.md (module, plug-in, menu idiom, mayapy bootstrap,
      scene copies, main thread, main window).
[cmd] Maya Python command reference (help.autodesk.com ``CommandsPython/``): ``evalDeferred``
      flags ``lowestPriority``(lp) "executed when no other idle events are scheduled",
      ``lowPriority``(low), ``evaluateNext``(en), ``list``(ls); ``menu`` ``deleteAllItems``
      (dai), ``exists``(ex), ``tearOff``(to), ``itemArray``(ia); ``file`` short names.
[pymel] PyMEL ``pymel.mayautils.executeDeferred``: "Maya's version does not execute at all
      when in batch mode" (hence: nothing runs without processIdleEvents).
[load] ``loadPlugin``: "If no extension is provided then the default extension for the
      platform will be used. To load a Python plugin you must explicitly supply the '.py'
      extension"; ``quiet``: "Don't print a warning if you attempt to load a plug-in that is
      already loaded".
[mod] Maya SDK "Distributing Multi-File Modules", "Maya module paths, folders and versions",
      "Installing the module" (plug-ins, scripts, icons, presets added by themselves).
[shelf] ``saveAllShelves``: "writes all shelves that are immediate children of the specified
      control layout to the prefs directory" (Maya does it on exit);
      ``MSceneMessage.kMayaExiting``: called prior to Maya exit.
[abc] Alembic's AbcExport.cpp job argument parser (spaces split, quotes group, unsupported
      flags only warned about).
[oss] Menu idiom ``if cmds.menu(ID, exists=True): cmds.deleteUI(ID)`` then
      ``cmds.menu(ID, parent="MayaWindow", tearOff=True, label=...)`` and
      ``mel.eval("$tmpVar=$gMainWindow")``: mgear4 ``menu.create``, public userSetup.py files
      found with the code search.

Left out
--------
Module files in the fake ``mayapy``/``maya`` executables (only ``maya._fake.start()``
reads them: put a module's ``scripts``/``plug-ins`` on ``PYTHONPATH``/``MAYA_PLUG_IN_PATH``
yourself there); plug-ins in the current directory; unloading plug-ins at exit; MEL shelf
files beyond their ``shelfButton`` label/annotation/image/command/sourceType; references;
``executeInMainThreadWithResult``; sub-menus; MEL beyond the two globals; ``maya -batch``
without ``-command`` running ``-script``; any Qt.

Test aids (not Maya API)
------------------------
``maya._fake`` (reset, modes, scene files, UI inspection and clicks, the idle loop, Esc,
thread strictness, call counters, interactive start-up and exit, callbacks left registered),
``maya._startup`` (what start-up and exit do) and ``maya._batch`` (the fake ``maya``
executable).
"""
