"""The fake ``qb`` module (tests/fakes/qb) against real subprocesses: a real fake supervisor
running the ``echo`` test jobtype (tests/fakes/qb_types/echo). Every test that starts a
supervisor stops it (the ``qube`` fixture)."""
import os
import re
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes")
TYPES = os.path.join(FAKES, "qb_types")
TERMINAL = ("complete", "failed", "killed")


@pytest.fixture
def qb(tmp_path, monkeypatch):
    """The fake ``qb`` module on a private root (no supervisor)."""
    monkeypatch.syspath_prepend(FAKES)
    monkeypatch.setenv("QB_FAKE_ROOT", str(tmp_path / "qube"))
    for name in ("QBJOBID", "QBSUBID"):
        monkeypatch.delenv(name, raising=False)
    import qb as module
    module.reset_counters()
    return module


@pytest.fixture
def qube(qb):
    """A running fake supervisor for ``qb``'s root; stopped (with its subjobs) afterwards."""
    from qb.supervisor import start_supervisor
    handle = start_supervisor(os.environ["QB_FAKE_ROOT"], [TYPES])
    try:
        yield handle
    finally:
        handle.stop()
        assert not handle.alive()


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def job_of(qb, name="job", items=(), cpus=1, **fields):
    agenda = [qb.Work({"name": str(index), "package": dict(package)})
              for index, package in enumerate(items)]
    fields.setdefault("prototype", "echo")
    fields.update(name=name, cpus=cpus, agenda=agenda)
    return qb.Job(fields)


def submit(qb, *args, **kwargs):
    [job] = qb.submit(job_of(qb, *args, **kwargs))
    return job["id"]


def finished(qb, jobid, agenda=True):
    def done():
        [job] = qb.jobinfo(id=[jobid], agenda=agenda)
        return job if job["status"] in TERMINAL else None
    return wait_until(done, what="job %d to finish" % jobid)


def work(qb, jobid):
    return qb.jobinfo(id=[jobid], agenda=True)[0]["agenda"]


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- objects and validation (no supervisor) ----------------------------------------------

def test_objects_are_dicts_with_attributes(qb):
    job = qb.Job(name="a", prototype="echo", package={"x": 1})
    assert job == {"name": "a", "prototype": "echo", "package": {"x": 1}}
    assert job.name == job["name"] == "a"
    job.priority = 5
    assert job["priority"] == 5
    with pytest.raises(AttributeError):
        job.nosuchfield
    with pytest.raises(TypeError):
        qb.Job(name="a", prototype="echo", cpus=2)  # only data, name, prototype, package
    dict_form = qb.Job({"name": "b", "prototype": "echo", "agenda": [{"name": "1"}]})
    assert isinstance(dict_form["agenda"][0], qb.Work)
    assert dict_form.agenda[0].name == "1" and dict_form.package == {}
    assert qb.Work({"name": "1", "status": "pending"}).status == "pending"
    assert qb.Subjob({"id": 0}).id == 0 and qb.Host({"name": "h"}).name == "h"
    with pytest.raises(AttributeError):
        qb.nosuchfunction


@pytest.mark.parametrize("package", [
    {"t": (1, 2)}, {"b": b"bytes"}, {"o": object()}, {1: "int key"}, {"s": {1, 2}},
    {"deep": [{"x": [1, (2,)]}]},
    {"file": None}, {"env_cloned": True}, {"deep": [{"x": [1, False]}]}, {"l": [None]},
])
def test_packages_must_be_plain_data(qb, package):
    with pytest.raises(TypeError):
        qb.submit(qb.Job(name="j", prototype="echo", package=package))
    with pytest.raises(TypeError):
        qb.submit(job_of(qb, items=[package]))
    assert qb.jobinfo() == []


def test_reportwork_refuses_none_and_booleans_in_the_resultpackage(qb, monkeypatch):
    jobid = submit(qb, items=[{}])
    monkeypatch.setenv("QBJOBID", str(jobid))  # this process plays subjob 0
    monkeypatch.setenv("QBSUBID", "0")
    work = qb.requestwork()
    for bad in ({"progress": None}, {"message": None}, {"done": True}, {"x": [{"y": False}]}):
        work["resultpackage"] = bad
        with pytest.raises(TypeError, match="is (None|True|False); packages hold only"):
            qb.reportwork(work)
    work["resultpackage"] = {"progress": 0.5, "message": "half"}
    qb.reportwork(work)  # still running: progress
    assert qb.jobinfo(id=[jobid], agenda=True)[0]["agenda"][0]["resultpackage"] == \
        {"progress": 0.5, "message": "half"}


def test_submit_rejects_typos_and_bad_fields(qb):
    with pytest.raises(ValueError, match="cpu"):
        qb.submit(qb.Job({"name": "j", "prototype": "echo", "cpu": 2}))
    with pytest.raises(ValueError, match="prototype"):
        qb.submit(qb.Job({"name": "j"}))
    with pytest.raises(ValueError, match="pakage"):
        qb.submit(qb.Job({"prototype": "echo", "agenda": [{"name": "1", "pakage": {}}]}))
    with pytest.raises(TypeError):
        qb.submit(qb.Job({"prototype": "echo", "env": {"A": 1}}))
    with pytest.raises(ValueError, match="code"):
        qb.submit(qb.Job({"prototype": "echo", "callbacks": [{"triggers": "done-job-self"}]}))
    with pytest.raises(NotImplementedError):
        qb.submit(qb.Job({"prototype": "echo", "timelimit": 60}))
    with pytest.raises(TypeError):
        qb.jobinfo(agenda=True, agendas=True)
    with pytest.raises(ValueError):
        qb.jobinfo(filters={"stauts": "running"})
    with pytest.raises(RuntimeError, match="QBJOBID"):
        qb.requestwork()


def test_root_is_required(qb, monkeypatch):
    monkeypatch.delenv("QB_FAKE_ROOT")
    with pytest.raises(RuntimeError, match="QB_FAKE_ROOT"):
        qb.jobinfo()


def test_submit_assigns_ids_and_pgrp_without_touching_the_caller_job(qb):
    jobs = [job_of(qb, "a", [{}]), job_of(qb, "b", [{}, {}], label="render")]
    submitted = qb.submit(jobs)
    assert [job["name"] for job in submitted] == ["a", "b"]
    first, second = submitted
    assert second["id"] == first["id"] + 1 and first["pgrp"] == second["pgrp"] == first["id"]
    assert "id" not in jobs[0] and "status" not in jobs[0]["agenda"][0]
    assert second["todo"] == 2 and second["todotally"]["pending"] == 2
    assert second["cpustally"]["pending"] == 1 and second["status"] == "pending"
    [alone] = qb.submit(job_of(qb, "c", [{}]))
    assert alone["pgrp"] == alone["id"] == second["id"] + 1
    with pytest.raises(ValueError, match="label"):
        qb.submit(job_of(qb, "d", [{}], label="render", pgrp=first["id"]))


def test_frame_helpers_delegate_to_dccfutures_frames(qb):
    frames = pytest.importorskip("dccfutures.frames")
    assert qb.rangesplit("1-10x2") == frames.split("1-10x2") == [1, 3, 5, 7, 9]
    assert qb.rangejoin([1, 2, 3, 4, 5]) == "1-5"
    assert qb.rangechunk(5, "1-20") == ["1-5", "6-10", "11-15", "16-20"]
    assert qb.rangeorder("binary", "1-10x2") == frames.order("binary", "1-10x2")
    assert qb.rangepartition(2, "1-10") == frames.partition(2, "1-10")
    assert [w["name"] for w in qb.genframes("1-3")] == ["1", "2", "3"]
    assert all(isinstance(w, qb.Work) for w in qb.genchunks(2, "1-5"))
    assert [w.name for w in qb.genchunks(3, "1-7")] == frames.chunk(3, "1-7") == ["1-3", "4-6", "7"]
    assert len(qb.genpartitions(3, "1-9")) == 3
    with pytest.raises(TypeError):
        qb.rangesplit("1-3", binarysort=True)


def test_call_counting(qb):
    qb.submit(job_of(qb, "a", [{}]))
    first = qb.jobinfo()
    second = qb.jobinfo(agenda=True)
    qb.rangesplit("1-3")
    assert qb.calls == {"submit": 1, "jobinfo": 2, "rangesplit": 1}
    assert qb.jobinfo_bytes == len(repr(first)) + len(repr(second))
    qb.reset_counters()
    assert not qb.calls and qb.jobinfo_bytes == 0


def test_supervisor_down(qube, qb):
    assert qb.ping() is True
    jobid = submit(qb, items=[{}])
    qb.fake_down()
    for call in (lambda: qb.submit(job_of(qb, items=[{}])), qb.jobinfo,
                 lambda: qb.kill(jobid), lambda: qb.killwork("%d:0" % jobid),
                 lambda: qb.stdout(jobid)):
        with pytest.raises(RuntimeError, match="cannot connect to supervisor"):
            call()
    assert qb.ping() is False and qb.ping(asDict=True) == {}
    assert qb.calls["jobinfo"] == 1  # failed calls count too
    qb.fake_up()
    assert qb.ping() is True
    assert finished(qb, jobid)["status"] == "complete"


# -- the full loop -----------------------------------------------------------------------

def test_fifty_items_on_three_subjobs(qube, qb):
    jobid = submit(qb, "fifty", [{"i": i, "sleep": 0.03} for i in range(50)], cpus=3)
    job = finished(qb, jobid)
    assert job["status"] == "complete"
    assert job["todo"] == 50 and job["todotally"]["complete"] == 50
    assert sum(job["todotally"].values()) == 50
    assert [w["resultpackage"]["echo"] for w in job["agenda"]] == \
        [{"i": i, "sleep": 0.03} for i in range(50)]
    assert all(w["status"] == "complete" and w["count"] == 1 for w in job["agenda"])
    assert {w["subid"] for w in job["agenda"]} == {0, 1, 2}
    assert [w["id"] for w in job["agenda"]] == list(range(50))
    assert {w["host"] for w in job["agenda"]} <= {h["name"] for h in qb.hostinfo()}
    # the job is complete with its last item; its subjobs end just after
    wait_until(lambda: qb.jobinfo(id=jobid)[0]["cpustally"]["complete"] == 3,
               what="the subjobs to end")
    # stdout/stderr per subjob: each holds exactly the items that subjob ran
    outs = qb.stdout(jobid)
    errs = qb.stderr(jobid)
    assert [(r["jobid"], r["subid"]) for r in outs] == [(jobid, 0), (jobid, 1), (jobid, 2)]
    for out, err in zip(outs, errs):
        mine = {w["name"] for w in job["agenda"] if w["subid"] == out["subid"]}
        assert set(re.findall(r"echo: item (\d+) attempt", out["data"])) == mine
        assert set(re.findall(r"echo-err: item (\d+)", err["data"])) == mine
        assert out["fullsize"] == len(out["data"].encode())
    [single] = qb.stdout("%d.1" % jobid)
    assert single["subid"] == 1 and single["data"] == outs[1]["data"]
    assert qb.stdout("%d.1" % jobid, pos=0, len=5)[0]["data"] == outs[1]["data"][:5]
    [log] = qb.log("%d.2" % jobid)
    assert log["data"] == outs[2]["data"] + errs[2]["data"]


def test_jobinfo_agenda_only_when_asked(qube, qb):
    a = submit(qb, "a", [{}, {}])
    b = submit(qb, "b", [{}], cpus=2)
    finished(qb, a)
    finished(qb, b)
    jobs = qb.jobinfo(id=[a, b])
    assert [job["id"] for job in jobs] == [a, b]
    assert all("agenda" not in job and "subjobs" not in job for job in jobs)
    assert all(isinstance(job, qb.Job) for job in jobs)
    full = qb.jobinfo(id=[a, b], agenda=True, subjobs=True)
    assert [len(job["agenda"]) for job in full] == [2, 1]
    assert [len(job["subjobs"]) for job in full] == [1, 2]
    assert isinstance(full[0]["agenda"][0], qb.Work)
    assert qb.jobinfo(fields=["agenda"], filters={"id": a})[0]["agenda"][1]["name"] == "1"
    assert [job["id"] for job in qb.jobinfo(status="complete")] == [a, b]
    assert qb.jobinfo(status="running") == []
    assert [job["name"] for job in qb.jobinfo(filters={"name": "b"})] == ["b"]
    assert [job["id"] for job in qb.jobinfo(orderby="id DESC", limit=1)] == [b]
    assert qb.jobinfo(id=a)[0]["id"] == a
    assert qb.jobinfo(id=[a + 100]) == []
    # a 2-cpu job with 1 item needs one subjob
    assert [s["count"] for s in full[1]["subjobs"]] == [1, 0]


def test_mid_item_progress(qube, qb):
    jobid = submit(qb, items=[{"progress": "yes", "hold": 1.0}])

    def progress():
        [item] = work(qb, jobid)
        return item["status"] == "running" and item["resultpackage"] == {"progress": 0.5}
    wait_until(progress, what="progress")
    job = finished(qb, jobid)
    assert job["agenda"][0]["resultpackage"]["echo"]["progress"] == "yes"


def test_killwork_kills_the_running_item_and_its_process(qube, qb):
    jobid = submit(qb, items=[{"sleep": 60}, {}, {}])
    wait_until(lambda: work(qb, jobid)[0]["status"] == "running", what="item 0 to run")
    pid = int(wait_until(lambda: re.search(r"\(pid (\d+)\)", qb.stdout(jobid)[0]["data"]),
                         what="the subjob's pid").group(1))
    assert pid_alive(pid)
    assert qb.killwork("%d:0" % jobid) == ["%d:0" % jobid]
    wait_until(lambda: not pid_alive(pid), timeout=5, what="the subjob to die")
    job = finished(qb, jobid)
    assert [w["status"] for w in job["agenda"]] == ["killed", "complete", "complete"]
    assert job["status"] == "killed"  # nothing left to run, an item killed, none failed
    assert qb.killwork("%d:0" % jobid) == []  # already terminal
    # a failed item outweighs a killed one
    jobid = submit(qb, items=[{"sleep": 60}, {"fail": "always"}], cpus=2)
    wait_until(lambda: [w["status"] for w in work(qb, jobid)] == ["running", "failed"],
               what="item 0 running, item 1 failed")
    qb.killwork("%d:0" % jobid)
    assert finished(qb, jobid)["status"] == "failed"


def test_kill_a_job(qube, qb):
    jobid = submit(qb, items=[{"sleep": 60}, {}], cpus=1)
    wait_until(lambda: work(qb, jobid)[0]["status"] == "running", what="item 0 to run")
    assert qb.kill(jobid) == ["%d.0" % jobid]
    job = finished(qb, jobid)
    assert job["status"] == "killed"
    assert [w["status"] for w in job["agenda"]] == ["killed", "pending"]
    time.sleep(0.2)  # a killed job does not run again...
    assert qb.jobinfo(id=jobid)[0]["status"] == "killed"
    assert qb.retry(jobid) == ["%d.0" % jobid]  # ...until retried: item 0 runs again
    wait_until(lambda: [(w["status"], w["count"]) for w in work(qb, jobid)] ==
               [("running", 2), ("pending", 0)], what="item 0 to run again")
    qb.kill(jobid)


def test_a_crashed_subjob_loses_its_item_which_is_retried(qube, qb):
    jobid = submit(qb, items=[{"crash": "first"}, {}, {"crash": "always"}, {}])
    job = finished(qb, jobid)
    assert [(w["status"], w["count"]) for w in job["agenda"]] == [
        ("complete", 2), ("complete", 1), ("failed", 2), ("complete", 1)]
    assert job["status"] == "failed"
    [err] = qb.stderr(jobid)
    assert err["data"].count("without calling qb.reportjob") == 3
    # with retrywork=2 the always-crashing item gets three attempts
    jobid = submit(qb, items=[{"crash": "always"}], retrywork=2)
    assert [w["count"] for w in finished(qb, jobid)["agenda"]] == [3]


def test_a_back_end_that_dies_at_start_fails_the_job(qube, qb):
    jobid = submit(qb, items=[{}, {}], cpus=2, package={"crash_at_start": "yes"})
    job = finished(qb, jobid)
    assert job["status"] == "failed"
    assert job["todotally"]["pending"] == 2 and job["cpustally"]["failed"] == 2


def test_failed_items_and_retrywork(qube, qb):
    jobid = submit(qb, items=[{"fail": "first"}, {}])
    job = finished(qb, jobid)
    assert job["status"] == "failed"
    assert [w["status"] for w in job["agenda"]] == ["failed", "complete"]
    assert job["agenda"][0]["resultpackage"]["echo"] == {"fail": "first"}
    assert qb.retrywork("%d:0" % jobid) == ["%d:0" % jobid]
    wait_until(lambda: qb.jobinfo(id=jobid)[0]["status"] == "complete", what="the retry")
    assert work(qb, jobid)[0]["count"] == 2
    # automatic retries: the job's retrywork
    jobid = submit(qb, items=[{"fail": "first"}], retrywork=1)
    assert finished(qb, jobid)["status"] == "complete"


def test_block_unblock_and_blockwork(qube, qb):
    jobid = submit(qb, items=[{}, {}, {}], status="blocked")
    assert qb.jobinfo(id=jobid)[0]["status"] == "blocked"
    assert qb.blockwork("%d:1" % jobid) == ["%d:1" % jobid]
    time.sleep(0.3)
    job = qb.jobinfo(id=jobid)[0]
    assert job["status"] == "blocked" and job["cpustally"]["running"] == 0
    assert job["todotally"]["pending"] == 2 and job["todotally"]["blocked"] == 1
    assert qb.unblock(jobid) == ["%d.0" % jobid]
    wait_until(lambda: [w["status"] for w in work(qb, jobid)] == ["complete", "blocked",
                                                                   "complete"],
               what="the unblocked items")
    assert qb.jobinfo(id=jobid)[0]["status"] == "blocked"  # only a blocked item is left
    assert qb.workunblock("%d:1" % jobid) == ["%d:1" % jobid]
    assert finished(qb, jobid)["status"] == "complete"
    # blocking a running job: its subjobs get 'blocked' from requestwork and stop
    jobid = submit(qb, items=[{"sleep": 0.3}, {}, {}])
    wait_until(lambda: work(qb, jobid)[0]["status"] == "running", what="item 0 to run")
    assert qb.block(jobid) == ["%d.0" % jobid]
    wait_until(lambda: qb.jobinfo(id=jobid)[0]["cpustally"]["blocked"] == 1,
               what="the subjob to stop")
    assert [w["status"] for w in work(qb, jobid)] == ["complete", "pending", "pending"]
    qb.unblock(jobid)
    assert finished(qb, jobid)["status"] == "complete"


def test_remove(qube, qb):
    jobid = submit(qb, items=[{"sleep": 60}])
    wait_until(lambda: qb.jobinfo(id=jobid)[0]["status"] == "running", what="the job to run")
    assert qb.remove(jobid) == [jobid]
    assert qb.jobinfo(id=[jobid]) == [] and jobid not in [j["id"] for j in qb.jobinfo()]
    assert qb.stdout(jobid) == []
    assert qb.remove(jobid) == []
    with pytest.raises(ValueError):
        qb.killwork("nonsense")


def test_work_ids_by_index_name_and_range(qube, qb):
    [job] = qb.submit(qb.Job({"name": "frames", "prototype": "echo", "status": "blocked",
                              "agenda": qb.genframes("10-14")}))
    jobid = job["id"]
    assert qb.blockwork("%d:0" % jobid) == ["%d:10" % jobid]   # index 0 is frame 10
    assert qb.blockwork("%d:12" % jobid) == ["%d:12" % jobid]  # no index 12: the name
    assert qb.blockwork("%d:3-4" % jobid) == ["%d:13" % jobid, "%d:14" % jobid]
    assert qb.unblockwork("%d:0" % jobid, "%d:1" % jobid) == ["%d:10" % jobid]
    with pytest.raises(TypeError):
        qb.blockwork(jobid)


def test_preempt(qube, qb):
    jobid = submit(qb, items=[{"sleep": 0.2}] * 4)
    wait_until(lambda: work(qb, jobid)[0]["status"] == "running", what="item 0 to run")
    assert qb.preempt(jobid) == ["%d.0" % jobid]
    assert finished(qb, jobid)["status"] == "complete"
    assert "no more work (pending)" in qb.stdout(jobid)[0]["data"]


def test_dependencies(qube, qb):
    first = submit(qb, "first", [{}, {}], status="blocked")
    after = submit(qb, "after", [{}], dependency="link-complete-job-%d" % first)
    linked = submit(qb, "linked", [{}, {}, {}], dependency="link-complete-work-%d" % first)
    time.sleep(0.3)
    statuses = {j["id"]: j["status"] for j in qb.jobinfo(id=[first, after, linked])}
    assert statuses == {first: "blocked", after: "blocked", linked: "blocked"}
    assert [w["status"] for w in work(qb, linked)] == ["blocked"] * 3
    qb.unblock(first)
    assert finished(qb, after)["status"] == "complete"
    # items 0 and 1 follow job first's items of the same name; item 2 has no partner
    wait_until(lambda: [w["status"] for w in work(qb, linked)] ==
               ["complete", "complete", "blocked"], what="the linked items")
    with pytest.raises(ValueError, match="dependency"):
        qb.submit(job_of(qb, items=[{}], dependency="after-job-1"))


def test_jobtype_errors_fail_the_job(qube, qb, tmp_path):
    jobid = submit(qb, items=[{}], prototype="nosuchtype")
    job = finished(qb, jobid)
    assert job["status"] == "failed" and "nosuchtype" in job["reason"]
    assert "no jobtype 'nosuchtype'" in qb.stderr(jobid)[0]["data"]


def test_bad_job_conf_fails_the_job(qb, tmp_path):
    from qb.supervisor import start_supervisor
    types = tmp_path / "types"
    (types / "perl").mkdir(parents=True)
    (types / "perl" / "job.conf").write_text(
        "[execute module]\nexecute_binding = Perl\nexecute_library = execute.pl\n")
    (types / "noconf").mkdir()
    (types / "noconf" / "job.conf").write_text("not an ini file\n")
    handle = start_supervisor(os.environ["QB_FAKE_ROOT"], [str(types), TYPES])
    try:
        perl = submit(qb, items=[{}], prototype="perl")
        noconf = submit(qb, items=[{}], prototype="noconf")
        echo = submit(qb, items=[{}])
        assert "execute_binding must be Python" in finished(qb, perl)["reason"]
        assert "cannot read" in finished(qb, noconf)["reason"]
        assert finished(qb, echo)["status"] == "complete"
    finally:
        handle.stop()


def test_stop_hands_running_items_back(qb):
    from qb.supervisor import start_supervisor
    handle = start_supervisor(os.environ["QB_FAKE_ROOT"], [TYPES])
    try:
        jobid = submit(qb, items=[{"sleep": 60}])
        wait_until(lambda: work(qb, jobid)[0]["status"] == "running", what="item 0 to run")
        pid = int(wait_until(lambda: re.search(r"\(pid (\d+)\)", qb.stdout(jobid)[0]["data"]),
                             what="the subjob's pid").group(1))
    finally:
        handle.stop()
    assert not pid_alive(pid)
    [job] = qb.jobinfo(id=jobid, agenda=True)
    assert job["status"] == "pending" and job["agenda"][0]["status"] == "pending"
    assert qb.ping() is False


def test_subjob_environment(qube, qb, tmp_path):
    """The back-end sees the job's env, QBJOBID/QBSUBID and imports this fake."""
    probe = tmp_path / "types" / "probe"
    probe.mkdir(parents=True)
    (probe / "job.conf").write_text("[execute module]\nexecute_binding = Python\n"
                                    "execute_library = run.py\n")
    (probe / "run.py").write_text(
        "import os, qb\n"
        "job = qb.jobobj()\n"
        "work = qb.requestwork()\n"
        "work['status'] = 'complete'\n"
        "work['resultpackage'] = {'env': os.environ.get('PROBE'), 'qb': qb.__file__,\n"
        "    'ids': [os.environ['QBJOBID'], os.environ['QBSUBID'], qb.jobid(), qb.subid()],\n"
        "    'job': [job['name'], job['cpus'], job['package'], str('agenda' in job)]}\n"
        "qb.reportwork(work)\n"
        "qb.reportjob('complete')\n")
    qube.stop()
    from qb.supervisor import start_supervisor
    handle = start_supervisor(os.environ["QB_FAKE_ROOT"], [str(tmp_path / "types")])
    try:
        [job] = qb.submit(qb.Job({"name": "p", "prototype": "probe", "env": {"PROBE": "yes"},
                                  "package": {"k": [1]}, "agenda": [{"name": "x"}]}))
        result = finished(qb, job["id"])["agenda"][0]["resultpackage"]
    finally:
        handle.stop()
    assert result["env"] == "yes"
    assert result["qb"] == os.path.join(FAKES, "qb", "__init__.py")
    assert result["ids"] == [str(job["id"]), "0", job["id"], 0]
    assert result["job"] == ["p", 1, {"k": [1]}, "False"]


def test_threads_share_nothing(qb):
    """A client's poller thread and main thread may call qb at the same time."""
    import threading
    [job] = qb.submit(qb.Job({"prototype": "echo", "agenda": qb.genframes("1-20")}))
    errors = []

    def hammer():
        try:
            for _ in range(50):
                qb.jobinfo(id=[job["id"]], agenda=True)
                qb.blockwork("%d:3" % job["id"])
                qb.unblockwork("%d:3" % job["id"])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and qb.calls["jobinfo"] == 150


# -- callbacks ---------------------------------------------------------------------------

def callback(triggers, code="pass\n", **fields):
    fields.update(triggers=triggers, language="python", code=code)
    return fields


def cb_log(jobid):
    path = os.path.join(os.environ["QB_FAKE_ROOT"], "logs", str(jobid), "%d.cb" % jobid)
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def callbacks_of(qb, jobid):
    [job] = qb.jobinfo(id=[jobid], callbacks=True)
    return job["callbacks"]


def counts(qb, jobid):
    return [cb["count"] for cb in callbacks_of(qb, jobid)]


@pytest.mark.parametrize("triggers, error, token", [
    ("complete-jobs-self", ValueError, "jobs"),
    ("finished-job-self", ValueError, "finished"),
    ("complete-job-self & done-job-self", ValueError, "&"),
    ("complete-job-self AND done-job-self", ValueError, "AND"),
    ("complete-job-self &&", ValueError, "end"),
    ("(complete-job-self", ValueError, r"\)"),
    ("complete-job-self)", ValueError, r"\)"),
    ("complete-work-self", ValueError, "complete-work-self"),
    ("complete-job-self-3", ValueError, "complete-job-self-3"),
    ("complete", ValueError, "complete"),
    ("complete-job-nosuchlabel", ValueError, "nosuchlabel"),
    ("complete-job-999", ValueError, "999"),
    ("complete-job-parent", ValueError, "parent"),
    ("done-subjob-self-5", NotImplementedError, "subjob"),
    ("modified-job-self", NotImplementedError, "modified"),
    ([], ValueError, "triggers"),
])
def test_callback_triggers_are_checked_at_submit(qb, triggers, error, token):
    job = job_of(qb, items=[{}], callbacks=[callback(triggers)])
    with pytest.raises(error, match=token):
        qb.submit(job)
    assert qb.jobinfo() == []  # nothing of the submit is left


def test_callback_fields_are_checked(qb):
    def attempt(**fields):
        qb.submit(job_of(qb, callbacks=[fields]))
    with pytest.raises(ValueError, match="trigers"):
        attempt(trigers="done-job-self", language="python", code="pass")
    with pytest.raises(ValueError, match="language"):
        attempt(triggers="done-job-self", code="pass")
    with pytest.raises(NotImplementedError, match="perl"):
        attempt(triggers="done-job-self", language="perl", code="print 1;")
    with pytest.raises(NotImplementedError, match="qube"):
        attempt(triggers="done-job-self", language="qube", code="unblock-self")
    with pytest.raises(ValueError, match="mail"):
        attempt(triggers="done-job-self", language="mail", code="x")
    with pytest.raises(ValueError, match="compile"):
        attempt(triggers="done-job-self", language="python", code="qb.unblock(")
    with pytest.raises(ValueError, match="maximum"):
        attempt(triggers="done-job-self", language="python", code="pass", maximum=0)
    with pytest.raises(ValueError):
        qb.submit(job_of(qb, callbacks=callback("done-job-self")))  # not a list
    assert qb.jobinfo() == []
    # accepted: Callback objects, && / || and AND&& / OR|| with parentheses, lists of triggers
    cbs = [qb.Callback(callback("done-job-self")),
           callback("(complete-job-self AND&& done-job-a) OR|| failed-work-A-*"),
           callback("(complete-job-self&&done-job-a)||failed-work-a-1-10"),
           callback(["submit-job-self", "running-job-self"], maximum=1, user="me")]
    a, b = qb.submit([job_of(qb, "a", label="a"), job_of(qb, "b", callbacks=cbs)])
    got = callbacks_of(qb, b["id"])
    assert [cb["triggers"] for cb in got] == [cb["triggers"] for cb in cbs]
    assert all(isinstance(cb, qb.Callback) and cb["pid"] == b["id"] and cb["count"] == 0
               and cb["language"] == "python" for cb in got)
    assert [cb["maximum"] for cb in got] == [-1, -1, -1, 1] and got[3]["user"] == "me"
    assert "callbacks" not in qb.jobinfo(id=[b["id"]])[0]
    assert callbacks_of(qb, a["id"]) == []


def test_labels_resolve_within_the_process_group_only(qb):
    [first] = qb.submit(job_of(qb, "first", label="render"))
    with pytest.raises(ValueError, match="render"):  # another submit: another pgrp
        qb.submit(job_of(qb, callbacks=[callback("complete-job-render")]))
    # joining the pgrp explicitly makes the label visible; ids work from anywhere
    [joined] = qb.submit(job_of(qb, pgrp=first["pgrp"], callbacks=[
        callback("complete-job-render"), callback("complete-job-%d" % first["id"])]))
    assert joined["pgrp"] == first["pgrp"]
    with pytest.raises(ValueError, match="ambiguous"):
        qb.submit([job_of(qb, "x", label="Comp"), job_of(qb, "y", label="comp"),
                   job_of(qb, callbacks=[callback("done-job-comp")])])


def test_callbacks_page_example_unblocks_frame_by_frame(qube, qb):
    """reference/004: job C's items are blocked; each is unblocked (with C) by a callback once
    the same frame of jobs A AND B completes. Frame 1 of B fails: C's frame 1 stays blocked."""
    jobA = job_of(qb, "a", items=[{}, {}, {}], label="ribGen")
    jobB = job_of(qb, "b", items=[{"sleep": 0.3}, {"fail": "always"}, {}], label="render")
    jobC = job_of(qb, "c", items=[{}, {}, {}], label="composite")
    callbacks = []
    for item in jobC["agenda"]:
        item["status"] = "blocked"
        frameNumber = item["name"]
        cbCode = 'jobId = qb.jobid()\n'
        cbCode += 'qb.workunblock("%%s:%s" %% jobId)\n' % frameNumber
        cbCode += 'qb.unblock(jobId)\n'
        triggerStr = 'complete-work-ribgen-%s' % frameNumber
        triggerStr += ' AND&& '
        triggerStr += 'complete-work-render-%s' % frameNumber
        callbacks.append({'triggers': triggerStr, 'language': 'python', 'code': cbCode})
    jobC['callbacks'] = callbacks
    a, b, c = [job["id"] for job in qb.submit([jobA, jobB, jobC])]
    wait_until(lambda: [w["status"] for w in work(qb, c)] == ["complete", "blocked",
                                                              "complete"], what="C's frames")
    assert finished(qb, a)["status"] == "complete" and finished(qb, b)["status"] == "failed"
    [job] = qb.jobinfo(id=[c], agenda=True, callbacks=True)
    assert job["status"] == "blocked" and [cb["count"] for cb in job["callbacks"]] == [1, 0, 1]
    for frame in (0, 2):  # each C frame ran after both of its upstream frames completed
        upstream = max(work(qb, a)[frame]["timecomplete"], work(qb, b)[frame]["timecomplete"])
        assert job["agenda"][frame]["timestart"] >= upstream
    assert cb_log(c).count("runs (count 1") == 2


def test_or_and_latching_and_refiring(qube, qb):
    """(A && B) || C: C failing fires it; then A alone does not; A and B together fire it
    again (event-driven: the callback runs each time its trigger is met, up to maximum)."""
    code = "qb.unblock(qb.jobid())\nprint('fired for', qb.jobid())\n"
    a, b, c, x = [job["id"] for job in qb.submit([
        job_of(qb, "a", items=[{}], label="a", status="blocked"),
        job_of(qb, "b", items=[{}], label="b", status="blocked"),
        job_of(qb, "c", items=[{"fail": "always"}], label="c"),
        job_of(qb, "x", items=[{}], status="blocked", callbacks=[
            callback("(complete-job-a && complete-job-b) || failed-job-c", code)])])]
    assert finished(qb, x)["status"] == "complete"
    assert counts(qb, x) == [1] and "fired for %d" % x in cb_log(x)
    qb.unblock(a)
    finished(qb, a)
    time.sleep(0.3)
    assert counts(qb, x) == [1]  # A alone: the AND is half met
    qb.unblock(b)
    finished(qb, b)
    wait_until(lambda: counts(qb, x) == [2], what="the second firing")
    time.sleep(0.3)
    assert counts(qb, x) == [2] and cb_log(x).count("fired for") == 2


def test_done_job_self_fires_once_per_ending(qube, qb):
    code = "print('done', qb.jobid())\n"
    done = [callback("done-job-self", code), callback("submit-job-self", "print('submitted')"),
            callback("complete-job-self || failed-job-self || killed-job-self",
                     "print('ended')", maximum=1)]
    ok = submit(qb, "ok", [{}, {}], callbacks=done)
    bad = submit(qb, "bad", [{}, {"fail": "always"}], callbacks=done)
    slow = submit(qb, "slow", [{"sleep": 30}], callbacks=done)
    wait_until(lambda: work(qb, slow)[0]["status"] == "running", what="slow to run")
    qb.kill(slow)
    for jobid, status in ((ok, "complete"), (bad, "failed"), (slow, "killed")):
        assert finished(qb, jobid)["status"] == status
        wait_until(lambda: counts(qb, jobid) == [1, 1, 1], what="callbacks of %d" % jobid)
        # The count goes up as a callback starts; what it prints lands in the log after.
        wait_until(lambda: cb_log(jobid).count("done %d" % jobid) == 1,
                   what="the done callback's output of %d" % jobid)
    time.sleep(0.3)
    assert [counts(qb, jobid) for jobid in (ok, bad, slow)] == [[1, 1, 1]] * 3
    # a retried job ends again: done-job-self fires again; maximum=1 keeps the other at 1
    qb.retrywork("%d:0" % ok)
    wait_until(lambda: counts(qb, ok) == [2, 1, 1], what="the second ending")
    wait_until(lambda: cb_log(ok).count("done %d" % ok) == 2, what="its output")
    assert cb_log(ok).count("ended") == 1


def test_failed_work_triggers_and_state_changes_from_callbacks(qube, qb):
    retry = "qb.retrywork('%d:1' % qb.jobid())\nprint('retried')\n"
    jobid = submit(qb, "j", [{}, {"fail": "first"}, {"fail": "always"}], callbacks=[
        callback("failed-work-self-*", "print('failed')"),
        callback("failed-work-self-1", retry),
        callback("complete-work-self-1", "print('item 1 complete')")])
    # the job is failed for a moment, until the callback retries item 1
    wait_until(lambda: [w["status"] for w in work(qb, jobid)] == ["complete", "complete",
                                                                  "failed"], what="the retry")
    job = finished(qb, jobid)
    assert job["status"] == "failed" and job["agenda"][1]["count"] == 2
    wait_until(lambda: counts(qb, jobid) == [2, 1, 1], what="the callbacks")
    wait_until(lambda: "item 1 complete" in cb_log(jobid) and
               cb_log(jobid).count("failed\n") == 2, what="their output")
    assert "retried" in cb_log(jobid)
    # an automatic retry (retrywork) is not a failure event: only the final failure is
    auto = submit(qb, "auto", [{"fail": "first"}, {"fail": "always"}], retrywork=1,
                  callbacks=[callback("failed-work-self-*", "print('failed')")])
    assert [w["status"] for w in finished(qb, auto)["agenda"]] == ["complete", "failed"]
    wait_until(lambda: counts(qb, auto) == [1], what="one failure event")
    time.sleep(0.3)
    assert counts(qb, auto) == [1]


def test_submitcallback_on_an_existing_job(qube, qb):
    first = submit(qb, "first", [{}], status="blocked")
    second = submit(qb, "second", [{}], status="blocked")
    with pytest.raises(ValueError, match="pid"):
        qb.submitcallback(callback("complete-job-%d" % first, "qb.unblock(qb.jobid())"))
    with pytest.raises(ValueError, match="999"):
        qb.submitcallback(callback("done-job-self", pid=999))
    with pytest.raises(ValueError, match="render"):
        qb.submitcallback(callback("done-job-render", pid=second))
    ids = qb.submitcallback(qb.Callback(callback("complete-job-%d" % first,
                                                 "qb.unblock(qb.jobid())", pid=second)))
    assert len(ids) == 1 and [cb["id"] for cb in callbacks_of(qb, second)] == ids
    time.sleep(0.2)
    assert qb.jobinfo(id=[second])[0]["status"] == "blocked"
    qb.unblock(first)
    assert finished(qb, second)["status"] == "complete"
    assert counts(qb, second) == [1]
    # event-driven: a callback added after its event never fires
    qb.submitcallback(callback("complete-job-%d" % first, "print('late')", pid=second))
    time.sleep(0.3)
    assert counts(qb, second) == [1, 0] and "late" not in cb_log(second)


def test_a_callback_that_raises_is_logged_and_the_supervisor_survives(qube, qb):
    jobid = submit(qb, "j", [{}], callbacks=[
        callback("done-job-self", "print('before')\nraise RuntimeError('boom')\n"),
        callback("done-job-self", "import sys\nsys.exit(3)\n"),
        callback("done-job-self", "print('third ran', qb.jobid())\n")])
    finished(qb, jobid)
    wait_until(lambda: "third ran %d" % jobid in cb_log(jobid), what="the third callback")
    log = cb_log(jobid)
    assert "before" in log and "RuntimeError: boom" in log and "Traceback" in log
    assert "SystemExit" in log
    assert "RuntimeError: boom" in qube.log() and qube.alive()
    time.sleep(0.3)
    assert counts(qb, jobid) == [1, 1, 1]
    assert finished(qb, submit(qb, "after", [{}]))["status"] == "complete"  # still serving
    with pytest.raises(RuntimeError, match="QBJOBID"):
        qb.jobid()  # outside a subjob and a callback


def test_callbacks_run_in_the_supervisor_environment(qb, tmp_path):
    """Callback code runs in the supervisor's Python: it imports what the supervisor's
    PYTHONPATH holds (start_supervisor(env=...)), nothing of the submitter's sys.path."""
    from qb.supervisor import start_supervisor
    site = tmp_path / "site"
    site.mkdir()
    (site / "cbhelper.py").write_text("def hello(jobid):\n    print('hello from', jobid)\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    handle = start_supervisor(os.environ["QB_FAKE_ROOT"], [TYPES], env=env)
    try:
        jobid = submit(qb, "j", [{}], callbacks=[
            callback("complete-job-self", "import cbhelper\ncbhelper.hello(qb.jobid())\n"),
            callback("complete-job-self", "import os\nprint('pid', os.getpid())\n")])
        finished(qb, jobid)
        wait_until(lambda: "pid %d" % handle.pid in cb_log(jobid), what="the callbacks")
        assert "hello from %d" % jobid in cb_log(jobid)
    finally:
        handle.stop()
