"""One dccfutures job as an Open Job Description job bundle (job template spec 2023-09).

A bundle is a folder that ``openjd run``, ``deadline bundle submit`` or our own session
runner (:mod:`.session`) takes as it is::

    template.yaml              the job template
    parameter_values.yaml      the values of its job parameters for this submission
    payload/job.json           readable facts: name, prototype, package, env, items
    payload/function.pickle    the function every call of a ``map`` shares (when there is one)
    payload/work/<i>.pickle    the encoded calls of work item i

The template has three job parameters: ``Payload`` (PATH, a folder read by the tasks: a job
attachment input on Deadline Cloud), ``Output`` (PATH, a folder written by the tasks: synced
back as job attachment outputs) and ``DccfuturesPython`` (the Python that runs our task
runtime on the worker; on a Deadline Cloud queue usually set by a queue environment). Each
work item is one task of an INT task parameter ``Item``. The items that depend on items of
the same job go to later steps (``work-1``, ``work-2``, …) that depend on the step before:
OpenJD orders steps, never the tasks of one step. Every step has the same step environment,
``dccfutures``, whose onEnter boots the interpreter or DCC once per session and whose onExit
stops it; each task runs its item against that running process
(:mod:`dccfutures.runtime.openjd`).

A ``map`` chunk is one work item and so, by default, one task. With ``chunk_size`` the
template uses OpenJD's TASK_CHUNKING extension: the ``Item`` parameter is ``CHUNK[INT]`` and
each task runs a contiguous range of items (``"3-5"``), one after another.
"""
import json
import os
import sys
from typing import Any, Dict, List, Optional, Union

from ..base import JobSpec
from ...runtime import openjd as runtime
from ...runtime.bootstrap import SAFE_RUN

# The runtime's readers: how a farm reads what the tasks wrote in the Output folder.
read_result = runtime.read_result
read_progress = runtime.read_progress
read_log = runtime.read_log
read_message = runtime.read_message

SPECIFICATION = "jobtemplate-2023-09"
TASK_CHUNKING = "TASK_CHUNKING"  # the extension a chunked bundle needs of its queue
STEP = "work"
ENVIRONMENT = "dccfutures"
ITEM = "Item"
PAYLOAD, OUTPUT, PYTHON = "Payload", "Output", "DccfuturesPython"
TEMPLATE, PARAMETER_VALUES, PAYLOAD_FOLDER = "template.yaml", "parameter_values.yaml", "payload"
MAX_NAME = 128  # the spec's limit on a job's name


def write_bundle(job: JobSpec, folder: str, *, python: Optional[str] = None,
                 output: Optional[str] = None, job_id: Union[int, str, None] = None,
                 outputs: Optional[Dict[Union[int, str], str]] = None,
                 chunk_size: Optional[int] = None) -> str:
    """Write the job bundle of ``job`` into ``folder`` (created; it must be absent or
    empty) and return ``folder``.

    ``python``: the Python that runs dccfutures' task runtime on the worker (default: this
    one); the interpreter or DCC that runs the work is the job's own (its package).
    ``output``: the folder the tasks write results, progress and logs to (default:
    ``folder/output``). ``job_id``: what ``DCCFUTURES_JOB_ID`` holds while an item runs (and
    the job that dependency references without a job name); without it, the worker's
    ``DEADLINE_JOB_ID``, else ``openjd``. ``outputs``: the Output folder of each other job
    whose results this job's calls take as arguments (``{job_id: folder}``, as the workers
    see it): a task reads a result of another job there, and of this job in its own.
    ``chunk_size``: for a queue that supports the TASK_CHUNKING extension, each task runs a
    contiguous range of items (``chunk_size`` by default; the queue may size chunks to its
    target run time), one after another in the session's interpreter; without it, one task
    per item.

    Raises ``ValueError`` naming what is wrong: no work, a dependency on an item the job
    does not have, a folder that is not empty, a reservation or chunk size out of range.
    """
    if not job.work:
        raise ValueError("job %r has no work items: there is nothing to write a bundle for"
                         % job.name)
    layers = _layers(job)
    host_requirements(job.fields)  # a wrong value is refused before anything is written
    _check_chunk_size(chunk_size)
    folder = os.path.abspath(folder)
    if os.path.isdir(folder) and os.listdir(folder):
        raise ValueError("cannot write a job bundle into %s: the folder is not empty" % folder)
    payload_dir = os.path.join(folder, PAYLOAD_FOLDER)
    os.makedirs(os.path.join(payload_dir, runtime.WORK_FOLDER), mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)  # the payloads are the submitter's: pickles run code
    facts = _facts(job, job_id)
    facts["outputs"] = {str(other): str(path) for other, path in (outputs or {}).items()}
    _write(os.path.join(payload_dir, runtime.FACTS), json.dumps(
        facts, indent=1, sort_keys=True, default=str).encode("utf-8"))
    if job.function is not None:
        _write(os.path.join(payload_dir, runtime.FUNCTION), job.function)
    for index, work in enumerate(job.work):
        _write(runtime.calls_path(payload_dir, index), work.package)
    _write(os.path.join(folder, TEMPLATE), _yaml(template(job, layers, chunk_size)))
    values = [{"name": PAYLOAD, "value": payload_dir},
              {"name": OUTPUT, "value": os.path.abspath(output or
                                                        os.path.join(folder, "output"))},
              {"name": PYTHON, "value": python or sys.executable}]
    _write(os.path.join(folder, PARAMETER_VALUES), _yaml({"parameterValues": values}))
    return folder


def template(job: JobSpec, layers: Optional[List[List[int]]] = None,
             chunk_size: Optional[int] = None) -> Dict[str, Any]:
    """The job template of ``job`` as a dict (what ``template.yaml`` holds); ``chunk_size``:
    see :func:`write_bundle`."""
    layers = layers if layers is not None else _layers(job)
    requirements = host_requirements(job.fields)
    steps = []
    for depth, items in enumerate(layers):
        parameter: Dict[str, Any] = {"name": ITEM, "type": "INT",
                                     "range": range_expression(items)}
        if chunk_size:  # "a-b" of consecutive items; the runtime runs each in turn
            parameter.update(type="CHUNK[INT]", chunks={"defaultTaskCount": chunk_size,
                                                        "rangeConstraint": "CONTIGUOUS"})
        step: Dict[str, Any] = {
            "name": STEP if depth == 0 else "%s-%d" % (STEP, depth),
            "parameterSpace": {"taskParameterDefinitions": [parameter]},
            "stepEnvironments": [_environment()],
            "script": {"actions": {"onRun": _action("run", "--item",
                                                    "{{Task.Param.%s}}" % ITEM)}},
        }
        if requirements:
            step["hostRequirements"] = requirements
        if depth:
            step["dependencies"] = [{"dependsOn": steps[-1]["name"]}]
        steps.append(step)
    return {
        "specificationVersion": SPECIFICATION,
        **({"extensions": [TASK_CHUNKING]} if chunk_size else {}),
        "name": _job_name(job.name),
        "parameterDefinitions": [
            {"name": PAYLOAD, "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
             "description": "dccfutures' payloads of this job (read by its tasks)"},
            {"name": OUTPUT, "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT",
             "description": "where the tasks write results, progress and logs"},
            {"name": PYTHON, "type": "STRING", "minLength": 1,
             "description": "the Python that runs dccfutures' task runtime on the worker"},
        ],
        "steps": steps,
    }


def host_requirements(fields: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The step's ``hostRequirements`` from the job field ``reservations`` (Qube's
    ``host.processors=N`` or ``N+``, ``host.memory=MB``: what one item reserves, as on
    OpenCue): ``amount.worker.vcpu`` and ``amount.worker.memory`` (MiB), as minimums. Other
    reservations have no OpenJD amount and are left out; ``cpus`` (how many items run at
    once) is the farm's, not a host's. Raises ValueError naming a value out of range."""
    reserved = {}
    for part in str((fields or {}).get("reservations") or "").split(","):
        key, _, value = part.partition("=")
        reserved[key.strip()] = value.strip()
    amounts = []
    for key, name, unit in (("host.processors", "amount.worker.vcpu", "cores"),
                            ("host.memory", "amount.worker.memory", "MB")):
        value = reserved.get(key)
        if value is None:
            continue
        if value.endswith("+") and key == "host.processors":  # Qube's "at least N"
            value = value[:-1]
        if not value.isdigit() or int(value) < 1:
            raise ValueError("job field 'reservations': %s must be a whole number of %s, 1 or "
                             "more, got %r" % (key, unit, value))
        amounts.append({"name": name, "min": int(value)})
    return {"amounts": amounts} if amounts else None


def _check_chunk_size(chunk_size: Any) -> None:
    if chunk_size is not None and (type(chunk_size) is not int or chunk_size < 1):
        raise ValueError("chunk_size must be a whole number of items, 1 or more, got %r"
                         % (chunk_size,))


def _environment() -> Dict[str, Any]:
    return {"name": ENVIRONMENT,
            "description": "boots the job's interpreter or DCC once per session",
            "script": {"actions": {"onEnter": _action("start"), "onExit": _action("stop")}}}


def _action(command: str, *extra: str) -> Dict[str, Any]:
    args = ["-c", SAFE_RUN, runtime.MODULE, command, "--session", "{{Session.WorkingDirectory}}"]
    if command != "stop":
        args += ["--payload", "{{Param.%s}}" % PAYLOAD, "--output", "{{Param.%s}}" % OUTPUT]
    if command == "start":  # the worker's rules map the paths inside the payload (the scene)
        args += ["--path-mapping", "{{Session.PathMappingRulesFile}}"]
    # NOTIFY_THEN_TERMINATE: a cancelled start kills the host it started (its own session)
    return {"command": "{{Param.%s}}" % PYTHON, "args": args + list(extra),
            "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 5}}


def _layers(job: JobSpec) -> List[List[int]]:
    """Items by depth: an item runs in the step after the deepest item of its own job that
    it depends on (dependencies on other jobs are the farm's to hold)."""
    count = len(job.work)
    depth: Dict[int, int] = {}

    def depth_of(index: int, seen: tuple) -> int:
        if index in depth:
            return depth[index]
        found = 0
        for job_ref, work_id in job.work[index].depends_on:
            if job_ref is not None:
                continue
            if not 0 <= work_id < count:
                raise ValueError("work item %d of job %r depends on item %d, which the job does "
                                 "not have (it has %d)" % (index, job.name, work_id, count))
            if work_id in seen or work_id == index:
                raise ValueError("work item %d of job %r depends on itself through item %d"
                                 % (index, job.name, work_id))
            found = max(found, depth_of(work_id, seen + (index,)) + 1)
        depth[index] = found
        return found

    for index in range(count):
        depth_of(index, ())
    layers: List[List[int]] = [[] for _ in range(max(depth.values()) + 1)]
    for index in range(count):
        layers[depth[index]].append(index)
    return layers


def range_expression(items: List[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``: OpenJD's range expression."""
    parts, start, previous = [], None, None
    for value in sorted(items) + [None]:
        if start is not None and (value is None or value != previous + 1):
            parts.append(str(start) if start == previous else "%d-%d" % (start, previous))
            start = None
        if start is None:
            start = value
        previous = value
    return ",".join(parts)


def _job_name(name: str) -> str:
    """A job name the spec accepts: one line, at most 128 characters, no ``{{`` (a format
    string there would be expanded)."""
    text = " ".join(str(name or "dccfutures").split()).replace("{{", "{ {").replace("}}", "} }")
    return (text or "dccfutures")[:MAX_NAME]


def _facts(job: JobSpec, job_id: Union[int, str, None]) -> Dict[str, Any]:
    return {"name": job.name, "prototype": job.prototype, "job_id": job_id,
            "package": job.package, "env": job.env, "fields": job.fields,
            "function": job.function is not None,
            "items": [{"name": work.name, "ncalls": work.ncalls, "fields": work.fields,
                       "depends_on": [list(ref) for ref in work.depends_on]}
                      for work in job.work]}


def _yaml(data: Any) -> bytes:
    import yaml
    return yaml.safe_dump(data, sort_keys=False, width=1000, allow_unicode=True).encode("utf-8")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
