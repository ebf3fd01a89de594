"""A fake of PipelineFX Qube's ``qb`` Python module, for dccfutures' tests.

Put ``tests/fakes`` on ``sys.path``/``PYTHONPATH``, set ``QB_FAKE_ROOT`` to a private folder,
start the fake supervisor (``qb.supervisor.start_supervisor(root, [types_dir])`` or
``python -m qb.supervisor --root ROOT --types DIR``), then use ``qb`` as on a Qube farm. State
lives in ``$QB_FAKE_ROOT/qb.sqlite`` (SQLite, WAL, one ``BEGIN IMMEDIATE`` transaction per
change), so clients, the supervisor and every subjob share it across processes; subjob logs in
``$QB_FAKE_ROOT/logs/JOB/SUBID.out|err``. Each process and thread has its own connection, so
a client's poller thread and main thread can call ``qb`` at once. Speed: a 1,000-item job
completes in about a second; a subjob costs one Python start-up (~50 ms of CPU).

The fake implements the documented API and nothing more: an undocumented function, keyword,
job field or work field fails (AttributeError, TypeError or ValueError), so a caller's typo
fails here as it would (or would silently misbehave) on Qube.

Implemented
-----------
Objects: ``QBObject`` (a dict whose keys are also attributes), ``Job``, ``Work``, ``Subjob``,
``Host``, ``Callback``.
Client: ``submit``, ``submitcallback``, ``jobinfo``, ``kill``, ``killwork``, ``retry``, ``retrywork``, ``requeue``,
``requeuework``, ``block``, ``unblock``, ``blockwork``, ``unblockwork`` (and its deprecated
alias ``workunblock``, which the callbacks page uses), ``remove``, ``preempt``, ``stdout``,
``stderr``, ``log``, ``ping``, ``hostinfo``; frame helpers ``rangesplit``, ``rangejoin``,
``rangechunk``, ``rangepartition``, ``rangeorder``, ``genframes``, ``genchunks``,
``genpartitions`` (delegating to ``dccfutures.frames``).
Jobtype back-end: ``jobobj``, ``jobid``, ``subid``, ``requestwork``, ``reportwork``,
``reportjob``.
Job fields honoured: ``prototype``, ``name``, ``package``, ``env``, ``cpus``, ``agenda``,
``status`` (initial ``pending``/``blocked``), ``priority`` (dispatch order), ``label`` and
``pgrp``, ``dependency`` (and ``waitfor``), ``retrywork``, ``retrywork_delay``,
``retrysubjob``, ``callbacks`` (python callbacks run by the fake supervisor; see "Callbacks"). Others from the documented field list are accepted, stored and returned but
have no effect (``groups``, ``hosts``, ``requirements``, ``reservations``, ``cluster``, ...:
every fake host is eligible).

Left out (a later issue may need them): ``timelimit`` and ``agenda_timelimit`` (Qube turns
them into callbacks; they raise NotImplementedError: they must not be silently ignored);
callbacks in the ``qube`` and ``perl`` languages, trigger events of types ``subjob``, ``host``,
``time``, ``repeat``, ``global*`` and the event names ``assigned``, ``removed``, ``modified``,
``dummy`` (NotImplementedError); Universal Callbacks; ``subjob`` dependency links and the
``info-`` dependency form (ignored, it only draws WranglerView's graph); ``interrupt``,
``migrate``, ``suspend``, ``resume``, ``retire``, ``retirework``, ``modify``, ``top``,
``bottom``, ``hist``, ``stats``, ``archivejob``/``recoverjob``, ``binarySort``, ``version``,
``info`` and the admin/preference/worker functions (AttributeError).

Inside a fake DCC (``tests/fakes/bin/mayapy``, ``hython``, ``maya`` set
``DCCFUTURES_FAKE_DCC``) ``import qb`` raises ImportError, as Qube's compiled ``qb`` for the
worker's Python does in a DCC's Python ("undefined symbol ...").

Test aids (not Qube API)
------------------------
``calls`` (a ``collections.Counter``: calls per public function, in this process),
``jobinfo_bytes`` (sum of ``len(repr(result))`` of every ``jobinfo``: a stand-in for the bytes
Qube sends), ``reset_counters()``; ``fake_down()``/``fake_up()`` create/remove
``$QB_FAKE_ROOT/down``, which makes every client call raise
``RuntimeError("qb: cannot connect to supervisor")`` and ``ping()`` return False.

Sources
-------
[API]  PipelineFX/docs ``developers-guide/Python+API+Reference.md`` (Qube 7-8): prototypes,
       job/work/subjob field lists, return values ('jobid.subjobid' for kill/block/unblock/
       retry/requeue/preempt, 'jobid:workname' for the *work functions, [int] for remove),
       ``submit(*jobs, deferTableCreation=True)`` returns a list of Jobs, ``stdout``/
       ``stderr`` take subjob ids with ``pos``/``len`` and return ``data, jobid, subid,
       fullsize``, ``ping(supervisor=None, asDict=False)``, ``workunblock`` deprecated alias.
[REF]  reference/001 (the project's copy of the API reference): attribute access on
       QBObject, ``ping(host=None, port=None, timeout=10)`` returning a bool, ``log()``,
       ``rangeorder``'s modes.
[QB]   Qube's own ``qb/__init__.py`` (public copy, found through the code index): QBObject is
       a dict; ``Job(data={}, name='', prototype='', package={})`` fills name/prototype/
       package and converts agenda/subjobs/callbacks; ``submit`` flattens lists, copies the
       jobs (the caller's job is not changed), turns ``waitfor`` into
       ``link-done-job-<id>``; ``jobinfo`` without agenda/subjobs/callbacks leaves them out;
       tallies carry every state of ``JobTallyValidator.fields``; work fields include ``id``,
       ``count`` (attempts, read-only), ``retry``, ``retrydelay``; unassigned ``subid`` is -1;
       ``stdout(*subjobids, pos=0, len=-1)`` flattens lists; genframes names Work by frame.
[DEP]  PipelineFX/docs "Job Dependency Attribute Syntax": ``<jobid>``, ``complete-job-<id>``,
       ``link-<complete|done|failed|killed>-<job|work|subjob>-<id>``, ``info-...``;
       ``link-complete-work-<id>`` unblocks each item as the same-named item of <id>
       completes.
[STATE] PipelineFX "Job States" pages: jobs are submitted ``pending`` or ``blocked``; killed
       jobs stay killed until retried; failed = "no longer running, and at least one frame or
       instance has failed".
[JT]   qube-notes.md, qbfutures (vfxetc/qbfutures worker.py) and bchapman/Qube jobtypes: the
       back-end loop, the requestwork statuses (running / complete / pending = preempted /
       blocked / waiting), job.conf's ``[execute module]``, ``QBJOBID``/``QBSUBID``.
[DESIGN] DESIGN.md "Decisions": ``JOB:WORK`` uses the agenda index; ``workunblock`` too.
[CB]   PipelineFX/docs ``developers-guide/callbacks/callbacks.mdx`` (and reference/004, the
       project's copy): each callback must include triggers, language and code; the code
       runs "each time the trigger condition is met"; the python examples (``qb.jobid()``,
       ``qb.workunblock("JOB:FRAME")``, ``qb.unblock``) with ``qb`` already in scope.
[TRIG] PipelineFX/docs ``callbacks/triggers/triggers.mdx`` and ``trigger-event-syntax/*``:
       events ``name-type-context-extra``; job event names complete, done (complete, killed
       or failed), submit, killed, blocked, failed, running, waiting, assigned, removed,
       modified, dummy; types job, subjob, work (extra: "workid/name"), host, time, repeat,
       global; contexts ``self``, ``parent`` (the job's pid), a process-group label, a job
       id; ``failed-work-self-*`` = any frame; operators ``&&`` and ``||``, grouping with
       parentheses; "callback triggers are event-driven (transitions from one state to
       another), not state-driven": an event before the callback exists never fires it.
       Labels: unique within the pgrp; jobs of one ``submit`` share a pgrp.
[CBAPI] [API] ``qb.Callback``: properties id, pid (parent job id), triggers ("list of
       events"), code, language (perl, python, qube), user, count (times executed),
       maximum (default unlimited), ready (internal). [REF]: ``qb.submitcallback(callback)``
       takes a dict or Callback and returns a list of callback ids.
[ENV]  PipelineFX/docs ``callbacks/Callback+execution+environment.md``: callbacks execute
       on the supervisor host inside a supervisor process; their prints go to the ``*.cb``
       file in the job's log directory. ``callback-languages.mdx``: Perl, Python, Qube.

Decided here (the sources do not say)
-------------------------------------
* ``JOB:WORK``: WORK is the agenda index when it is an integer within the agenda ([DESIGN]),
  otherwise a work name ([API] says 'jobid:workname'), otherwise a range of indices such as
  ``25-29`` or ``1,3`` ([API] example ``retrywork('250:25-29')``). The functions return
  'jobid:workname' strings as [API] documents.
* ``submit`` always returns a list ([API], [QB]; [REF]'s "Job dictionary" is the summary of
  the same thing). The returned jobs carry their agenda.
* Unknown job/work fields, unknown ``jobinfo`` filters/fields and non-str work ids are errors
  (Qube would ignore or reject them; here a typo must fail). Work items need a ``name``.
* Plain data: package, resultpackage and every agenda package hold only str, int, float,
  list and dict with str keys, all the way down; anything else is a TypeError naming where
  it is: tuples, bytes, and ``None`` and booleans too (qube-notes: packages are for strings,
  numbers, lists and dicts; what Qube's conversion makes of None or a bool is undocumented,
  so a caller leaves an empty key out and sends a flag as a string). A package that is
  itself None (the field left empty) is an empty package.
  ``env`` must map str to str.
* ``stdout(jobid)`` with a plain job id returns one record per subjob of the job; 'J.S' one.
* ``ping`` returns False when ``down`` exists or no fake supervisor runs for this root;
  ``asDict=True`` gives a small dict (``{}`` when down).
* ``down`` affects the client API only; subjobs keep talking to the (fake) supervisor.
* requestwork: ``pending`` when the subjob was preempted; ``blocked`` when the job is blocked
  (``block`` or an unmet dependency) or only blocked items remain; ``running`` with the first
  pending item (agenda order) whose retry delay is over; ``waiting`` when items are running
  on other subjobs or wait for their retry delay; else ``complete``. The Work handed out
  carries ``id`` (its index), ``name``, ``package``, ``status``, ``count`` (attempt number,
  from 1), ``subid``, ``host``, ``resultpackage`` and the rest of the work fields.
* reportwork identifies the item by ``work['id']`` (else by name among this subjob's running
  items); accepts ``running`` (progress: only ``resultpackage`` is stored), ``complete``,
  ``failed`` and ``pending`` (hand the item back); a report for an item this subjob no
  longer runs (killed, requeued) is ignored. reportjob accepts complete, failed, killed,
  pending, blocked, waiting.
* Retries: a failed item goes back to pending while ``count`` <= its retries: the work's
  ``retry`` if >= 0, else the job's ``retrywork`` if >= 0, else 0 (Qube's default: no
  automatic retry). A *lost* item (its subjob exited or died without reporting it) uses the
  same fields but defaults to 1 retry, so one crash is retried and a second fails the item
  (DESIGN: "retried, then fails with WorkerLostError"). Retry waits ``retrydelay`` /
  ``retrywork_delay`` seconds (the item is pending, requestwork says ``waiting``).
* A subjob that exits without ``reportjob`` is a crash: its items are lost (above), a line is
  appended to its stderr log, and it is restarted (same subid, ``count`` + 1) while the job
  has work left, at most ``retrysubjob`` times (default 3); after that it is ``failed``
  (``Subjob['retry']`` shows that limit). A subjob that exits after ``reportjob`` while still
  holding items loses them too. ``reportjob('failed')`` is final for that subjob. Killing a
  running item SIGKILLs its subjob's process group; that subjob is restarted for the
  remaining work (not counted as a crash).
* Job status (recomputed in every transaction that changes the job): ``killed`` after
  ``kill`` (until ``retry``); ``blocked`` while blocked or waiting on a dependency; with an
  agenda: ``complete`` when every item is complete (subjobs still winding down show in
  ``cpustally`` a moment longer); when nothing is left to run, ``failed`` if some item
  failed, else ``killed`` if some item was killed (``killwork``); ``running`` while an item
  or a subjob runs,
  ``failed`` when items are pending but every subjob failed or was killed (none can run
  them), ``pending`` otherwise, ``blocked`` when only blocked items remain; without an
  agenda: from the subjobs' reports. A failed-then-restarted subjob does not fail the job
  (deviation from [STATE]'s "or instance": items decide).
* ``kill(job)``: running items become ``killed``; pending and blocked items keep their state
  (the job is killed; ``retry`` runs them). ``retry(job)`` resets failed/killed items to
  pending and failed/killed subjobs; ``requeue`` does the same and blocks the job.
  ``retrywork``/``requeuework`` act on complete, failed and killed items, and make failed
  subjobs startable again. ``remove`` kills the job's processes, deletes the job and its
  logs, and returns the ids it removed.
* ``unblock`` also clears unmet job dependencies (Qube implements them as callbacks that
  unblock the job, so a manual unblock releases it). ``link-...-work-<id>`` items start
  ``blocked``; ``unblockwork`` releases one early.
* ``jobobj()`` returns the job without its agenda. Outside a subjob (no ``QBJOBID`` /
  ``QBSUBID``) the back-end functions raise RuntimeError.
* ``cpus`` subjobs are created at submit (``cpustally`` counts them, ``kill`` returns their
  ids); the supervisor starts at most as many as there are items to hand out, in job
  ``priority`` then id order, within ``--hosts`` x ``--slots`` processes. Work fields not in
  the documentation (e.g. ``retrycount``) do not exist: attempts are ``count``. Default
  ``priority`` 9999; ``pgrp`` is the first job id of a ``submit`` call unless given; a
  ``label`` must be unique within its pgrp (ValueError). Timestamps are int Unix seconds.
* Attribute access: real qb (6.5+) QBObjects are plain dicts with deprecated accessor
  *methods* (``job.id()``), while [REF] shows attributes (``job.id``). The fake offers
  attributes as asked; code meant for real Qube should use ``job['id']``, which works on both.
* Callbacks ([CB], [TRIG], [CBAPI], [ENV]):

  - Fields: ``triggers``, ``language``, ``code`` are required; ``user`` (str, stored) and
    ``maximum`` (int >= 1; -1 or absent: unlimited) optional; ``id``, ``count``, ``ready``
    (and in a job's list, ``pid``) are ignored when submitted; anything else is a ValueError.
    ``language`` 'python' runs; 'qube'/'perl' raise NotImplementedError; others ValueError.
    The code must compile (ValueError at submit; Qube would fail only when it runs).
  - Trigger grammar (all checked at submit / submitcallback: ValueError naming the token,
    NotImplementedError for documented but unimplemented types and names)::

        triggers := expr | [expr, ...]          a list: any of them fires it (OR'd)
        expr     := and ( OR and )*             && binds tighter than || (docs silent)
        and      := atom ( AND atom )*
        atom     := event | '(' expr ')'
        AND      := '&&' | 'AND&&'              OR := '||' | 'OR||'  (blanks optional)
        event    := NAME '-job-' CONTEXT
                  | NAME '-work-' CONTEXT '-' WORK
        NAME     := complete | done | failed | killed | running | blocked
                  | submit | waiting                        (job events only)
        CONTEXT  := self | parent | <job id> | <label>      (no '-' in a label here)
        WORK     := <work name> | '*'                       (the rest: may hold '-')

    ``AND&&``/``OR||`` are how reference/004's copy of the page writes the operators (an
    artefact of its export, kept so the example runs verbatim); bare AND/OR are errors.
    A WORK matches the item's *name* only (the page's examples use ``work['name']``), never
    its index: unlike ``JOB:WORK`` ([DESIGN]). For genframes agendas (names from 1) the
    page's ``workunblock("%s:%s" % (jobId, frame))`` therefore unblocks item *index* frame.
  - Contexts resolve to job ids at submit: ``parent`` needs the job's ``pid``; a job id must
    exist (or be in the same submit); a label must name a job of the callback's pgrp
    already there or in the same submit (another pgrp's label, a typo, a job that joins the
    pgrp later: ValueError). Labels match case-insensitively (the page's example labels
    'ribGen' and triggers on 'ribgen'); two labels differing only in case: ValueError.
  - Events are transitions, recorded by SQLite triggers in the transaction that makes them
    (``events`` table) while any callback is pending: ``submit`` when a job is inserted,
    otherwise a job's or item's new status. done = complete, failed or killed. An item that
    fails and is retried automatically (``retry``/``retrywork``) goes back to pending without
    a ``failed`` event; ``failed`` fires when it ends failed. A callback reacts only to
    events after its creation (a job's callbacks see their own job's ``submit``).
  - Firing: each event term latches when its event occurs; when the expression is true the
    callback fires, ``count`` += 1 and every latch resets. So it fires again on later events
    (a retried job that ends again fires ``done-job-self`` again; ``A && B`` needs both
    again) until ``maximum`` firings ([CBAPI] default: unlimited). Use ``maximum: 1`` for
    once-only callbacks. ``jobinfo(callbacks=True)`` shows ``count`` and ``maximum``.
  - Running: the fake supervisor matches events each tick (~20 ms) and runs fired code in
    its own process, one callback at a time, by ``exec`` in a fresh namespace holding
    ``qb`` (this fake): ``qb.jobid()`` returns the owning job's id; subjob-only functions
    (``subid``, ``jobobj``, ``requestwork``...) raise RuntimeError; client functions work
    (also while ``fake_down()``). Environment: the supervisor's (``start_supervisor(env=)``;
    its PYTHONPATH starts with this fake's folder), not the submitter's. Prints and
    tracebacks go to ``$QB_FAKE_ROOT/logs/JOB/JOB.cb`` (a header line per run); an exception
    (SystemExit too) is also noted in the supervisor's log; the supervisor carries on.
    Slow code stalls the fake supervisor, as on Qube (docs: use subprocess.Popen).
  - ``submitcallback(callback)``: the callback's ``pid`` names its job ([CBAPI]; required);
    a list of callbacks is accepted; returns their ids. ``remove`` deletes a job's callbacks.
  - ``dependency`` is unchanged: evaluated against current states (state-driven), unlike
    callbacks; ``unblock`` still releases it.
* Supervisor down: real qb's ``submit`` raises ``ValueError(qb.error())`` when the supervisor
  rejects a job; what it raises when unreachable is not documented, so the fake raises
  ``RuntimeError("qb: cannot connect to supervisor")``. Callers should catch Exception.
"""
import collections as _collections
import datetime as _datetime
import functools as _functools
import json as _json
import os as _os
import re as _re
import sys as _sys
import threading as _threading
import time as _time

if _os.environ.get("DCCFUTURES_FAKE_DCC"):
    # The fake mayapy, hython and maya set it: Qube's qb is a compiled module built for the
    # worker's Python, and a DCC's Python is another one, where its import fails like this.
    raise ImportError("%s: undefined symbol: _PyUnicode_Ready (qb fake: Qube's qb is built for "
                      "the worker's Python, and this is %s's)"
                      % (_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_qb.so"),
                         _os.environ["DCCFUTURES_FAKE_DCC"]))

from . import _store  # noqa: E402

__all__ = [
    "QBObject", "Job", "Work", "Subjob", "Host", "Callback",
    "submit", "submitcallback", "jobinfo", "kill", "killwork", "retry", "retrywork",
    "requeue", "requeuework", "block", "unblock", "blockwork", "unblockwork", "workunblock",
    "remove", "preempt", "stdout", "stderr", "log", "ping", "hostinfo",
    "rangesplit", "rangejoin", "rangechunk", "rangepartition", "rangeorder",
    "genframes", "genchunks", "genpartitions",
    "jobobj", "jobid", "subid", "requestwork", "reportwork", "reportjob",
    "calls", "jobinfo_bytes", "reset_counters", "fake_down", "fake_up",
]

QB_API_BINARY = 1
QB_API_XML = 2
QB_TIME_EPOCH_OFFSET = 946702800

DOWN_MESSAGE = "qb: cannot connect to supervisor"

# -- test aids ---------------------------------------------------------------------------

calls = _collections.Counter()
jobinfo_bytes = 0
# Set by the fake supervisor while it runs a callback's code: the id of the job that owns the
# callback (what ``jobid()`` returns there).
_callback_job = None
_count_lock = _threading.Lock()


def reset_counters():
    """Test aid, not Qube API: zero ``qb.calls`` and ``qb.jobinfo_bytes``."""
    global jobinfo_bytes
    with _count_lock:
        calls.clear()
        jobinfo_bytes = 0


def fake_down():
    """Test aid, not Qube API: make the supervisor unreachable for clients of this root."""
    path = _store.root()
    _os.makedirs(path, exist_ok=True)
    with open(_os.path.join(path, "down"), "w"):
        pass


def fake_up():
    """Test aid, not Qube API: undo :func:`fake_down`."""
    try:
        _os.unlink(_os.path.join(_store.root(), "down"))
    except FileNotFoundError:
        pass


def _is_down():
    return _os.path.exists(_os.path.join(_store.root(), "down"))


def _api(remote):
    """Count calls; ``remote`` functions talk to the supervisor and fail while it is down."""
    def decorate(function):
        name = function.__name__

        @_functools.wraps(function)
        def wrapper(*args, **kwargs):
            with _count_lock:
                calls[name] += 1
            if remote and _callback_job is None and _is_down():
                raise RuntimeError(DOWN_MESSAGE)
            return function(*args, **kwargs)
        return wrapper
    return decorate


# -- objects -----------------------------------------------------------------------------

class QBObject(dict):
    """Base of Qube's objects: a dict whose keys are also readable and writable attributes."""

    def __init__(self, data=None):
        dict.__init__(self, data or {})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError("%s has no field %r" % (type(self).__name__, name)) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class Work(QBObject):
    """A work item (frame or task) of a job's agenda."""


class Subjob(QBObject):
    """A subjob (instance) of a job."""


class Host(QBObject):
    """A worker host."""


class Callback(QBObject):
    """A job callback: ``triggers``, ``language`` ('python'), ``code``; see the package
    docstring, "Callbacks"."""


class Job(QBObject):
    """A job: ``Job({...})`` or ``Job(name=..., prototype=..., package=...)``."""

    def __init__(self, data=None, name="", prototype="", package=None):
        QBObject.__init__(self, data)
        self.setdefault("name", "")
        self.setdefault("prototype", "")
        self.setdefault("package", {})
        if name != "":
            self["name"] = name
        if prototype != "":
            self["prototype"] = prototype
        if package is not None and package != {}:
            self["package"] = package
        for field, kind in (("agenda", Work), ("subjobs", Subjob), ("callbacks", Callback)):
            if isinstance(self.get(field), list):
                self[field] = [kind(item) for item in self[field]]


# -- fields ------------------------------------------------------------------------------

# The Job properties of [API]/[QB] plus JobValidator's job fields and ``env``.
_JOB_FIELDS = frozenset("""
account agenda p_agenda agendastatus callbacks cluster cpus cpustally data dependency domain
flags flagsstring globalorder groups hostorder hosts id kind label lastupdate localorder
mailaddress name notes omitgroups omithosts package path pathmap pgrp pid priority prototype
queue reason requirements reservations restrictions retrysubjob retrywork retrywork_delay
serverid status subjobs subjobstatus timecomplete timelimit timeout agenda_timelimit
agenda_timeout timestart timesubmit todo todotally user waitfor prod_show prod_shot prod_seq
prod_client prod_dept prod_custom1 prod_custom2 prod_custom3 prod_custom4 prod_custom5
preflights postflights agenda_preflights agenda_postflights env max_cpus cwd drivemap
auto_migrate_count p_agenda_cpus p_agenda_priority sourcehost
""".split())
# Set by the supervisor: ignored when submitted (e.g. a job read back with jobinfo).
_JOB_READONLY = frozenset("""
id agendastatus cpustally data flags globalorder lastupdate localorder reason serverid
subjobs subjobstatus timecomplete timestart timesubmit todo todotally sourcehost
""".split())
_JOB_STRINGS = ("name", "cluster", "groups", "hosts", "omithosts", "omitgroups",
                "requirements", "reservations", "restrictions", "label", "account", "notes",
                "kind", "flagsstring", "domain", "mailaddress", "hostorder", "queue", "path",
                "prod_show", "prod_shot", "prod_seq", "prod_client", "prod_dept",
                "prod_custom1", "prod_custom2", "prod_custom3", "prod_custom4", "prod_custom5",
                "preflights", "postflights", "agenda_preflights", "agenda_postflights", "cwd")
_JOB_INTS = ("priority", "retrysubjob", "retrywork", "retrywork_delay", "max_cpus", "timeout",
             "agenda_timeout", "auto_migrate_count", "p_agenda_cpus", "p_agenda_priority",
             "pid")
_WORK_FIELDS = frozenset("""
pid subid host name status address data package result count retry retrydelay resultpackage
lastupdate timesubmit timestart timecomplete id timecumulative
""".split())
_WORK_READONLY = frozenset("""
pid subid host address data result count lastupdate timesubmit timestart timecomplete id
timecumulative
""".split())
_JOB_DEFAULTS = (("name", ""), ("cpus", 1), ("priority", _store.DEFAULT_PRIORITY),
                 ("cluster", "/"), ("groups", ""), ("hosts", ""), ("omithosts", ""),
                 ("requirements", ""), ("reservations", "host.processors=1"),
                 ("restrictions", ""), ("dependency", ""), ("label", ""), ("env", {}),
                 ("package", {}))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_str_map(value, what):
    if not isinstance(value, dict):
        raise TypeError("qb: %s must be a dict of str to str, not %s"
                        % (what, type(value).__name__))
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError("qb: %s must map str to str; %r: %r is not" % (what, key, item))


def _unknown(fields, known, what):
    unknown = sorted(str(field) for field in fields if field not in known)
    if unknown:
        raise ValueError("qb: unknown %s field(s) %s (a typo? see the qb.%s properties in "
                         "Qube's Python API reference)" % (what, ", ".join(unknown),
                                                           what.capitalize()))


_DEP_TOKEN = _re.compile(r"^(?:(\d+)|(complete|done|failed|killed)-job-(\d+)|"
                         r"link-(complete|done|failed|killed)-(job|work|subjob)-(\d+))$")


def _parse_dependency(text):
    """[DEP]: job-level links and work-level links; the ``info-`` form is ignored."""
    if not isinstance(text, str):
        raise ValueError("qb: dependency must be a str such as 'link-complete-job-12'")
    info = text.find("info-")
    if info >= 0:
        text = text[:info]
    jobs, works = [], []
    for token in (part.strip() for part in text.split(",")):
        if not token:
            continue
        match = _DEP_TOKEN.match(token)
        if not match:
            raise ValueError("qb: cannot read dependency %r (forms: <jobid>, complete-job-<id>, "
                             "link-<complete|done|failed|killed>-<job|work>-<id>)" % token)
        if match.group(1):
            jobs.append([int(match.group(1)), "complete"])
        elif match.group(2):
            jobs.append([int(match.group(3)), match.group(2)])
        elif match.group(5) == "job":
            jobs.append([int(match.group(6)), match.group(4)])
        elif match.group(5) == "work":
            works.append([int(match.group(6)), match.group(4)])
        else:
            raise NotImplementedError("qb (fake): subjob dependency links (%r) are not "
                                      "implemented" % token)
    return jobs, works


# -- callbacks ---------------------------------------------------------------------------

# [API] qb.Callback properties. Read-only ones are ignored when submitted (a job read back
# with jobinfo(callbacks=True) can be submitted again); in a job's list ``pid`` is the job.
_CALLBACK_FIELDS = frozenset("id pid triggers code language user count maximum ready".split())
_CALLBACK_READONLY = frozenset("id count ready".split())
# [TRIG] event names (job events); the last four are documented but not implemented here.
_JOB_EVENTS = ("complete", "done", "submit", "killed", "blocked", "failed", "running",
               "waiting")
_WORK_EVENTS = ("complete", "done", "failed", "killed", "running", "blocked")
_EVENTS_LEFT_OUT = ("assigned", "removed", "modified", "dummy")
# [TRIG] event types other than job and work: documented, not implemented.
_TYPES_LEFT_OUT = ("subjob", "host", "time", "repeat", "global", "globaltime",
                   "globalrepeat")
_TRIGGER_TOKEN = _re.compile(r"\s*(?:(AND&&|&&)|(OR\|\||\|\|)|(\()|(\))|([^\s()&|]+)|(\S))")


def _parse_event(token):
    """One event ``name-type-context[-extra]`` ([TRIG]) as an unresolved term."""
    parts = token.split("-", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError("qb: cannot read trigger event %r (name-type-context[-extra], e.g. "
                         "complete-job-self or complete-work-render-5)" % token)
    name, kind, rest = parts
    if kind in _TYPES_LEFT_OUT:
        raise NotImplementedError("qb (fake): %r: %s events are not implemented by the fake "
                                  "(job and work only)" % (token, kind))
    if kind not in ("job", "work"):
        raise ValueError("qb: trigger event %r: unknown event type %r (job, work, subjob, "
                         "host, time, repeat, global)" % (token, kind))
    if name in _EVENTS_LEFT_OUT:
        raise NotImplementedError("qb (fake): %r: the %r event is not implemented by the fake"
                                  % (token, name))
    names = _JOB_EVENTS if kind == "job" else _WORK_EVENTS
    if name not in names:
        raise ValueError("qb: trigger event %r: unknown %s event name %r (%s)"
                         % (token, kind, name, ", ".join(names)))
    if kind == "job":
        if "-" in rest:
            raise ValueError("qb: trigger event %r: a job event is name-job-context (self, "
                             "parent, a job id or a label without '-'), no extra field"
                             % token)
        return {"name": name, "type": "job", "context": rest, "work": None}
    context, _, work = rest.partition("-")
    if not context or not work:
        raise ValueError("qb: trigger event %r: a work event is name-work-context-workname "
                         "(or '*' for any item)" % token)
    return {"name": name, "type": "work", "context": context, "work": work}


def _parse_expression(text, terms):
    """[TRIG] operators: ``&&`` and ``||`` (also written ``AND&&`` / ``OR||``, as in
    reference/004's copy of the callbacks page), parentheses; && binds tighter than ||."""
    tokens = []
    for match in _TRIGGER_TOKEN.finditer(text):
        if match.group(6):
            raise ValueError("qb: cannot read trigger %r at %r (operators: && or AND&&, || "
                             "or OR||, parentheses)" % (text, match.group(6)))
        if match.group(1):
            tokens.append(("and", match.group(1)))
        elif match.group(2):
            tokens.append(("or", match.group(2)))
        elif match.group(3):
            tokens.append(("(", "("))
        elif match.group(4):
            tokens.append((")", ")"))
        elif match.group(5):
            tokens.append(("event", match.group(5)))
    position = [0]

    def peek():
        return tokens[position[0]] if position[0] < len(tokens) else (None, None)

    def take():
        token = peek()
        position[0] += 1
        return token

    def parse_or():
        children = [parse_and()]
        while peek()[0] == "or":
            take()
            children.append(parse_and())
        return children[0] if len(children) == 1 else ["or", children]

    def parse_and():
        children = [parse_atom()]
        while peek()[0] == "and":
            take()
            children.append(parse_atom())
        return children[0] if len(children) == 1 else ["and", children]

    def parse_atom():
        kind, value = take()
        if kind == "(":
            node = parse_or()
            if take()[0] != ")":
                raise ValueError("qb: trigger %r: missing ')'" % text)
            return node
        if kind == "event":
            terms.append(_parse_event(value))
            return ["ev", len(terms) - 1]
        raise ValueError("qb: trigger %r: expected an event or '(' %s"
                         % (text, "at %r" % value if value else "at the end"))

    node = parse_or()
    if position[0] < len(tokens):
        raise ValueError("qb: trigger %r: unexpected %r" % (text, tokens[position[0]][1]))
    return node


def _parse_triggers(triggers):
    """``triggers``: one expression (str, as on the callbacks page) or a list of them ([API]:
    "list of events that trigger the Callback"; any of them triggers it: they are OR'd)."""
    texts = [triggers] if isinstance(triggers, str) else triggers
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(text, str) and text.strip() for text in texts):
        raise ValueError("qb: a callback's triggers must be a str such as 'done-job-self' (or a "
                         "non-empty list of them), got %r" % (triggers,))
    terms = []
    nodes = [_parse_expression(text, terms) for text in texts]
    return (nodes[0] if len(nodes) == 1 else ["or", nodes]), terms


def _normalize_callback(callback, index=0, in_job=False):
    """Check a callback (a Callback or dict) the way the supervisor would take it."""
    where = "callback %d" % index if in_job else "the callback"
    if not isinstance(callback, dict):
        raise ValueError("qb: %s is a %s, not a Callback or dict"
                         % (where, type(callback).__name__))
    unknown = sorted(str(key) for key in callback if key not in _CALLBACK_FIELDS)
    if unknown:
        raise ValueError("qb: unknown callback field(s) %s (a typo? see the qb.Callback "
                         "properties in Qube's Python API reference)" % ", ".join(unknown))
    for key in ("triggers", "language", "code"):
        if callback.get(key) in (None, "", []):
            raise ValueError("qb: %s needs %r (each callback must include triggers, language "
                             "and code)" % (where, key))
    language = callback["language"]
    if language in ("qube", "perl"):
        raise NotImplementedError("qb (fake): %r callbacks are not implemented by the fake "
                                  "(python only)" % language)
    if language != "python":
        raise ValueError("qb: %s: unknown callback language %r (perl, python, qube)"
                         % (where, language))
    code = callback["code"]
    if not isinstance(code, str):
        raise ValueError("qb: %s: code must be a str of Python" % where)
    try:
        compile(code, "<callback>", "exec")
    except SyntaxError as error:
        raise ValueError("qb: %s: its Python code does not compile: %s" % (where, error)) \
            from None
    expr, terms = _parse_triggers(callback["triggers"])
    user = callback.get("user", "")
    if user is None:
        user = ""
    if not isinstance(user, str):
        raise ValueError("qb: %s: user must be a str" % where)
    maximum = callback.get("maximum")
    if maximum is None or maximum == -1:
        maximum = -1
    elif not _is_int(maximum) or maximum < 1:
        raise ValueError("qb: %s: maximum must be an int >= 1 (or -1/None: unlimited), got %r"
                         % (where, maximum))
    pid = callback.get("pid")
    if not in_job and not (_is_int(pid) and pid > 0):
        raise ValueError("qb.submitcallback: the callback's 'pid' must be the id of its job "
                         "(int), got %r" % (pid,))
    triggers = callback["triggers"]
    return {"triggers": list(triggers) if isinstance(triggers, list) else triggers,
            "code": code, "language": language, "user": user, "maximum": maximum,
            "expr": expr, "terms": terms, "pid": pid}


def _resolve_context(conn, context, jobid, pgrp, parent, batch):
    """The job id an event context names ([TRIG] "Event contexts"): self, parent (the job's
    ``pid``), a job id, or a label of a job in the same process group (``batch``: the
    (id, pgrp, label) of the jobs of this submit, not yet in the database)."""
    if context == "self":
        return jobid
    if context == "parent":
        if not (_is_int(parent) and parent > 0):
            raise ValueError("qb: trigger context 'parent': job %d has no parent (pid)" % jobid)
        return parent
    if context.isdigit():
        other = int(context)
        if other in [row[0] for row in batch] or conn.execute(
                "SELECT 1 FROM jobs WHERE id = ?", (other,)).fetchone():
            return other
        raise ValueError("qb: trigger context %r: there is no job %d" % (context, other))
    found = {row[0] for row in batch if row[1] == pgrp and row[2] and
             row[2].lower() == context.lower()}
    found.update(row[0] for row in conn.execute(
        "SELECT id FROM jobs WHERE pgrp = ? AND label != '' AND lower(label) = lower(?)",
        (pgrp, context)))
    if not found:
        raise ValueError("qb: trigger context %r: no job is labelled %r in process group %d "
                         "(labels name jobs of the same pgrp only)" % (context, context, pgrp))
    if len(found) > 1:
        raise ValueError("qb: trigger context %r is ambiguous in process group %d (jobs %s)"
                         % (context, pgrp, ", ".join(str(i) for i in sorted(found))))
    return found.pop()


def _insert_callback(conn, spec, jobid, pgrp, parent, batch, since, stamp):
    terms = []
    for term in spec["terms"]:
        term = dict(term)
        term["job"] = _resolve_context(conn, term.pop("context"), jobid, pgrp, parent, batch)
        terms.append(term)
    cur = conn.execute(
        "INSERT INTO callbacks (jobid, triggers, code, language, user, maximum, terms, expr, "
        "latched, since, timesubmit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (jobid, _store.dumps(spec["triggers"]), spec["code"], spec["language"], spec["user"],
         spec["maximum"], _store.dumps(terms), _store.dumps(spec["expr"]),
         _store.dumps([False] * len(terms)), since, stamp))
    return cur.lastrowid


def _callback_object(row):
    return Callback(dict(id=row["id"], pid=row["jobid"], triggers=_json.loads(row["triggers"]),
                         code=row["code"], language=row["language"], user=row["user"],
                         count=row["count"], maximum=row["maximum"]))


def _normalize_work(work, index):
    if not isinstance(work, dict):
        raise ValueError("qb: agenda item %d is a %s, not a Work or dict"
                         % (index, type(work).__name__))
    _unknown(work, _WORK_FIELDS, "work")
    name = work.get("name")
    if isinstance(name, bool) or not isinstance(name, (str, int)) or name == "":
        raise ValueError("qb: agenda item %d needs a name (str), got %r" % (index, name))
    status = work.get("status", "pending")
    if status not in ("pending", "blocked"):
        raise ValueError("qb: agenda item %d: a work item is submitted 'pending' or "
                         "'blocked', not %r" % (index, status))
    package = work.get("package", {})
    if package is None:
        package = {}
    if not isinstance(package, dict):
        raise TypeError("qb: the package of agenda item %d must be a dict" % index)
    _store.check_plain(package, "the package of agenda item %d" % index)
    resultpackage = work.get("resultpackage") or {}
    if not isinstance(resultpackage, dict):
        raise TypeError("qb: the resultpackage of agenda item %d must be a dict" % index)
    _store.check_plain(resultpackage, "the resultpackage of agenda item %d" % index)
    out = {"name": str(name), "status": status, "package": _store.plain_copy(package),
           "resultpackage": _store.plain_copy(resultpackage)}
    for field in ("retry", "retrydelay"):
        value = work.get(field, -1)
        if not _is_int(value):
            raise ValueError("qb: agenda item %d: %s must be an int" % (index, field))
        out[field] = value
    return out


def _normalize_job(job):
    _unknown(job, _JOB_FIELDS, "job")
    prototype = job.get("prototype")
    if not isinstance(prototype, str) or not prototype:
        raise ValueError("qb: a job needs a 'prototype' (the jobtype's name)")
    callbacks = job.get("callbacks")
    if callbacks is None:
        callbacks = []
    if not isinstance(callbacks, list):
        raise ValueError("qb: callbacks must be a list of Callback or dict")
    callbacks = [_normalize_callback(callback, index, in_job=True)
                 for index, callback in enumerate(callbacks)]
    for field in ("timelimit", "agenda_timelimit"):
        if job.get(field) not in (None, -1, 0):
            raise NotImplementedError("qb (fake): %s needs callbacks, which the fake does not "
                                      "implement yet" % field)
    fields = {}
    for key, value in job.items():
        if key in _JOB_READONLY or key in ("agenda", "status", "callbacks", "waitfor"):
            continue
        fields[key] = value
    for key, default in _JOB_DEFAULTS:
        fields.setdefault(key, _store.plain_copy(default))
    if fields["package"] is None:
        fields["package"] = {}
    if not isinstance(fields["package"], dict):
        raise TypeError("qb: the job package must be a dict, not %s"
                        % type(fields["package"]).__name__)
    _store.check_plain(fields["package"], "the job package")
    fields["package"] = _store.plain_copy(fields["package"])
    _check_str_map(fields["env"], "the job env")
    fields["env"] = dict(fields["env"])
    if not _is_int(fields["cpus"]) or fields["cpus"] < 1:
        raise ValueError("qb: cpus must be an int >= 1, got %r" % (fields["cpus"],))
    for key in _JOB_STRINGS:
        if key in fields and not isinstance(fields[key], str):
            raise ValueError("qb: job field %r must be a str, got %r" % (key, fields[key]))
    for key in _JOB_INTS:
        if key in fields and not _is_int(fields[key]):
            raise ValueError("qb: job field %r must be an int, got %r" % (key, fields[key]))
    if "pgrp" in fields and fields["pgrp"] is not None and not _is_int(fields["pgrp"]):
        raise ValueError("qb: pgrp must be an int")
    waitfor = job.get("waitfor")
    if waitfor not in (None, ""):  # [QB]: waitfor becomes a dependency
        link = "link-done-job-%s" % waitfor
        fields["dependency"] = fields["dependency"] + "," + link if fields["dependency"] else link
    deps, worklinks = _parse_dependency(fields["dependency"])
    status = job.get("status", "pending")
    if status not in ("pending", "blocked"):
        raise ValueError("qb: a job is submitted 'pending' or 'blocked', not %r" % (status,))
    agenda = job.get("agenda") or []
    if not isinstance(agenda, list):
        raise ValueError("qb: agenda must be a list of Work")
    works = [_normalize_work(work, index) for index, work in enumerate(agenda)]
    if worklinks:
        for work in works:
            work["status"] = "blocked"
            work["linked"] = 1
    return {"fields": fields, "status": status, "agenda": works, "deps": deps,
            "worklinks": worklinks, "callbacks": callbacks}


# -- reading jobs back -------------------------------------------------------------------

def _job_object(row, agenda=None, subjobs=None, callbacks=None):
    job = Job(_json.loads(row["fields"]))
    job.update(id=row["id"], status=row["status"], pgrp=row["pgrp"], pid=row["pid"] or 0,
               todo=row["todo"], todotally=_json.loads(row["todotally"]),
               cpustally=_json.loads(row["cpustally"]), user=row["user"],
               timesubmit=row["timesubmit"], timestart=row["timestart"],
               timecomplete=row["timecomplete"], lastupdate=row["lastupdate"],
               reason=row["reason"])
    if agenda is not None:
        job["agenda"] = agenda
    if subjobs is not None:
        job["subjobs"] = subjobs
    if callbacks is not None:
        job["callbacks"] = callbacks
    return job


def _work_object(row):
    return Work(dict(id=row["idx"], pid=row["jobid"], name=row["name"], status=row["status"],
                     package=_json.loads(row["package"]),
                     resultpackage=_json.loads(row["resultpackage"]), subid=row["subid"],
                     host=row["host"], address=row["address"], count=row["count"],
                     retry=row["retry"], retrydelay=max(0, row["retrydelay"]),
                     timesubmit=row["timesubmit"], timestart=row["timestart"],
                     timecomplete=row["timecomplete"], lastupdate=row["lastupdate"]))


def _subjob_object(row):
    return Subjob(dict(id=row["id"], pid=row["jobid"], status=row["status"],
                       host=row["host"], count=row["count"],
                       timesubmit=row["timesubmit"], timestart=row["timestart"],
                       timecomplete=row["timecomplete"], lastupdate=row["lastupdate"]))


def _chunks(values, size=500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _grouped(conn, table, order, ids, make):
    out = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute("SELECT * FROM %s WHERE jobid IN (%s) ORDER BY jobid, %s"
                                % (table, marks, order), chunk):
            out.setdefault(row["jobid"], []).append(make(row))
    return out


def _load(conn, rows, agenda=False, subjobs=False, callbacks=False):
    ids = [row["id"] for row in rows]
    works = _grouped(conn, "work", "idx", ids, _work_object) if agenda else {}
    subs = _grouped(conn, "subjobs", "id", ids, _subjob_object) if subjobs else {}
    cbs = {}
    if callbacks:
        for chunk in _chunks(ids):
            for row in conn.execute("SELECT * FROM callbacks WHERE jobid IN (%s) ORDER BY id"
                                    % ",".join("?" * len(chunk)), chunk):
                cbs.setdefault(row["jobid"], []).append(_callback_object(row))
    for jobid, items in subs.items():
        limit = _store.subjob_restarts(conn, jobid)
        for item in items:
            item["retry"] = limit
    return [_job_object(row, works.get(row["id"], []) if agenda else None,
                        subs.get(row["id"], []) if subjobs else None,
                        cbs.get(row["id"], []) if callbacks else None)
            for row in rows]


# -- client API: submit and query --------------------------------------------------------

@_api(remote=True)
def submit(*jobs, deferTableCreation=True):
    """Submit jobs (Job or dict; lists are flattened). Returns the submitted jobs, with ids."""
    joblist = []
    for job in jobs:
        joblist.extend(job if isinstance(job, list) else [job])
    for job in joblist:
        if not isinstance(job, dict):
            raise ValueError("Invalid type: arguments need to be of type Job or dict")
    specs = [_normalize_job(Job(dict(job))) for job in joblist]
    if not specs:
        return []
    conn = _store.connect()
    stamp = _store.now()
    user = _user()
    ids = []
    with _store.write(conn):
        first = _store.meta_get(conn, "next_job_id", 1)
        batch = []
        for offset, spec in enumerate(specs):
            pgrp = spec["fields"].get("pgrp")
            batch.append((first + offset, first if pgrp is None else pgrp,
                          spec["fields"]["label"]))
        since = _store.event_cursor(conn)
        for (jobid, pgrp, _), spec in zip(batch, specs):
            for callback in spec["callbacks"]:
                _insert_callback(conn, callback, jobid, pgrp, spec["fields"].get("pid", 0),
                                 batch, since, stamp)
        for offset, spec in enumerate(specs):
            jobid = first + offset
            fields = spec["fields"]
            pgrp = fields.pop("pgrp", None)
            pgrp = first if pgrp is None else pgrp
            label = fields["label"]
            if label:
                clash = conn.execute("SELECT id FROM jobs WHERE pgrp = ? AND label = ?",
                                     (pgrp, label)).fetchone()
                if clash:
                    raise ValueError("qb: label %r is already used in process group %d (by "
                                     "job %d)" % (label, pgrp, clash[0]))
            fields.setdefault("user", user)
            conn.execute(
                "INSERT INTO jobs (id, status, fields, name, prototype, user, cluster, groups_, "
                "pgrp, pid, label, priority, cpus, todo, held, deps, worklinks, timesubmit, "
                "lastupdate) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                (jobid, _store.dumps(fields), fields["name"], fields["prototype"],
                 fields["user"], fields["cluster"], fields["groups"], pgrp,
                 fields.get("pid", 0), label, fields["priority"], fields["cpus"],
                 len(spec["agenda"]), int(spec["status"] == "blocked"),
                 _store.dumps(spec["deps"]), _store.dumps(spec["worklinks"]), stamp, stamp))
            conn.executemany(
                "INSERT INTO work (jobid, idx, name, status, package, resultpackage, retry, "
                "retrydelay, linked, timesubmit, lastupdate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                [(jobid, index, work["name"], work["status"], _store.dumps(work["package"]),
                  _store.dumps(work["resultpackage"]), work["retry"], work["retrydelay"],
                  work.get("linked", 0), stamp, stamp)
                 for index, work in enumerate(spec["agenda"])])
            conn.executemany(
                "INSERT INTO subjobs (jobid, id, timesubmit, lastupdate) VALUES (?, ?, ?, ?)",
                [(jobid, subid, stamp, stamp) for subid in range(fields["cpus"])])
            _store.refresh(conn, jobid)
            ids.append(jobid)
        _store.meta_set(conn, "next_job_id", first + len(specs))
        rows = conn.execute("SELECT * FROM jobs WHERE id IN (%s) ORDER BY id"
                            % ",".join("?" * len(ids)), ids).fetchall()
        return _load(conn, rows, agenda=True)


@_api(remote=True)
def submitcallback(callback):
    """Add a callback (Callback or dict; a list of them is flattened) to an existing job, the
    callback's ``pid``. Returns the new callback ids. It reacts to events from now on."""
    callbacks = callback if isinstance(callback, list) else [callback]
    if not callbacks:
        raise ValueError("qb.submitcallback: give a Callback or dict")
    specs = [_normalize_callback(item) for item in callbacks]
    conn = _store.connect()
    stamp = _store.now()
    ids = []
    with _store.write(conn):
        since = _store.event_cursor(conn)
        for spec in specs:
            row = conn.execute("SELECT pgrp, pid FROM jobs WHERE id = ?",
                               (spec["pid"],)).fetchone()
            if row is None:
                raise ValueError("qb.submitcallback: there is no job %d" % spec["pid"])
            ids.append(_insert_callback(conn, spec, spec["pid"], row["pgrp"], row["pid"], [],
                                        since, stamp))
    return ids


def _user():
    try:
        import getpass
        return getpass.getuser()
    except Exception:
        return "unknown"


_FILTER_COLUMNS = {"id": "id", "name": "name", "user": "user", "status": "status",
                   "priority": "priority", "pgrp": "pgrp", "pid": "pid", "todo": "todo",
                   "cluster": "cluster", "prototype": "prototype", "groups": "groups_",
                   "cpus": "cpus"}
_ORDER_COLUMNS = dict(_FILTER_COLUMNS, timesubmit="timesubmit", lastupdate="lastupdate",
                      timestart="timestart", timecomplete="timecomplete")


def _epoch(value, what):
    if value is None:
        return None
    if isinstance(value, (_datetime.datetime, _datetime.date)):
        return int(_time.mktime(value.timetuple()))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    raise TypeError("qb.jobinfo: %s must be an int, a datetime or a date" % what)


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


@_api(remote=True)
def jobinfo(fields=[], filters={}, id=None, status=None, agenda=False, subjobs=False,
            callbacks=False, updatedAfter=None, updatedBefore=None, submittedAfter=None,
            submittedBefore=None, minid=None, maxid=None, limit=None, orderby=None):
    """Jobs matching the filters (all jobs without any), without agenda, subjobs or callbacks
    unless asked for (``agenda=True`` or ``fields=['agenda']``)."""
    global jobinfo_bytes
    if not isinstance(fields, list):
        raise TypeError("qb.jobinfo: fields must be a list, e.g. ['agenda']")
    for field in fields:
        if field not in ("agenda", "subjobs", "callbacks"):
            raise ValueError("qb.jobinfo: unknown field %r (agenda, subjobs, callbacks)"
                             % (field,))
    if not isinstance(filters, dict):
        raise TypeError("qb.jobinfo: filters must be a dict")
    filters = dict(filters)
    if id is not None:
        filters["id"] = id
    if status is not None:
        filters["status"] = status
    where, args = [], []
    for key, value in filters.items():
        column = _FILTER_COLUMNS.get(key)
        if column is None:
            raise ValueError("qb.jobinfo: unknown filter %r (%s)"
                             % (key, ", ".join(sorted(_FILTER_COLUMNS))))
        values = _as_list(value)
        if key in ("id", "priority", "pgrp", "pid", "todo", "cpus"):
            try:
                values = [int(item) for item in values]
            except (TypeError, ValueError):
                raise ValueError("qb.jobinfo: filter %r takes ints, got %r"
                                 % (key, value)) from None
        if not values:
            where.append("0")
            continue
        if len(values) > 500:
            where.append("%s IN (SELECT value FROM json_each(?))" % column)
            args.append(_json.dumps(values))
        else:
            where.append("%s IN (%s)" % (column, ",".join("?" * len(values))))
            args.extend(values)
    for value, sign, column, what in (
            (updatedAfter, ">", "lastupdate", "updatedAfter"),
            (updatedBefore, "<", "lastupdate", "updatedBefore"),
            (submittedAfter, ">", "timesubmit", "submittedAfter"),
            (submittedBefore, "<", "timesubmit", "submittedBefore")):
        stamp = _epoch(value, what)
        if stamp is not None and stamp > 0:
            where.append("%s %s ?" % (column, sign))
            args.append(stamp)
    if minid is not None:
        where.append("id >= ?")
        args.append(int(minid))
    if maxid is not None:
        where.append("id <= ?")
        args.append(int(maxid))
    order = "id"
    if orderby is not None:
        parts = str(orderby).split()
        if not parts or len(parts) > 2 or parts[0] not in _ORDER_COLUMNS or (
                len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise ValueError("qb.jobinfo: cannot order by %r (e.g. 'id' or 'id DESC')"
                             % (orderby,))
        order = _ORDER_COLUMNS[parts[0]] + (" " + parts[1].upper() if len(parts) == 2 else "")
    sql = "SELECT * FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + order
    if limit is not None:
        sql += " LIMIT %d" % int(limit)
    conn = _store.connect()
    with _store.read(conn):
        rows = conn.execute(sql, args).fetchall()
        result = _load(conn, rows, agenda=agenda or "agenda" in fields,
                       subjobs=subjobs or "subjobs" in fields,
                       callbacks=callbacks or "callbacks" in fields)
    size = len(repr(result))
    with _count_lock:
        jobinfo_bytes += size
    return result


# -- client API: actions -----------------------------------------------------------------

def _job_targets(ids, allow_subjob, name):
    out = []
    for value in ids:
        if _is_int(value):
            out.append((value, None))
        elif isinstance(value, str) and _re.match(r"^\s*\d+\s*$", value):
            out.append((int(value), None))
        elif allow_subjob and isinstance(value, str) and _re.match(r"^\s*\d+\.\d+\s*$", value):
            jobid, subid = value.strip().split(".")
            out.append((int(jobid), int(subid)))
        else:
            raise TypeError("qb.%s: expected job ids (int%s), got %r"
                            % (name, " or 'jobid.subid'" if allow_subjob else "", value))
    return out


def _work_targets(ids, name):
    out = []
    for value in ids:
        if not isinstance(value, str):
            raise TypeError("qb.%s: work ids are 'jobid:work' strings, got %r" % (name, value))
        match = _re.match(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$", value)
        if not match:
            raise ValueError("qb.%s: work ids look like '250:0', got %r" % (name, value))
        out.append((int(match.group(1)), match.group(2)))
    return out


def _resolve(conn, jobid, token):
    """Agenda indices for the WORK of 'JOB:WORK': an index, else a name, else index ranges."""
    todo = conn.execute("SELECT todo FROM jobs WHERE id = ?", (jobid,)).fetchone()
    if todo is None:
        return []
    todo = todo[0]
    if token.isdigit() and int(token) < todo:
        return [int(token)]
    named = [row[0] for row in conn.execute(
        "SELECT idx FROM work WHERE jobid = ? AND name = ? ORDER BY idx", (jobid, token))]
    if named:
        return named
    indices = []
    for part in token.split(","):
        match = _re.match(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*(?:x\s*(\d+)\s*)?)?$", part)
        if not match:
            return []
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else start
        step = int(match.group(3) or 1) or 1
        indices.extend(index for index in range(start, end + 1, step) if index < todo)
    return indices


def _subjob_ids(conn, jobid):
    return ["%d.%d" % (jobid, row[0]) for row in conn.execute(
        "SELECT id FROM subjobs WHERE jobid = ? ORDER BY id", (jobid,))]


def _kill_processes(victims):
    rootdir = _store.root()
    for pid, jobid, subid in victims:
        _store.kill_subjob_process(pid, jobid, subid, rootdir)


@_api(remote=True)
def kill(jobid, *extraJobids):
    """Kill jobs (or single subjobs, 'jobid.subid'). Returns the killed subjobs' ids."""
    targets = _job_targets((jobid,) + extraJobids, True, "kill")
    conn = _store.connect()
    stamp = _store.now()
    killed, victims = [], []
    with _store.write(conn):
        for job, sub in targets:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job,)).fetchone()
            if row is None:
                continue
            if sub is None:
                if row["status"] in _store.JOB_TERMINAL:
                    continue
                conn.execute("UPDATE jobs SET killed = 1 WHERE id = ?", (job,))
                subs = conn.execute("SELECT id, status, pid FROM subjobs WHERE jobid = ? AND "
                                    "status NOT IN ('complete', 'failed', 'killed') ORDER BY id",
                                    (job,)).fetchall()
                conn.execute("UPDATE work SET status = 'killed', timecomplete = ?, "
                             "lastupdate = ? WHERE jobid = ? AND status = 'running'",
                             (stamp, stamp, job))
            else:
                subs = conn.execute("SELECT id, status, pid FROM subjobs WHERE jobid = ? AND "
                                    "id = ? AND status NOT IN ('complete', 'failed', 'killed')",
                                    (job, sub)).fetchall()
                conn.execute("UPDATE work SET status = 'killed', timecomplete = ?, "
                             "lastupdate = ? WHERE jobid = ? AND subid = ? AND "
                             "status = 'running'", (stamp, stamp, job, sub))
            for srow in subs:
                if srow["status"] == "running":
                    victims.append((srow["pid"], job, srow["id"]))
                conn.execute("UPDATE subjobs SET status = 'killed', timecomplete = ?, "
                             "lastupdate = ? WHERE jobid = ? AND id = ?",
                             (stamp, stamp, job, srow["id"]))
                killed.append("%d.%d" % (job, srow["id"]))
            _store.refresh(conn, job)
    _kill_processes(victims)
    return killed


@_api(remote=True)
def killwork(workid, *extraWorkids):
    """Kill work items ('jobid:work'); a running one's subjob process is killed. Returns the
    affected items as 'jobid:workname'."""
    targets = _work_targets((workid,) + extraWorkids, "killwork")
    conn = _store.connect()
    stamp = _store.now()
    affected, victims = [], []
    with _store.write(conn):
        for job, token in targets:
            for idx in _resolve(conn, job, token):
                row = conn.execute("SELECT name, status, subid FROM work WHERE jobid = ? AND "
                                   "idx = ?", (job, idx)).fetchone()
                if row is None or row["status"] in _store.WORK_TERMINAL:
                    continue
                if row["status"] == "running":
                    srow = conn.execute("SELECT status, pid FROM subjobs WHERE jobid = ? AND "
                                        "id = ?", (job, row["subid"])).fetchone()
                    if srow is not None and srow["status"] == "running":
                        victims.append((srow["pid"], job, row["subid"]))
                        # the subjob is restarted for the remaining work; not a crash
                        conn.execute("UPDATE subjobs SET status = 'pending', lastupdate = ? "
                                     "WHERE jobid = ? AND id = ?", (stamp, job, row["subid"]))
                conn.execute("UPDATE work SET status = 'killed', linked = 0, timecomplete = ?, "
                             "lastupdate = ? WHERE jobid = ? AND idx = ?",
                             (stamp, stamp, job, idx))
                affected.append("%d:%s" % (job, row["name"]))
            _store.refresh(conn, job)
    _kill_processes(victims)
    return affected


def _set_work(name, ids, from_states, to_state):
    targets = _work_targets(ids, name)
    conn = _store.connect()
    stamp = _store.now()
    affected = []
    with _store.write(conn):
        for job, token in targets:
            changed = False
            for idx in _resolve(conn, job, token):
                row = conn.execute("SELECT name, status FROM work WHERE jobid = ? AND idx = ?",
                                   (job, idx)).fetchone()
                if row is None or row["status"] not in from_states:
                    continue
                conn.execute("UPDATE work SET status = ?, linked = 0, subid = -1, "
                             "notbefore = 0, timecomplete = 0, lastupdate = ? "
                             "WHERE jobid = ? AND idx = ?", (to_state, stamp, job, idx))
                affected.append("%d:%s" % (job, row["name"]))
                changed = True
            if changed and to_state == "pending":
                _revive_subjobs(conn, job)
            _store.refresh(conn, job)
    return affected


def _revive_subjobs(conn, jobid):
    """Work to do again: if no subjob could run it, failed/killed subjobs may start again."""
    startable = conn.execute(
        "SELECT COUNT(*) FROM subjobs WHERE jobid = ? AND status IN (%s)"
        % ",".join("'%s'" % s for s in _store.SUBJOB_STARTABLE + ("running",)),
        (jobid,)).fetchone()[0]
    if not startable:
        conn.execute("UPDATE subjobs SET status = 'pending', restarts = 0, lastupdate = ? "
                     "WHERE jobid = ? AND status IN ('failed', 'killed')", (_store.now(), jobid))


@_api(remote=True)
def retrywork(workid, *extraWorkids):
    """Reset complete/failed/killed items to pending. Returns 'jobid:workname' strings."""
    return _set_work("retrywork", (workid,) + extraWorkids, _store.WORK_TERMINAL, "pending")


@_api(remote=True)
def requeuework(workid, *extraWorkids):
    """Reset complete/failed/killed items to blocked. Returns 'jobid:workname' strings."""
    return _set_work("requeuework", (workid,) + extraWorkids, _store.WORK_TERMINAL, "blocked")


@_api(remote=True)
def blockwork(workid, *extraWorkids):
    """Block pending items. Returns 'jobid:workname' strings."""
    return _set_work("blockwork", (workid,) + extraWorkids, ("pending",), "blocked")


@_api(remote=True)
def unblockwork(workid, *extraWorkids):
    """Unblock blocked items (back to pending). Returns 'jobid:workname' strings."""
    return _set_work("unblockwork", (workid,) + extraWorkids, ("blocked",), "pending")


@_api(remote=True)
def workunblock(workid, *extraWorkids):
    """Deprecated alias of :func:`unblockwork` (used by Qube's callbacks page)."""
    return _set_work("workunblock", (workid,) + extraWorkids, ("blocked",), "pending")


def _job_action(name, ids, action):
    targets = _job_targets(ids, False, name)
    conn = _store.connect()
    affected = []
    with _store.write(conn):
        for job, _ in targets:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job,)).fetchone()
            if row is not None and action(conn, row):
                _store.refresh(conn, job)
                affected.extend(_subjob_ids(conn, job))
    return affected


def _reset_job(conn, row, held):
    if row["status"] not in _store.JOB_TERMINAL:
        return False
    stamp = _store.now()
    conn.execute("UPDATE jobs SET killed = 0, held = ?, timecomplete = 0 WHERE id = ?",
                 (int(held), row["id"]))
    conn.execute("UPDATE work SET status = 'pending', subid = -1, notbefore = 0, "
                 "timecomplete = 0, lastupdate = ? WHERE jobid = ? AND "
                 "status IN ('failed', 'killed')", (stamp, row["id"]))
    conn.execute("UPDATE subjobs SET status = 'pending', restarts = 0, preempt = 0, "
                 "lastupdate = ? WHERE jobid = ? AND status IN ('failed', 'killed')",
                 (stamp, row["id"]))
    return True


@_api(remote=True)
def retry(jobid, *extraJobids):
    """Reset terminal jobs to pending (failed/killed items run again). Returns subjob ids."""
    return _job_action("retry", (jobid,) + extraJobids,
                       lambda conn, row: _reset_job(conn, row, held=False))


@_api(remote=True)
def requeue(jobid, *extraJobids):
    """Reset terminal jobs to blocked. Returns subjob ids."""
    return _job_action("requeue", (jobid,) + extraJobids,
                       lambda conn, row: _reset_job(conn, row, held=True))


def _block(conn, row):
    if row["status"] in _store.JOB_TERMINAL or row["held"]:
        return False
    conn.execute("UPDATE jobs SET held = 1 WHERE id = ?", (row["id"],))
    return True


def _unblock(conn, row):
    if row["killed"] or not (row["held"] or _json.loads(row["deps"])):
        return False
    conn.execute("UPDATE jobs SET held = 0, deps = '[]' WHERE id = ?", (row["id"],))
    return True


@_api(remote=True)
def block(jobid, *extraJobids):
    """Block jobs: no more items are handed out. Returns subjob ids."""
    return _job_action("block", (jobid,) + extraJobids, _block)


@_api(remote=True)
def unblock(jobid, *extraJobids):
    """Unblock jobs (also releases unmet dependencies). Returns subjob ids."""
    return _job_action("unblock", (jobid,) + extraJobids, _unblock)


@_api(remote=True)
def preempt(jobid, *extraJobids):
    """Running subjobs stop after their current item (requestwork says 'pending')."""
    targets = _job_targets((jobid,) + extraJobids, True, "preempt")
    conn = _store.connect()
    affected = []
    with _store.write(conn):
        for job, sub in targets:
            sql = "SELECT id FROM subjobs WHERE jobid = ? AND status = 'running'"
            args = [job]
            if sub is not None:
                sql += " AND id = ?"
                args.append(sub)
            for row in conn.execute(sql, args).fetchall():
                conn.execute("UPDATE subjobs SET preempt = 1 WHERE jobid = ? AND id = ?",
                             (job, row[0]))
                affected.append("%d.%d" % (job, row[0]))
    return affected


@_api(remote=True)
def remove(jobid, *extraJobids):
    """Remove jobs (killing what runs); they disappear from jobinfo. Returns their ids."""
    targets = _job_targets((jobid,) + extraJobids, False, "remove")
    conn = _store.connect()
    removed, victims = [], []
    with _store.write(conn):
        for job, _ in targets:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job,)).fetchone() is None:
                continue
            victims.extend((row[0], job, row[1]) for row in conn.execute(
                "SELECT pid, id FROM subjobs WHERE jobid = ? AND status = 'running'", (job,)))
            for table, column in (("work", "jobid"), ("subjobs", "jobid"),
                                  ("callbacks", "jobid"), ("jobs", "id")):
                conn.execute("DELETE FROM %s WHERE %s = ?" % (table, column), (job,))
            removed.append(job)
    _kill_processes(victims)
    import shutil
    for job in removed:
        shutil.rmtree(_os.path.join(_store.root(), "logs", str(job)), ignore_errors=True)
    return removed


# -- client API: logs, hosts, ping -------------------------------------------------------

def _logs(name, ids, pos, length, streams):
    flat = []
    for value in ids:
        flat.extend(value if isinstance(value, list) else [value])
    if not flat:
        raise TypeError("qb.%s: give job ids or 'jobid.subid' strings" % name)
    targets = _job_targets(flat, True, name)
    conn = _store.connect()
    rootdir = _store.root()
    out = []
    for job, sub in targets:
        if sub is None:
            subs = [row[0] for row in conn.execute(
                "SELECT id FROM subjobs WHERE jobid = ? ORDER BY id", (job,))]
        else:
            subs = [sub] if conn.execute("SELECT 1 FROM subjobs WHERE jobid = ? AND id = ?",
                                         (job, sub)).fetchone() else []
        for subid in subs:
            data = b""
            for stream in streams:
                try:
                    with open(_store.log_path(rootdir, job, subid, stream), "rb") as handle:
                        data += handle.read()
                except FileNotFoundError:
                    pass
            fullsize = len(data)
            data = data[pos:] if length is None or length < 0 else data[pos:pos + length]
            out.append({"jobid": job, "subid": subid, "fullsize": fullsize,
                        "data": data.decode("utf-8", "replace")})
    return out


@_api(remote=True)
def stdout(*subjobids, pos=0, len=-1):
    """Standard output of subjobs: a job id gives every subjob of the job, 'jobid.subid' one.
    Returns dicts with jobid, subid, data and fullsize."""
    return _logs("stdout", subjobids, pos, len, ("out",))


@_api(remote=True)
def stderr(*subjobids, pos=0, len=-1):
    """Standard error of subjobs (see :func:`stdout`)."""
    return _logs("stderr", subjobids, pos, len, ("err",))


@_api(remote=True)
def log(jobid, *extraJobids):
    """Standard output then standard error of each subjob (see :func:`stdout`)."""
    return _logs("log", (jobid,) + extraJobids, 0, -1, ("out", "err"))


def _supervisor_alive():
    conn = _store.connect()
    pid = _store.meta_get(conn, "supervisor_pid")
    if not pid:
        return False
    try:
        _os.kill(pid, 0)
        return True
    except OSError:
        return False


@_api(remote=False)
def ping(host=None, port=None, timeout=10, *, supervisor=None, asDict=False):
    """Whether the (fake) supervisor answers: False while ``down`` or when none runs."""
    alive = not _is_down() and _supervisor_alive()
    if not asDict:
        return alive
    if not alive:
        return {}
    return {"address": "127.0.0.1", "macaddress": "00:00:00:00:00:00", "version": "fake",
            "build": "0", "os": _sys.platform, "license_model": "fake", "license_type": "fake",
            "licenses_used": 0, "licenses": 0, "metered_used": 0, "metered_max": 0, "mode": 0,
            "mode_string": ""}


@_api(remote=True)
def hostinfo(fields=[], filters={}, name=None, state=None, subjobs=False):
    """The fake supervisor's worker hosts (``--hosts``), each with ``--slots`` processors."""
    if not isinstance(fields, list):
        raise ValueError('hostinfo(): Invalid type specified for first arg, "fields". Must be '
                         'of type list')
    for field in fields:
        if field != "subjobs":
            raise ValueError("qb.hostinfo: unknown field %r (subjobs)" % (field,))
    filters = dict(filters)
    for key in filters:
        if key not in ("name", "state"):
            raise ValueError("qb.hostinfo: the fake filters hosts by name and state only")
    if name is not None:
        filters["name"] = name
    if state is not None:
        filters["state"] = state
    conn = _store.connect()
    hosts = _store.meta_get(conn, "hosts", [])
    slots = _store.meta_get(conn, "slots", 1)
    with_subjobs = subjobs or "subjobs" in fields
    out = []
    for hostname in hosts:
        host = Host(dict(name=hostname, state="active", address="127.0.0.1",
                         macaddress="00:00:00:00:00:%02x" % (len(out) + 1), cluster="/",
                         groups="", resources="host.processors=%d" % slots, restrictions="",
                         properties=""))
        if any(str(host[key]) not in [str(v) for v in _as_list(value)]
               for key, value in filters.items()):
            continue
        if with_subjobs:
            host["subjobs"] = [_subjob_object(row) for row in conn.execute(
                "SELECT * FROM subjobs WHERE host = ? AND status = 'running' ORDER BY jobid, id",
                (hostname,))]
        out.append(host)
    return out


# -- frame ranges (delegated to dccfutures.frames) -----------------------------------------

def _frames():
    from dccfutures import frames
    return frames


@_api(remote=False)
def rangesplit(range, *extraRanges, binarySort=False, removeDuplicates=True):
    """The frames of range strings, e.g. ``rangesplit('1-10x2') == [1, 3, 5, 7, 9]``."""
    return _frames().split(range, *extraRanges, binary=binarySort,
                           remove_duplicates=removeDuplicates)


@_api(remote=False)
def rangejoin(frames):
    """A range string for a list of frames, e.g. ``rangejoin([1, 2, 3]) == '1-3'``."""
    return _frames().join(frames)


@_api(remote=False)
def rangechunk(chunksize, range, *extraRanges, binarySort=False):
    """Range strings of ``chunksize`` frames each."""
    return _frames().chunk(chunksize, range, *extraRanges, binary=binarySort)


@_api(remote=False)
def rangepartition(numPartitions, range, *extraRanges, binarySort=False):
    """Range strings of ``numPartitions`` partitions."""
    return _frames().partition(numPartitions, range, *extraRanges, binary=binarySort)


@_api(remote=False)
def rangeorder(mode, range):
    """The frames in ``mode`` order: binary, reverse, rawbinary, ascend or descend."""
    return _frames().order(mode, range)


@_api(remote=False)
def genframes(range, *extraRanges, binarySort=False, removeDuplicates=True):
    """An agenda: one Work per frame, named by the frame."""
    return [Work({"name": str(frame)}) for frame in _frames().split(
        range, *extraRanges, binary=binarySort, remove_duplicates=removeDuplicates)]


@_api(remote=False)
def genchunks(chunksize, range, *extraRanges, binarySort=False):
    """An agenda: one Work per chunk, named by the chunk's range string."""
    return [Work({"name": chunk}) for chunk in _frames().chunk(
        chunksize, range, *extraRanges, binary=binarySort)]


@_api(remote=False)
def genpartitions(numPartitions, range, *extraRanges, binarySort=False):
    """An agenda: one Work per partition, named by the partition's range string."""
    return [Work({"name": part}) for part in _frames().partition(
        numPartitions, range, *extraRanges, binary=binarySort)]


# -- jobtype back-end API ----------------------------------------------------------------

def _me():
    try:
        return int(_os.environ["QBJOBID"]), int(_os.environ["QBSUBID"])
    except (KeyError, ValueError):
        raise RuntimeError("qb (fake): the jobtype back-end functions work only inside a "
                           "subjob (QBJOBID and QBSUBID are not set)") from None


@_api(remote=False)
def jobid():
    """The id of the job this subjob belongs to; inside a callback's code, the id of the job
    that owns the callback."""
    if _callback_job is not None:
        return _callback_job
    return _me()[0]


@_api(remote=False)
def subid():
    """The id of this subjob."""
    return _me()[1]


@_api(remote=False)
def jobobj():
    """This subjob's job (package, env, cpus, prototype, name, id, ...; no agenda)."""
    job, _ = _me()
    conn = _store.connect()
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job,)).fetchone()
    if row is None:
        raise RuntimeError("qb (fake): job %d is gone (removed)" % job)
    return _job_object(row)


def _status_work(status):
    return Work({"status": status, "name": "", "package": {}})


@_api(remote=False)
def requestwork():
    """The next work item for this subjob (status ``running``), or a Work whose status says
    why there is none: complete, pending (preempted), blocked or waiting."""
    job, sub = _me()
    conn = _store.connect()
    stamp = _store.now()
    with _store.write(conn):
        row = conn.execute("SELECT killed, held, deps FROM jobs WHERE id = ?", (job,)).fetchone()
        srow = conn.execute("SELECT preempt, host FROM subjobs WHERE jobid = ? AND id = ?",
                            (job, sub)).fetchone()
        if row is None or srow is None or row["killed"]:
            return _status_work("complete")
        if srow["preempt"]:
            return _status_work("pending")
        if row["held"] or _json.loads(row["deps"]):
            return _status_work("blocked")
        item = conn.execute("SELECT idx FROM work WHERE jobid = ? AND status = 'pending' AND "
                            "notbefore <= ? ORDER BY idx LIMIT 1",
                            (job, _time.time())).fetchone()
        if item is not None:
            conn.execute("UPDATE work SET status = 'running', subid = ?, host = ?, "
                         "address = '127.0.0.1', count = count + 1, timestart = ?, "
                         "timecomplete = 0, lastupdate = ? WHERE jobid = ? AND idx = ?",
                         (sub, srow["host"], stamp, stamp, job, item[0]))
            _store.refresh(conn, job)
            work = conn.execute("SELECT * FROM work WHERE jobid = ? AND idx = ?",
                                (job, item[0])).fetchone()
            return _work_object(work)
        left = _store.tally(conn, "work", job)
        if left["pending"] or left["running"]:
            return _status_work("waiting")
        if left["blocked"]:
            return _status_work("blocked")
        return _status_work("complete")


@_api(remote=False)
def reportwork(work):
    """Report a work item handed out by :func:`requestwork`: ``status`` complete or failed
    ends it (with its ``resultpackage``); ``running`` only updates the resultpackage
    (progress); ``pending`` hands it back."""
    job, sub = _me()
    if not isinstance(work, dict):
        raise TypeError("qb.reportwork: expected the Work from requestwork, got %r" % (work,))
    status = work.get("status")
    if status not in ("running", "complete", "failed", "pending"):
        raise ValueError("qb.reportwork: status must be running, complete, failed or pending, "
                         "not %r" % (status,))
    has_result = "resultpackage" in work
    resultpackage = work.get("resultpackage")
    if resultpackage is None:
        resultpackage = {}
    if not isinstance(resultpackage, dict):
        raise TypeError("qb.reportwork: resultpackage must be a dict, not %s"
                        % type(resultpackage).__name__)
    _store.check_plain(resultpackage, "the resultpackage")
    conn = _store.connect()
    stamp = _store.now()
    with _store.write(conn):
        row = None
        if _is_int(work.get("id")):
            row = conn.execute("SELECT * FROM work WHERE jobid = ? AND idx = ? AND "
                               "status = 'running' AND subid = ?",
                               (job, work["id"], sub)).fetchone()
        elif work.get("name") is not None:
            row = conn.execute("SELECT * FROM work WHERE jobid = ? AND name = ? AND "
                               "status = 'running' AND subid = ? ORDER BY idx LIMIT 1",
                               (job, str(work["name"]), sub)).fetchone()
        if row is None:
            return None  # no longer ours (killed, requeued): ignored
        result = _store.dumps(resultpackage) if has_result else row["resultpackage"]
        if status == "running":
            conn.execute("UPDATE work SET resultpackage = ?, lastupdate = ? WHERE jobid = ? "
                         "AND idx = ?", (result, stamp, job, row["idx"]))
        elif status == "pending":
            conn.execute("UPDATE work SET status = 'pending', subid = -1, resultpackage = ?, "
                         "lastupdate = ? WHERE jobid = ? AND idx = ?",
                         (result, stamp, job, row["idx"]))
        elif status == "failed":
            # straight to its final state (pending for an automatic retry, or failed), so a
            # retried failure records no 'failed' callback event
            conn.execute("UPDATE work SET resultpackage = ?, lastupdate = ? WHERE jobid = ? "
                         "AND idx = ?", (result, stamp, job, row["idx"]))
            _store.retry_or_fail(conn, job, row["idx"], row["count"], row["retry"],
                                 row["retrydelay"], lost=False)
        else:
            conn.execute("UPDATE work SET status = ?, resultpackage = ?, timecomplete = ?, "
                         "lastupdate = ? WHERE jobid = ? AND idx = ?",
                         (status, result, stamp, stamp, job, row["idx"]))
        _store.refresh(conn, job)
    return None


@_api(remote=False)
def reportjob(status):
    """End this subjob with ``status`` (complete, failed, killed, pending, blocked, waiting)."""
    job, sub = _me()
    if status not in ("complete", "failed", "killed", "pending", "blocked", "waiting"):
        raise ValueError("qb.reportjob: unknown status %r" % (status,))
    conn = _store.connect()
    stamp = _store.now()
    with _store.write(conn):
        srow = conn.execute("SELECT status FROM subjobs WHERE jobid = ? AND id = ?",
                            (job, sub)).fetchone()
        if srow is None or srow["status"] != "running":
            return None  # killed or restarted meanwhile
        conn.execute("UPDATE subjobs SET status = ?, preempt = 0, timecomplete = ?, "
                     "lastupdate = ? WHERE jobid = ? AND id = ?",
                     (status, stamp, stamp, job, sub))
        _store.refresh(conn, job)
    return None
