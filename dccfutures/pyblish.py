"""Pyblish on the farm: the "extraction queue" (reference 002).

Validation stays in the artist's session, where the artist can fix what it finds. Once the
publish is valid, nothing in extraction or integration needs the artist any more, so the heavy
part goes to the farm and publishing returns at once:

* a :class:`FarmExtractor` takes plain data from the instance in the session (paths, frame
  range, node names) and submits ONE farm job per instance that runs ``extract_on_farm(data)``,
  in plain Python or, with ``dcc = "maya"`` / ``"houdini"``, in a bootstrapped DCC holding a
  copy of the artist's scene;
* a :class:`FarmIntegrator` submits ``integrate_on_farm(extracted, data)`` with the
  extraction's future as its argument, so the farm (not this session) holds it until the
  extraction completes and hands it the extraction's result: the artist may close the DCC;
* when the integration ends, the artist is told (success with the result, or which step of
  which instance failed) through ``reporter``, by default :func:`report`, which calls
  :func:`dccfutures.notify.tell`.

::

    import pyblish.api
    from dccfutures.pyblish import FarmExtractor, FarmIntegrator, publish_on_farm

    def export_cache(data):                      # runs on the farm, in mayapy
        import maya.cmds as cmds
        cmds.select(data["nodes"])
        return cmds.file(data["path"], exportSelected=True, type="mayaAscii")

    class ExtractCache(FarmExtractor):
        families = ["pointcache"]
        dcc = "maya"
        job_fields = {"cpus": 4, "groups": "sim"}
        extract_on_farm = staticmethod(export_cache)

    class IntegrateCache(FarmIntegrator):
        families = ["pointcache"]
        integrate_on_farm = "studio.publish:register_file"   # "package.module:function"

    futures = publish_on_farm()                  # returns once everything is submitted

The base classes process no family (``families = []``): ``from dccfutures.pyblish import
FarmExtractor`` in a plug-in file makes pyblish's discovery find the base class too, and it
must not run on every instance. A subclass names its families.

This module imports ``pyblish`` (the ``pyblish`` extra: ``pip install dccfutures[pyblish]``,
which installs ``pyblish-base``); the farm side does not need pyblish unless the functions it
runs are defined in a plug-in module that imports it.
"""
import inspect
import json
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pyblish.api
import pyblish.util

from .errors import DependencyError
from .future import Future

__all__ = ["FarmExtractor", "FarmIntegrator", "publish_on_farm", "report", "describe",
           "farm_futures"]

log = logging.getLogger(__name__)

#: The key of ``instance.data`` and ``context.data`` that holds this module's state.
KEY = "dccfutures"

Reporter = Callable[[str, Future], None]


# -- telling the artist ---------------------------------------------------------------------


def report(instance_name: str, future: Future) -> None:
    """The default reporter: tell the artist how the publish of ``instance_name`` ended.

    ``future`` is the last farm step of the instance (its integration, or its extraction when
    no :class:`FarmIntegrator` ran). Goes through :func:`dccfutures.notify.tell`: inside Maya
    or Houdini on the main thread, else a desktop notification, else stderr.
    """
    from .notify import tell  # lazily: only a session that publishes needs it
    title, message, level = describe(instance_name, future)
    tell(title, message, level)


def describe(instance_name: str, future: Future) -> Tuple[str, str, str]:
    """``(title, message, level)`` for the end of ``future``, a step of ``instance_name``.

    A :class:`~dccfutures.DependencyError` from the integration means the extraction failed
    (or was killed): the message then names the "extract" step, its job and its own error,
    which is what the artist needs to act on, rather than the integration that never ran.
    """
    title = "Publish %s" % instance_name
    step = getattr(future, "step", "farm work")
    job = "job %s" % future.job_id
    if future.cancelled():
        return title, "%s of %r was cancelled (%s)" % (step, instance_name, job), "warning"
    error = future.exception()
    if error is None:
        return (title, "%r published: %s" % (instance_name, _short(future.result())), "info")
    if isinstance(error, DependencyError):
        failed = _extraction_for(future, error)
        if failed is not None:
            step, job = "extract", "job %s" % failed.job_id
            if failed.done() and not failed.cancelled() and failed.exception() is not None:
                error = failed.exception()
        else:
            step = "extract"
    return (title, "%s failed for %r (%s): %s: %s"
            % (step, instance_name, job, type(error).__name__, _short(error)), "error")


def _extraction_for(future: Future, error: DependencyError) -> Optional[Future]:
    """The extraction future that ``error`` (a DependencyError of ``future``) names."""
    extraction = getattr(future, "extraction", None)
    candidates = (list(extraction.values()) if isinstance(extraction, dict)
                  else [extraction] if extraction is not None else [])
    for candidate in candidates:
        if candidate.job_id == error.job_id and candidate.work_id == error.work_id:
            return candidate
    return candidates[0] if len(candidates) == 1 else None


def _short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _when_all_done(futures: Sequence[Future], fn: Callable[[], None]) -> None:
    """Call ``fn()`` once, when every future is done (at once if they are)."""
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Any) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            fn()

    if not futures:
        fn()
    for future in futures:
        future.add_done_callback(one_done)


def _safe_report(reporter: Reporter, instance_name: str, future: Future) -> None:
    # Runs in a done-callback (the poller thread, or the DCC's main thread): a broken
    # reporter must not break either.
    try:
        reporter(instance_name, future)
    except Exception:
        log.exception("the reporter %r failed for %r", reporter, instance_name)


# -- the plug-ins ---------------------------------------------------------------------------


def _context_state(context: Any) -> Dict[str, Any]:
    state = context.data.get(KEY)
    if state is None:
        state = context.data[KEY] = {"executors": {}, "futures": []}
    return state


def _instance_state(instance: Any) -> Dict[str, Any]:
    state = instance.data.get(KEY)
    if state is None:
        state = instance.data[KEY] = {"extracts": {}}
    return state


def _class_callable(plugin: Any, name: str, allow_method: bool = False) -> Any:
    """The callable a plug-in class names as ``name``, as it must travel to the farm.

    A ``@staticmethod`` or a module-level function assigned in the class body is taken as is
    (a function assigned as a class attribute would otherwise be bound to the plug-in); a
    ``"package.module:function"`` string is passed on as a reference. A plain method is
    refused for farm work: there is no plug-in instance on the farm to bind it to.
    """
    cls = type(plugin)
    raw = inspect.getattr_static(cls, name, None)
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, staticmethod):
        return raw.__func__
    if isinstance(raw, classmethod):
        return getattr(cls, name)
    if inspect.isfunction(raw):
        for klass in cls.__mro__:
            if klass.__dict__.get(name) is raw and raw.__qualname__.startswith(
                    klass.__qualname__ + "."):
                if allow_method:
                    return getattr(plugin, name)
                raise TypeError(
                    "%s.%s is a method: make it a @staticmethod (or assign a module-level "
                    "function or a 'package.module:function' string), because it runs on the "
                    "farm, where there is no plug-in instance" % (cls.__name__, name))
    return raw


class _FarmPlugin(pyblish.api.InstancePlugin):
    """What the farm plug-ins share: which executor runs their work, and with which fields."""

    families: List[str] = []  # none: a subclass names its families (see the module doc)
    #: ``None`` (plain Python), ``"maya"`` or ``"houdini"``: where the farm work runs.
    dcc: Optional[str] = None
    #: Job fields for the plug-in's jobs: ``cpus``, ``priority``, ``groups``, ``env``…
    job_fields: Dict[str, Any] = {}
    #: The farm (``"local"``, ``"qube"``); ``None``: the config's.
    farm: Optional[str] = None
    #: DCC only: send the artist's environment, scene name, version and workspace.
    clone_environ: bool = True
    #: DCC only: the work opens a copy of the scene as it is now, unsaved edits included.
    create_tempfile: bool = True
    #: ``reporter(instance_name, future)`` tells the artist how the publish ended;
    #: ``None``: :func:`report` (looked up when the work ends, so it can be replaced).
    reporter: Optional[Reporter] = None

    def executor(self, context: Any) -> Any:
        """The executor for this plug-in's work, one per kind and per publish (cached in
        ``context.data["dccfutures"]``): every instance's DCC work shares one scene copy,
        taken after validation passed."""
        key = (self.farm, self.dcc, bool(self.clone_environ), bool(self.create_tempfile))
        executors = _context_state(context)["executors"]
        if key not in executors:
            if self.dcc is None:
                from .executor import Executor
                executors[key] = Executor(farm=self.farm)
            elif self.dcc in ("maya", "houdini"):
                import importlib
                module = importlib.import_module("." + self.dcc, __package__)
                executors[key] = module.Executor(clone_environ=self.clone_environ,
                                                 create_tempfile=self.create_tempfile,
                                                 farm=self.farm)
            else:
                raise ValueError("%s.dcc must be None, 'maya' or 'houdini', not %r"
                                 % (type(self).__name__, self.dcc))
        return executors[key]

    def farm_data(self, instance: Any) -> Dict[str, Any]:
        """Plain data for the farm, taken from the instance in the session.

        The default: a copy of the JSON-able entries of ``instance.data``. Nodes, file
        handles and the session's objects cannot travel (and would be stale on the farm);
        override this to add what the farm needs, e.g. ``context.data["currentFile"]``.
        """
        data = {}
        for key, value in instance.data.items():
            if key == KEY or not isinstance(key, str):
                continue
            try:
                data[key] = json.loads(json.dumps(value))
            except (TypeError, ValueError):
                continue
        return data

    def _submit(self, instance: Any, func: Any, args: List[Any], step: str) -> Future:
        fields = dict(self.job_fields)
        fields.setdefault("name", "%s %s" % (step.capitalize(), instance.data.get("name")
                                             or instance))
        future = self.executor(instance.context).submit_ext(func, args, **fields)
        future.instance_name = str(instance.data.get("name") or instance)
        future.step = step
        _context_state(instance.context)["futures"].append(future)
        self.log.info("%s of %s on the farm: job %s (%s)", step.capitalize(),
                      future.instance_name, future.job_id, future.farm)
        return future

    def _reporter(self) -> Reporter:
        reporter = _class_callable(self, "reporter", allow_method=True)
        return reporter if reporter is not None else _default_reporter

    @staticmethod
    def _function(plugin: Any, name: str) -> Any:
        func = _class_callable(plugin, name)
        if func is None:
            raise NotImplementedError("%s must define %s (a @staticmethod, a module-level "
                                      "function or a 'package.module:function' string)"
                                      % (type(plugin).__name__, name))
        return func


def _default_reporter(instance_name: str, future: Future) -> None:
    report(instance_name, future)  # the module attribute at call time


class FarmExtractor(_FarmPlugin):
    """The heavy part of an extractor, run on the farm after validation passed.

    A subclass sets ``families`` and ``extract_on_farm(data) -> Any`` (a ``@staticmethod``,
    a module-level function or a ``"package.module:function"`` string): it runs on the farm,
    in the DCC named by ``dcc`` (with a copy of the artist's scene) or in plain Python, and
    returns what the integrator needs (typically the paths it wrote). ``farm_data(instance)``
    picks the plain data it gets.

    ``process`` submits one job ("Extract <instance>"), stores its future in
    ``instance.data["dccfutures"]["extract"]`` and returns at once.
    """

    order = pyblish.api.ExtractorOrder
    label = "Extract on the farm"
    extract_on_farm: Any = None

    def process(self, instance: Any) -> None:
        func = self._function(self, "extract_on_farm")
        data = self.farm_data(instance)
        future = self._submit(instance, func, [data], "extract")
        state = _instance_state(instance)
        state["extract"] = future
        state["extracts"][type(self).__name__] = future
        state["reporter"] = self._reporter()


class FarmIntegrator(_FarmPlugin):
    """Integration on the farm, once the extraction completed.

    A subclass sets ``families`` and ``integrate_on_farm(extracted, data) -> Any``.
    ``extracted`` is the result of the instance's farm extraction (a dict of extractor class
    name to result when several :class:`FarmExtractor` processed the instance). It is
    submitted with the extraction's future as its argument: the farm holds the integration
    until the extraction completes, and fails it with a ``DependencyError`` if the extraction
    fails, whether or not this session is still open.

    ``process`` stores the future in ``instance.data["dccfutures"]["integrate"]``; when it
    ends, ``reporter(instance_name, future)`` tells the artist (by default :func:`report`).
    """

    order = pyblish.api.IntegratorOrder
    label = "Integrate on the farm"
    integrate_on_farm: Any = None
    #: Refuse an instance that no FarmExtractor submitted (its extraction failed to submit,
    #: or none matched). ``False``: integrate anyway, with ``extracted=None``.
    requires_extraction: bool = True

    def process(self, instance: Any) -> None:
        func = self._function(self, "integrate_on_farm")
        state = _instance_state(instance)
        extracts = dict(state.get("extracts") or {})
        if not extracts and self.requires_extraction:
            raise RuntimeError("%s: no farm extraction was submitted for %r, so there is "
                               "nothing to integrate (set requires_extraction = False to "
                               "integrate without one)" % (type(self).__name__,
                                                           instance.data.get("name")))
        extracted: Any = (next(iter(extracts.values())) if len(extracts) == 1
                          else extracts or None)
        future = self._submit(instance, func, [extracted, self.farm_data(instance)],
                              "integrate")
        future.extraction = extracted  # type: ignore[attr-defined]  # ours, for reports
        state["integrate"] = future
        reporter = state["reporter"] = self._reporter()
        name = future.instance_name  # type: ignore[attr-defined]  # set by _submit
        # Report once the extractions are done too, so a failure names their own error.
        future.add_done_callback(lambda f: _when_all_done(
            list(extracts.values()), lambda: _safe_report(reporter, name, f)))


# -- publishing -----------------------------------------------------------------------------


def publish_on_farm(context: Any = None, plugins: Optional[List[Any]] = None,
                    targets: Optional[List[str]] = None) -> List[Future]:
    """Run ``pyblish.util.publish`` and return every dccfutures future it created.

    Returns as soon as everything is submitted. ``plugins`` (default: pyblish's discovery)
    run in the order of their ``order``, whatever the order of the list. A failed validation
    stops the publish before extraction (pyblish's own rule): nothing is submitted and the
    list is empty; the errors are in ``context.data["results"]``, as pyblish keeps them, and
    are logged. An instance whose extraction no :class:`FarmIntegrator` followed is reported
    when the extraction ends.
    """
    if context is None:
        context = pyblish.api.Context()
    if plugins is not None:
        # pyblish runs an explicit list in the order given; sorted, a validator listed after
        # an extractor still runs (and can stop the publish) before anything is submitted.
        plugins = sorted(plugins, key=lambda plugin: plugin.order)
    state = _context_state(context)
    before = len(state["futures"])
    pyblish.util.publish(context, plugins, targets)
    for result in context.data.get("results", ()):
        if result.get("error") is not None:
            log.error("%s failed%s: %s", getattr(result.get("plugin"), "__name__", "a plug-in"),
                      " on %s" % result["instance"] if result.get("instance") else "",
                      result["error"])
    for instance in context:
        own = instance.data.get(KEY) or {}
        if (own.get("extract") is not None and own.get("integrate") is None
                and not own.get("reported")):
            own["reported"] = True
            extract = own["extract"]
            reporter = own.get("reporter") or _default_reporter
            futures = list(own["extracts"].values())
            # mypy cannot type a lambda with default arguments.
            _when_all_done(futures, lambda r=reporter, f=extract:  # type: ignore[misc]
                           _safe_report(r, f.instance_name, f))
    return state["futures"][before:]


def farm_futures(context: Any) -> List[Future]:
    """Every dccfutures future the publishes of ``context`` created, in submit order."""
    return list(_context_state(context)["futures"])
