"""Our bundles run by the reference OpenJD runtime (``openjd-sessions``), as a Deadline Cloud
worker agent runs them: one :class:`WorkerSession` per worker slot enters a step's
environment, runs tasks one at a time, and exits the environment.

Imports ``openjd`` (the ``openjd`` extra) when used, never at dccfutures' import.
"""
import logging
import os
import threading
from typing import Any, Dict, List, Optional, Union

from . import bundle as bundles


class Bundle:
    """A job bundle read, validated and instantiated by ``openjd-model`` as ``openjd run``
    and ``deadline bundle submit`` do: ``template`` (decoded), ``parameters`` (the job
    parameter values), ``job`` (its steps, in order)."""

    def __init__(self, folder: str):
        import yaml
        from pathlib import Path
        from openjd.model import create_job, decode_job_template, preprocess_job_parameters
        self.folder = os.path.abspath(folder)
        with open(os.path.join(self.folder, bundles.TEMPLATE)) as handle:
            self.template = decode_job_template(template=yaml.safe_load(handle),
                                                supported_extensions=[bundles.TASK_CHUNKING])
        values: Dict[str, str] = {}
        path = os.path.join(self.folder, bundles.PARAMETER_VALUES)
        if os.path.exists(path):
            with open(path) as handle:
                values = {entry["name"]: entry["value"]
                          for entry in (yaml.safe_load(handle) or {}).get("parameterValues", [])}
        self.parameters = preprocess_job_parameters(
            job_template=self.template, job_parameter_values=values,
            job_template_dir=Path(self.folder), current_working_dir=Path(self.folder),
            allow_job_template_dir_walk_up=True)
        self.job = create_job(job_template=self.template, job_parameter_values=self.parameters)
        self.output = self.parameters[bundles.OUTPUT].value

    def step(self, name: str = bundles.STEP) -> Any:
        for step in self.job.steps:
            if step.name == name:
                return step
        raise KeyError("the bundle %s has no step %r" % (self.folder, name))

    def items(self, step: Any) -> List[int]:
        """The work items of ``step``'s tasks, in order."""
        from ...runtime.openjd import item_range
        return [item for task in self.tasks(step) for item in item_range(str(task))]

    def tasks(self, step: Any) -> List[Union[int, str]]:
        """The ``Item`` of each of ``step``'s tasks, in order: a work id, or with
        TASK_CHUNKING a range of them (``"0-2"``) in chunks of the template's default size."""
        from openjd.model import ParameterValueType, StepParameterSpaceIterator
        values = [task[bundles.ITEM] for task in
                  StepParameterSpaceIterator(space=step.parameterSpace)]
        return [value.value if value.type == ParameterValueType.CHUNK_INT else int(value.value)
                for value in values]


class WorkerSession:
    """One OpenJD session on this machine: ``enter(step)``, ``run(item)`` for each task,
    ``exit()``; each returns the action's ``ActionStatus`` once it ended. ``cancel()`` (from
    another thread) cancels the running action. ``log`` holds the session's log lines.
    ``path_mapping_rules``: the session's rules, as the worker agent gives them from the
    queue's storage profiles (dicts of ``source_path_format``, ``source_path``,
    ``destination_path``)."""

    def __init__(self, bundle: Bundle, session_id: str, root: Optional[str] = None,
                 path_mapping_rules: Optional[List[Dict[str, str]]] = None):
        from openjd.sessions import PathMappingRule, Session
        self.bundle, self.session_id = bundle, session_id
        self.log: List[str] = []
        self._ended = threading.Event()
        self._status: Any = None
        self._step: Any = None
        self._environment: Optional[str] = None
        self._handler = _SessionLog(session_id, self.log)
        logging.getLogger("openjd.sessions").addHandler(self._handler)
        self.session = Session(session_id=session_id, job_parameter_values=bundle.parameters,
                               callback=self._callback,
                               session_root_directory=_path(root),
                               path_mapping_rules=[PathMappingRule.from_dict(rule) for rule
                                                   in path_mapping_rules or ()] or None)

    def __enter__(self) -> "WorkerSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def enter(self, step: Any) -> Any:
        self._step = step
        [environment] = step.stepEnvironments
        self._environment = self._wait(lambda: self.session.enter_environment(
            environment=environment, step_name=step.name))
        return self._status

    def run(self, task: Union[int, str]) -> Any:
        """Run the task of one item (an int), or with TASK_CHUNKING of a range of items
        (``"0-2"``, as :meth:`Bundle.tasks` gives them)."""
        from openjd.model import ParameterValue, ParameterValueType
        kind = ParameterValueType.INT if isinstance(task, int) else ParameterValueType.CHUNK_INT
        values = {bundles.ITEM: ParameterValue(type=kind, value=str(task))}
        self._wait(lambda: self.session.run_task(step_script=self._step.script,
                                                 task_parameter_values=values,
                                                 step_name=self._step.name))
        return self._status

    def exit(self) -> Any:
        identifier, self._environment = self._environment, None
        self._wait(lambda: self.session.exit_environment(identifier=identifier))
        return self._status

    def cancel(self) -> None:
        self.session.cancel_action()

    def close(self) -> None:
        try:
            if self._environment is not None:
                self.exit()
        finally:
            self.session.cleanup()
            logging.getLogger("openjd.sessions").removeHandler(self._handler)

    @property
    def working_directory(self) -> str:
        return str(self.session.working_directory)

    def _wait(self, begin: Any) -> Any:
        self._ended.clear()
        self._status = None
        result = begin()
        self._ended.wait()
        return result

    def _callback(self, session_id: str, status: Any) -> None:
        from openjd.sessions import ActionState
        if status.state != ActionState.RUNNING:
            self._status = status
            self._ended.set()


class _SessionLog(logging.Handler):
    def __init__(self, session_id: str, lines: List[str]):
        super().__init__(logging.INFO)
        self.session_id, self.lines = session_id, lines

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "session_id", None) == self.session_id:
            self.lines.append(record.getMessage())


def _path(root: Optional[str]) -> Any:
    from pathlib import Path
    return Path(root) if root else None
