"""The fake Cuebot (tests/fakes/cuebot) through the real pycue, with frames run by the real RQD:
what every OpenCue test stands on. Each test checks one behaviour of the real Cuebot."""
import os
import time
import uuid

import pytest

opencue = pytest.importorskip("opencue")
from opencue_proto import job_pb2  # noqa: E402

from tests.fakes.cuebot import spec as cjsl  # noqa: E402

FRAME = job_pb2.FrameState
SHOT = "sh010"
USER = "tester"   # Cuebot refuses jobs whose user is root


def make_spec(layers, name=None, version="1.15", show="testing", extra_job="", depends="",
              jobs=None):
    """A cjsl spec; ``layers`` is [(name, cmd, range, chunk, extra xml)]."""
    def job_xml(job_name, job_layers, job_extra):
        xml = "".join(
            '<layer name="%s" type="Render"><cmd>%s</cmd><range>%s</range><chunk>%d</chunk>%s'
            "</layer>" % (lname, _escape(cmd), frange, chunk, lextra)
            for lname, cmd, frange, chunk, lextra in job_layers)
        return '<job name="%s">%s<layers>%s</layers></job>' % (job_name, job_extra, xml)
    if jobs is None:
        jobs = [(name or "job_" + uuid.uuid4().hex[:8], layers, extra_job)]
    return ('<?xml version="1.0"?><!DOCTYPE spec PUBLIC "SPI Cue  Specification Language" '
            '"http://localhost:8080/spcue/dtd/cjsl-%s.dtd"><spec><show>%s</show><shot>%s</shot>'
            "<user>%s</user>%s%s</spec>"
            % (version, show, SHOT, USER, "".join(job_xml(*job) for job in jobs),
               "<depends>%s</depends>" % depends if depends else ""))


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def launch(spec):
    return opencue.api.launchSpecAndWait(spec)[0]


def frames_of(job):
    return {frame.name(): frame for frame in opencue.api.getJob(job.id()).getFrames()}


def states(job):
    return {name: FRAME.Name(frame.state()) for name, frame in frames_of(job).items()}


def wait_for(predicate, timeout=20.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting; last value: %r" % (value,))


def wait_states(job, expected, timeout=20.0):
    """Wait until the frames are in ``expected`` ({name: state name}); return them."""
    def check():
        current = states(job)
        return current if all(current.get(k) == v for k, v in expected.items()) else None
    try:
        return wait_for(check, timeout)
    except AssertionError:
        raise AssertionError("frames %r, expected %r" % (states(job), expected))


# -- launching ------------------------------------------------------------------------------


def test_launch_builds_the_job_name_layers_and_frames_as_cuebot_does(cue):
    job = launch(make_spec([("Render-Main", "true", "1-10x3", 1, "")], name="My-Export"))
    assert job.name() == "testing-%s-%s_my_export" % (SHOT, USER)
    assert job.state() == job_pb2.PENDING
    layer, = job.getLayers()
    assert layer.name() == "render_main"
    assert sorted(frames_of(job)) == ["0001-render_main", "0004-render_main",
                                      "0007-render_main", "0010-render_main"]
    assert job.logDir().startswith(os.path.join(cue.log_root, "testing", SHOT, "logs",
                                                job.name() + "--" + job.id()))


def test_a_spec_for_an_unknown_show_is_refused_until_the_show_exists(cue):
    spec = make_spec([("work", "true", "1", 1, "")], show="newshow")
    with pytest.raises(opencue.exception.CueException, match="newshow does not exist"):
        opencue.api.launchSpec(spec)
    cue.create_show("newshow")
    assert launch(spec).show() == "newshow"


def test_a_spec_that_breaks_the_dtd_is_refused(cue):
    no_chunk = make_spec([("work", "true", "1", 1, "")]).replace("<chunk>1</chunk>", "")
    with pytest.raises(opencue.exception.CueException, match='element type "layer"'):
        opencue.api.launchSpec(no_chunk)
    no_doctype = make_spec([("work", "true", "1", 1, "")]).split("?>", 1)[1].split(">", 1)[1]
    with pytest.raises(opencue.exception.CueException, match="no grammar found"):
        opencue.api.launchSpec(no_doctype)


@pytest.mark.parametrize("layer, chunk, error", [
    ("work", 0, "the range 1-3 is invalid"), ("work", -2, "the range 1-3 is invalid"),
    ("wörk", 1, "is not in the proper format")])
@pytest.mark.parametrize("launcher", ["launchSpec", "launchSpecAndWait"])
def test_a_chunk_below_one_or_a_name_beyond_ascii_is_refused(cue, launcher, layer, chunk, error):
    """Cuebot's JobSpec checks names with Java's ASCII patterns over the whole string, and
    its frame-range arithmetic divides by the chunk. Both servants parse the spec before they
    answer, so the refusal is the answer and no such job ever exists."""
    name = "refused_" + uuid.uuid4().hex[:8]
    with pytest.raises(opencue.exception.CueInternalErrorException, match=error):
        getattr(opencue.api, launcher)(make_spec([(layer, "true", "1-3", chunk, "")], name=name))
    assert opencue.api.getJobs(substr=[name], include_finished=True) == []


def test_root_cannot_launch_jobs(cue):
    spec = make_spec([("work", "true", "1", 1, "")]).replace("<user>%s<" % USER, "<user>root<")
    with pytest.raises(opencue.exception.CueException, match="Cannot launch jobs as root"):
        opencue.api.launchSpec(spec)


def test_launch_spec_returns_names_and_the_job_appears(cue):
    names = opencue.api.launchSpec(make_spec([("work", "true", "1", 1, "")]))
    job = wait_for(lambda: opencue.api.getJobs(job=list(names)))[0]
    assert job.name() == names[0]
    assert opencue.api.isJobPending(names[0]) or job.state() == job_pb2.FINISHED


# -- running frames on the real RQD ------------------------------------------------------


def test_frames_run_on_rqd_and_succeed_or_die(cue):
    job = launch(make_spec([("work", "sh -c 'exit $((#IFRAME# == 2))'", "1-2", 1,
                             "")], extra_job="<maxretries>0</maxretries>"))
    wait_states(job, {"0001-work": "SUCCEEDED", "0002-work": "DEAD"})
    frame = frames_of(job)["0002-work"]
    assert frame.exitStatus() == 1
    assert frame.retries() == 0
    job = opencue.api.getJob(job.id())
    assert job.state() == job_pb2.PENDING           # a dead frame keeps the job pending
    assert (job.succeededFrames(), job.deadFrames()) == (1, 1)


def test_a_job_whose_frames_all_succeed_finishes(cue):
    job = launch(make_spec([("work", "true", "1-3", 1, "")]))
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    assert opencue.api.getJobs(id=[job.id()]) == []          # GetJobs: pending jobs only
    finished, = opencue.api.getJobs(id=[job.id()], include_finished=True)
    assert finished.succeededFrames() == 3
    with pytest.raises(opencue.exception.EntityNotFoundException):
        opencue.api.findJob(job.name())                      # FindJob: pending jobs only


def test_frames_are_seen_running_then_succeeded_through_get_updated_frames(cue):
    job = launch(make_spec([("work", "sleep 1", "1", 1, "")]))
    last_check = int(time.time()) - 1
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline:
        response = job.getUpdatedFrames(last_check)
        last_check = response.server_time
        seen.extend(FRAME.Name(update.state) for update in response.updated_frames.updated_frames)
        if response.state == job_pb2.FINISHED:
            break
        time.sleep(0.1)
    assert "RUNNING" in seen and seen[-1] == "SUCCEEDED"
    assert job_pb2.JobState.Name(response.state) == "FINISHED"


def test_get_updated_frames_reports_only_what_changed(cue):
    job = launch(make_spec([("work", "true", "1-2", 1, "")]))
    wait_states(job, {"0001-work": "SUCCEEDED", "0002-work": "SUCCEEDED"})
    time.sleep(1.1)
    response = job.getUpdatedFrames(int(time.time()))
    assert list(response.updated_frames.updated_frames) == []
    assert response.state == job_pb2.FINISHED


def test_get_updated_frames_refuses_a_last_check_over_a_minute_old(cue):
    job = launch(make_spec([("work", "true", "1", 1, "")]))
    stub = opencue.Cuebot.getStub("job")
    import grpc
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetUpdatedFrames(job_pb2.JobGetUpdatedFramesRequest(
            job=job.data, last_check=int(time.time()) - 120), timeout=0.5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_command_tokens_and_environment_reach_the_frame(cue, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cmd = ("sh -c 'echo #IFRAME# #FRAME_START# #FRAME_END# #JOB# #LAYER# #FRAME# "
           "$CUE_IFRAME $MY_VAR $LAYER_VAR > %s/#IFRAME#.txt'" % out)
    job = launch(make_spec([("work", cmd, "1-5", 2, '<env><key name="LAYER_VAR">lv</key></env>')],
                           extra_job='<env><key name="MY_VAR">job value</key></env>'))
    wait_states(job, {"0001-work": "SUCCEEDED", "0003-work": "SUCCEEDED",
                      "0005-work": "SUCCEEDED"})
    assert sorted(os.listdir(str(out))) == ["1.txt", "3.txt", "5.txt"]
    assert (out / "3.txt").read_text().split() == [
        "3", "3", "4", job.name(), "work", "0003-work", "3", "job", "value", "lv"]
    assert (out / "5.txt").read_text().split()[:3] == ["5", "5", "5"]


def test_frame_logs_are_where_pycue_says(cue):
    job = launch(make_spec([("work", "echo hello from #FRAME#", "1", 1, "")]))
    wait_states(job, {"0001-work": "SUCCEEDED"})
    frame = frames_of(job)["0001-work"]
    path = opencue.util.logPath(job, frame)
    assert path == os.path.join(job.logDir(), "%s.0001-work.rqlog" % job.name())
    text = open(path).read()
    assert "hello from 0001-work" in text
    assert "exitStatus          0" in text


def test_frames_run_as_the_user_running_rqd(cue, tmp_path):
    out = tmp_path / "uid"
    job = launch(make_spec([("work", "sh -c 'id -u > %s'" % out, "1", 1, "")]))
    wait_states(job, {"0001-work": "SUCCEEDED"})
    assert int(out.read_text()) == os.getuid()


def test_rqd_listens_on_loopback_only(cue):
    import psutil
    process = psutil.Process(cue.rqd.process.pid)
    connections = getattr(process, "net_connections", None) or process.connections  # psutil<6
    listening = [conn.laddr for conn in connections("inet") if conn.status == psutil.CONN_LISTEN]
    # gRPC opens a dual-stack socket bound to the IPv4 loopback address only.
    assert listening and all(address.ip in ("127.0.0.1", "::ffff:127.0.0.1")
                             for address in listening)


# -- killing ------------------------------------------------------------------------------


def test_killing_a_job_stops_its_frames_on_the_host(cue):
    job = launch(make_spec([("work", "sleep 60", "1", 1, "")]))
    wait_sleeping(cue, 1)
    job.kill(reason="test")
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    wait_for(lambda: not any("sleep" in " ".join(p.cmdline()) for p in _alive(cue)))
    assert states(job) == {"0001-work": "WAITING"}
    assert frames_of(job)["0001-work"].exitStatus() == 500


def wait_sleeping(cue, count):
    """Wait until RQD runs ``count`` `sleep` commands. Tests kill only frames RQD has forked:
    RQD 1.37 answers a kill that comes before (its frame pid is still 0) with killpg(0),
    which kills RQD itself."""
    wait_for(lambda: len([p for p in _alive(cue) if p.cmdline()[:1] == ["sleep"]]) >= count)


def _alive(cue):
    alive = []
    for process in cue.rqd.frame_processes():
        try:
            process.cmdline()
            alive.append(process)
        except Exception:
            pass
    return alive


def test_killing_a_frame_counts_as_a_failed_run(cue, tmp_path):
    """Cuebot kills through RQD and the report decides: WAITING while a retry is left (the
    frame runs again), DEAD once none is."""
    runs = tmp_path / "runs"
    cmd = "sh -c 'echo run >> %s; sleep 60'" % runs
    job = launch(make_spec([("work", cmd, "1", 1, "")]))
    for attempt in (1, 2):
        wait_for(lambda: runs.exists() and len(runs.read_text().split()) == attempt)
        wait_sleeping(cue, 1)
        frames_of(job)["0001-work"].kill(reason="test")
        if attempt == 1:
            wait_for(lambda: frames_of(job)["0001-work"].retries() == 1)  # running again
    wait_states(job, {"0001-work": "DEAD"})
    frame = frames_of(job)["0001-work"]
    assert (frame.exitStatus(), frame.retries()) == (1, 1)
    assert runs.read_text().split() == ["run", "run"]


def test_kill_frames_on_the_job_kills_only_the_matching_frames(cue):
    job = launch(make_spec([("work", "sleep 60", "1-2", 1, "")],
                           extra_job="<maxretries>0</maxretries>"))
    wait_sleeping(cue, 2)
    job.killFrames(name=["0002-work"])
    wait_states(job, {"0001-work": "RUNNING", "0002-work": "DEAD"})


# -- retries, eat, auto-eat ---------------------------------------------------------------


def test_a_failing_frame_is_retried_max_retries_times_then_dead(cue, tmp_path):
    runs = tmp_path / "runs"
    job = launch(make_spec([("work", "sh -c 'echo run >> %s; exit 3'" % runs, "1", 1, "")],
                           extra_job="<maxretries>5</maxretries>"))   # Cuebot clamps to 1
    wait_states(job, {"0001-work": "DEAD"})
    frame = frames_of(job)["0001-work"]
    assert (frame.exitStatus(), frame.retries()) == (3, 1)
    assert runs.read_text().split() == ["run", "run"]


def test_retrying_a_dead_frame_runs_it_again_and_the_job_finishes(cue, tmp_path):
    marker = tmp_path / "fixed"
    job = launch(make_spec([("work", "test -e %s" % marker, "1-2", 1, "")],
                           extra_job="<maxretries>0</maxretries>"))
    wait_states(job, {"0001-work": "DEAD", "0002-work": "DEAD"})
    marker.write_text("")
    job.retryFrames(name=["0001-work"])
    wait_states(job, {"0001-work": "SUCCEEDED", "0002-work": "DEAD"})
    frames_of(job)["0002-work"].retry()
    wait_states(job, {"0002-work": "SUCCEEDED"})
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)


def test_retrying_a_running_frame_ends_like_a_kill_with_this_rqd(cue, tmp_path):
    """Cuebot must confirm through GetRunningFrameStatus that the render is gone; RQD 1.37
    fails that call, so Cuebot defers the retry and the kill's report decides."""
    job = launch(make_spec([("work", "sleep 60", "1", 1, "")],
                           extra_job="<maxretries>0</maxretries>"))
    wait_sleeping(cue, 1)
    frames_of(job)["0001-work"].retry()
    wait_states(job, {"0001-work": "DEAD"})


def test_eating_frames_finishes_the_job(cue):
    job = launch(make_spec([("work", "sh -c 'exit #IFRAME#'", "0-2", 1, ""),
                            ("slow", "sleep 60", "1", 1, "")],
                           extra_job="<maxretries>0</maxretries>"))
    wait_states(job, {"0000-work": "SUCCEEDED", "0001-work": "DEAD", "0002-work": "DEAD",
                      "0001-slow": "RUNNING"})
    job.eatFrames(state=[job_pb2.DEAD])
    wait_states(job, {"0001-work": "EATEN", "0002-work": "EATEN"})
    assert opencue.api.getJob(job.id()).state() == job_pb2.PENDING
    wait_sleeping(cue, 1)
    frames_of(job)["0001-slow"].eat()                       # a running frame: killed, EATEN
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    assert frames_of(job)["0001-slow"].exitStatus() == 506
    wait_for(lambda: not _alive(cue))


def test_auto_eat_eats_a_failed_frame_and_the_job_finishes(cue):
    job = launch(make_spec([("work", "false", "1", 1, "")],
                           extra_job="<maxretries>1</maxretries><autoeat>True</autoeat>"))
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    assert states(job) == {"0001-work": "EATEN"}
    assert frames_of(job)["0001-work"].retries() == 0


# -- depends ------------------------------------------------------------------------------


def _depend(kind, depjob, onjob, deplayer=None, onlayer=None, depframe=None, onframe=None):
    parts = ["<depjob>%s</depjob>" % depjob]
    if deplayer:
        parts.append("<deplayer>%s</deplayer>" % deplayer)
    if depframe:
        parts.append("<depframe>%s</depframe>" % depframe)
    parts.append("<onjob>%s</onjob>" % onjob)
    if onlayer:
        parts.append("<onlayer>%s</onlayer>" % onlayer)
    if onframe:
        parts.append("<onframe>%s</onframe>" % onframe)
    return '<depend type="%s">%s</depend>' % (kind, "".join(parts))


def test_layer_on_layer_waits_for_the_whole_layer(cue, tmp_path):
    gate = tmp_path / "gate"
    spec = make_spec([("first", "sh -c 'while [ ! -e %s ]; do sleep 0.05; done'" % gate,
                       "1-2", 1, ""),
                      ("second", "true", "1-2", 1, "")], name="lol_job",
                     depends=_depend("LAYER_ON_LAYER", "lol_job", "lol_job", "second", "first"))
    job = launch(spec)
    wait_states(job, {"0001-first": "RUNNING", "0002-first": "RUNNING",
                      "0001-second": "DEPEND", "0002-second": "DEPEND"})
    depend, = job.getLayers()[1].getWhatThisDependsOn()
    assert depend.data.depend_on_layer == "first"
    gate.write_text("")
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)


def test_frame_on_frame_waits_for_that_frame_only(cue, tmp_path):
    gate = tmp_path / "gate"
    spec = make_spec([("first", "sh -c 'test #IFRAME# = 1 || while [ ! -e %s ]; do "
                       "sleep 0.05; done'" % gate, "1-2", 1, ""),
                      ("second", "true", "1-2", 1, "")], name="fof_job",
                     depends=(_depend("FRAME_ON_FRAME", "fof_job", "fof_job",
                                      depframe="0001-second", onframe="0001-first")
                              + _depend("FRAME_ON_FRAME", "fof_job", "fof_job",
                                        depframe="0002-second", onframe="0002-first")))
    job = launch(spec)
    wait_states(job, {"0001-first": "SUCCEEDED", "0001-second": "SUCCEEDED",
                      "0002-first": "RUNNING", "0002-second": "DEPEND"})
    gate.write_text("")
    wait_states(job, {"0002-second": "SUCCEEDED"})


def test_job_on_job_across_specs_and_a_kill_releases_the_waiting_job(cue):
    first = launch(make_spec([("work", "sleep 60", "1", 1, "")], name="upstream"))
    second = launch(make_spec([("work", "true", "1", 1, "")], name="downstream",
                              depends=_depend("JOB_ON_JOB", "downstream", "upstream")))
    wait_sleeping(cue, 1)
    assert states(second) == {"0001-work": "DEPEND"}
    depend, = second.getWhatThisDependsOn()
    assert depend.data.depend_on_job == first.name()
    first.kill(reason="test")       # Cuebot satisfies what depends on a job it shuts down
    wait_states(second, {"0001-work": "SUCCEEDED"})


def test_a_depend_on_a_finished_job_fails_the_launch(cue):
    done = launch(make_spec([("work", "true", "1", 1, "")], name="already_done"))
    wait_for(lambda: opencue.api.getJob(done.id()).state() == job_pb2.FINISHED)
    spec = make_spec([("work", "true", "1", 1, "")], name="late",
                     depends=_depend("JOB_ON_JOB", "late", "already_done"))
    with pytest.raises(opencue.exception.CueException, match="unable to find job info"):
        opencue.api.launchSpecAndWait(spec)
    assert not opencue.api.isJobPending("testing-%s-%s_late" % (SHOT, USER))


def test_a_dead_or_eaten_frame_does_not_satisfy_a_depend(cue):
    spec = make_spec([("first", "false", "1", 1, ""), ("second", "true", "1", 1, "")],
                     name="dead_dep", extra_job="<maxretries>0</maxretries>",
                     depends=_depend("LAYER_ON_LAYER", "dead_dep", "dead_dep", "second", "first"))
    job = launch(spec)
    wait_states(job, {"0001-first": "DEAD", "0001-second": "DEPEND"})
    job.eatFrames(name=["0001-first"])
    wait_states(job, {"0001-first": "EATEN"})
    time.sleep(0.5)
    assert states(job)["0001-second"] == "DEPEND"


def test_depends_created_through_pycue(cue, tmp_path):
    gate = tmp_path / "gate"
    first = launch(make_spec([("work", "sh -c 'while [ ! -e %s ]; do sleep 0.05; done'" % gate,
                               "1", 1, "")]))
    second = launch(make_spec([("work", "true", "1-2", 1, "")],
                              extra_job="<paused>True</paused>"))
    frame = frames_of(second)["0002-work"]
    frame.createDependencyOnFrame(frames_of(first)["0001-work"])
    second.createDependencyOnJob(first)
    assert states(second) == {"0001-work": "DEPEND", "0002-work": "DEPEND"}
    assert len(frame.getWhatThisDependsOn()) == 1
    second.resume()
    gate.write_text("")
    wait_for(lambda: opencue.api.getJob(second.id()).state() == job_pb2.FINISHED)


# -- hosts and jobs going away ------------------------------------------------------------


def test_a_host_that_dies_mid_frame_gives_its_frames_back(cue, tmp_path):
    """RQD (and its frames) die: once the host has not reported for Cuebot's down interval
    its frames go back to WAITING (exit status 399, no retry spent) and run elsewhere."""
    marker = tmp_path / "ran_once"
    cmd = "sh -c 'test -e %s || { touch %s; sleep 60; }'" % (marker, marker)
    job = launch(make_spec([("work", cmd, "1", 1, "")], extra_job="<maxretries>0</maxretries>"))
    wait_states(job, {"0001-work": "RUNNING"})
    wait_for(marker.exists)
    cue.rqd.crash()
    cue.engine.host_down_after = 1.0
    try:
        wait_states(job, {"0001-work": "WAITING"})
        assert frames_of(job)["0001-work"].exitStatus() == 399
    finally:
        cue.engine.host_down_after = 300.0
    cue.rqd.start()
    wait_states(job, {"0001-work": "SUCCEEDED"})
    assert frames_of(job)["0001-work"].retries() == 0


def test_a_removed_job_is_gone_from_every_query(cue):
    job = launch(make_spec([("work", "true", "1", 1, "")]))
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    cue.engine.remove_job(cue.engine.get_job(job.id()))
    with pytest.raises(opencue.exception.EntityNotFoundException):
        opencue.api.getJob(job.id())
    assert opencue.api.getJobs(id=[job.id()], include_finished=True) == []


# -- the spec parser ----------------------------------------------------------------------


@pytest.mark.parametrize("frame_range, chunk, first_frames", [
    ("1-10", 1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ("1-10", 4, [1, 5, 9]),
    ("1-10x3", 1, [1, 4, 7, 10]),
    ("1-10y3", 1, [2, 3, 5, 6, 8, 9]),
    ("1-10:5", 1, [1, 6, 3, 5, 7, 9, 2, 4, 8, 10]),
    ("10-1", 1, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ("1,3,5-6", 2, [1, 5]),
    ("1-3", 100, [1]),
])
def test_frame_ranges_and_chunks_as_cuebot(frame_range, chunk, first_frames):
    assert cjsl.normalize(frame_range, chunk) == first_frames


def test_the_chunk_a_frame_runs_is_cuebots_frame_spec():
    assert cjsl.chunk_spec("1-10", 9, 4) == ("9-10", 10)
    assert cjsl.chunk_spec("1-20x2", 1, 3) == ("1-5x2", 5)
    assert cjsl.chunk_spec("1,2,7,8", 1, 4) == ("1-2,7-8", 8)


def test_older_spec_versions_lack_newer_elements(cue):
    spec = make_spec([("work", "true", "1", 1, "")], version="1.12",
                     extra_job="<maxcores>2</maxcores>")
    with pytest.raises(opencue.exception.CueException,
                       match='Element type "maxcores" must be declared'):
        opencue.api.launchSpec(spec)
    launch(make_spec([("work", "true", "1", 1, "")], version="1.10"))


def test_frame_by_frame_waits_frame_for_frame_across_chunks(cue, tmp_path):
    gate = tmp_path / "gate"
    spec = make_spec([("first", "sh -c 'test #IFRAME# -lt 3 || while [ ! -e %s ]; do "
                       "sleep 0.05; done'" % gate, "1-4", 2, ""),
                      ("second", "true", "1-4", 1, "")], name="fbf_job",
                     depends=_depend("FRAME_BY_FRAME", "fbf_job", "fbf_job", "second", "first"))
    job = launch(spec)
    wait_states(job, {"0001-first": "SUCCEEDED", "0001-second": "SUCCEEDED",
                      "0002-second": "SUCCEEDED", "0003-first": "RUNNING",
                      "0003-second": "DEPEND", "0004-second": "DEPEND"})
    gate.write_text("")
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)


def test_every_call_is_logged_with_its_size(cue):
    start = len(cue.engine.rpc_calls)
    opencue.api.getJobs(show=["testing"])  # a criterion: the request is not empty
    call = [c for c in cue.engine.rpc_calls[start:] if c.method == "GetJobs"][-1]
    assert call.servant == "JobServant" and call.request_bytes > len("testing")
    assert ("JobServant", "GetJobs") in cue.engine.rpc_log


def test_get_frames_filters_and_pages_as_frame_search(cue):
    job = launch(make_spec([("one", "true", "1-6", 1, ""), ("two", "false", "1-2", 1, "")],
                           extra_job="<paused>True</paused><maxretries>0</maxretries>"))
    names = [f.name() for f in job.getFrames()]
    assert names == ["0001-one", "0001-two", "0002-one", "0002-two", "0003-one", "0004-one",
                     "0005-one", "0006-one"]            # frame order, then layer order
    assert [f.name() for f in job.getFrames(layer=["two"])] == ["0001-two", "0002-two"]
    assert [f.number() for f in job.getFrames(layer=["one"], range="2-4")] == [2, 3, 4]
    assert [f.name() for f in job.getFrames(limit=3, page=2)] == [
        "0002-two", "0003-one", "0004-one"]
    assert len(opencue.api.getFrames(job.name(), state=[job_pb2.WAITING])) == 8
    job.resume()
    wait_states(job, {"0001-two": "DEAD", "0002-two": "DEAD"})
    dead = job.getFrames(state=[job_pb2.DEAD])
    assert sorted(f.name() for f in dead) == ["0001-two", "0002-two"]


def test_an_unknown_facility_or_a_pending_name_fails_the_launch(cue):
    spec = make_spec([("work", "true", "1", 1, "")]).replace(
        "<show>", "<facility>nowhere</facility><show>")
    with pytest.raises(opencue.exception.CueException, match="failed to find facility"):
        opencue.api.launchSpecAndWait(spec)
    held = make_spec([("work", "true", "1", 1, "")], name="held_job",
                     extra_job="<paused>True</paused>")
    launch(held)
    with pytest.raises(opencue.exception.CueException, match="is already pending"):
        opencue.api.launchSpec(held)


# -- what Cuebot refuses, and how pycue sees it --------------------------------------------


def _job_named(name):
    return "testing-%s-%s_%s" % (SHOT, USER, name)


@pytest.mark.parametrize("launcher", ["launchSpec", "launchSpecAndWait"])
def test_a_launch_failure_is_an_internal_error_as_cuebot_answers(cue, launcher):
    """Cuebot's launch servants catch every exception and answer INTERNAL (its interceptor
    does the same for any other servant): pycue raises CueInternalErrorException, never the
    bare CueException an uncaught error (UNKNOWN) gives."""
    spec = make_spec([("work", "true", "1", 1, "")], extra_job="<priority>high</priority>")
    with pytest.raises(opencue.exception.CueInternalErrorException,
                       match='For input string: "high"'):
        getattr(opencue.api, launcher)(spec)


def test_acting_on_a_removed_job_answers_as_cuebots_servants_do(cue):
    """ManageJob catches a missing job (NOT_FOUND "Job not found"); ManageFrame and
    ManageLayer look the frame or layer up outside their try (INTERNAL)."""
    import grpc
    job = launch(make_spec([("work", "true", "1", 1, "")]))
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
    frame, = job.getFrames()
    layer, = job.getLayers()
    cue.engine.remove_job(cue.engine.get_job(job.id()))
    for call, code in ((job.retryFrames, grpc.StatusCode.NOT_FOUND),
                       (frame.retry, grpc.StatusCode.INTERNAL),
                       (layer.retry, grpc.StatusCode.INTERNAL)):
        with pytest.raises(grpc.RpcError) as raised:   # pycue passes these on as they are
            call()
        assert raised.value.code() == code
    assert raised.value.details() != "" and "Job not found" not in raised.value.details()


def test_a_frame_range_frame_search_cannot_read_is_an_internal_error(cue):
    """FrameSearch: ``a-b`` selects the numbers between (none when b < a); anything else is a
    FrameSet, and one it cannot parse fails the call."""
    import grpc
    job = launch(make_spec([("work", "true", "1-4", 1, "")], extra_job="<paused>True</paused>"))
    with pytest.raises(grpc.RpcError) as raised:   # pycue's getFrames passes it on as is
        job.getFrames(range="1-x")
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "unrecognized frame range syntax 1-x" in raised.value.details()
    assert [f.number() for f in job.getFrames(range="3-2")] == []
    assert [f.number() for f in job.getFrames(range="3-2x-1")] == [2, 3]
    assert [f.number() for f in job.getFrames(range="2-3")] == [2, 3]


@pytest.mark.parametrize("text, replacement", [
    ("<chunk>1</chunk>", "<chunk>1_0</chunk>"),                 # Python int() takes "_"
    ("<chunk>1</chunk>", "<chunk>2147483648</chunk>"),          # past Java's int
    ("<range>1</range>", "<range>2147483648</range>"),
    ("<range>1</range>", "<range>1-2147483648x1000000000</range>"),
    ("</user>", "</user><uid>1_000</uid>"),
    ("<layers>", "<priority>1_000</priority><layers>"),
    ("<layers>", "<maxretries>3000000000</maxretries><layers>"),
    ("<layers>", "<maxcores>1_0</maxcores><layers>"),
    ("</chunk>", "</chunk><cores>1_0</cores>"),
    ("</chunk>", "</chunk><cores>1.5_0</cores>"),               # Python float() takes "_"
    ("</chunk>", "</chunk><cores>inf.</cores>"),
    ("</chunk>", "</chunk><memory>2 g</memory>"),               # int("2 ") strips, Java not
    ("</chunk>", "</chunk><memory>1_024m</memory>"),
    ("</chunk>", "</chunk><memory>9999999999999g</memory>"),    # accepted: see below
    ("<layers>", '<localbook host="h" cores="1_0" memory="1" threads="1" gpu="0"/><layers>'),
    ("</chunk>", "</chunk><timeout>1_0</timeout>"),
])
def test_numbers_java_cannot_parse_are_refused(cue, text, replacement):
    """Cuebot reads a spec's numbers with Integer/Long.parseInt and Double.valueOf: no
    underscores, no inner spaces, 32-bit ints; each failure refuses the launch."""
    name = "number_" + uuid.uuid4().hex[:8]
    spec = make_spec([("work", "true", "1", 1, "")], name=name)
    assert text in spec
    spec = spec.replace(text, replacement, 1)
    if "9999999999999g" in replacement:   # Java's long wraps below the minimum reservation
        layer, = launch(spec).getLayers()
        assert layer.data.min_memory == 262144
        return
    with pytest.raises(opencue.exception.CueInternalErrorException, match="Failed to add job"):
        opencue.api.launchSpec(spec)
    assert not opencue.api.isJobPending(_job_named(name))


@pytest.mark.parametrize("text, replacement", [
    ('<job name="{name}">', '<job name="{name} x">'),
    ('<layer name="work"', '<layer name="my work"'),
    ("<layers>", '<env><key name="MY VAR">1</key></env><layers>'),
    ("<layers>", '<env><key name="">1</key></env><layers>'),
    ("</chunk>", '</chunk><outputs><output name="a b">/x</output></outputs>'),
    ('<depend type=', '<depend anyframe="no way" type='),
])
def test_an_nmtoken_attribute_with_a_space_is_refused(cue, text, replacement):
    """cjsl declares these attributes NMTOKEN; Cuebot's validating parser refuses a value
    that is no name token (a space inside, nothing at all)."""
    name = "token_" + uuid.uuid4().hex[:8]
    spec = make_spec([("work", "true", "1", 1, "")], name=name,
                     depends=_depend("JOB_ON_JOB", name, "upstream_" + name))
    text, replacement = text.format(name=name), replacement.format(name=name)
    assert text in spec
    with pytest.raises(opencue.exception.CueInternalErrorException,
                       match="of type NMTOKEN must be a name token"):
        opencue.api.launchSpec(spec.replace(text, replacement, 1))
    assert not opencue.api.isJobPending(_job_named(name))


def test_an_nmtoken_attribute_is_trimmed_as_xml_normalises_it(cue):
    name = "trimmed_" + uuid.uuid4().hex[:8]
    spec = make_spec([("work", "true", "1", 1, "")], name=name,
                     extra_job='<paused>True</paused><env><key name=" MY_VAR ">v</key></env>')
    job = launch(spec.replace('name="%s"' % name, 'name=" %s "' % name))
    assert job.name() == _job_named(name)
    assert cue.engine.get_job(job.id()).env == {"MY_VAR": "v"}


def test_create_show_checks_for_a_duplicate_after_conforming_the_name(cue):
    """AdminManagerService.createShow conforms the name (dashes to underscores, lower case),
    then inserts it; its servant answers INTERNAL for any failure. Cuebot has no duplicate
    check (it would insert a second show of the name); the fake refuses one, by the
    conformed name, and never replaces the show that exists."""
    suffix = uuid.uuid4().hex[:6]
    first = opencue.api.createShow("Dup-Show-" + suffix)
    assert first.name() == "dup_show_" + suffix
    for again in ("dup_show_" + suffix, "DUP-SHOW-" + suffix):
        with pytest.raises(opencue.exception.CueInternalErrorException,
                           match="Show could not be created"):
            opencue.api.createShow(again)
    assert opencue.api.findShow("dup_show_" + suffix).id() == first.id()
    with pytest.raises(opencue.exception.CueInternalErrorException,
                       match="Show could not be created.The show name must be at least 3"):
        opencue.api.createShow("ab")


# -- what a host may run (DispatcherDaoJdbc.findDispatchJobs) -------------------------------


def _run_one(show="testing"):
    """Launch a job the host can run and wait until it finished: the dispatcher has looked
    at every job launched before it by then (it books in launch order)."""
    job = launch(make_spec([("work", "true", "1", 1, "")], show=show))
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)


def test_a_job_for_another_os_or_facility_waits(cue):
    import platform
    other_os = launch(make_spec([("work", "true", "1", 1, "")], extra_job="<os>Windows</os>"))
    other_facility = launch(make_spec([("work", "true", "1", 1, "")]).replace(
        "<show>", "<facility>local</facility><show>"))
    same_os = launch(make_spec([("work", "true", "1", 1, "")],
                               extra_job="<os>%s</os>" % platform.system()))
    _run_one()
    wait_states(same_os, {"0001-work": "SUCCEEDED"})
    assert states(other_os) == {"0001-work": "WAITING"}
    assert states(other_facility) == {"0001-work": "WAITING"}


def test_a_show_runs_only_on_allocations_it_subscribes_to_within_its_burst(cue, tmp_path):
    """A new show has no subscription: nothing of it runs. Subscribed with a burst of one
    core, it runs one frame at a time."""
    show = "subs_" + uuid.uuid4().hex[:6]
    cue.create_show(show)
    gate = tmp_path / "gate"
    job = launch(make_spec([("work", "sh -c 'while [ ! -e %s ]; do sleep 0.05; done'" % gate,
                             "1-2", 1, "")], show=show))
    _run_one()
    assert states(job) == {"0001-work": "WAITING", "0002-work": "WAITING"}
    cue.create_subscription(show, "cloud.general", size=100, burst=100)
    wait_states(job, {"0001-work": "RUNNING"})
    _run_one()
    assert states(job) == {"0001-work": "RUNNING", "0002-work": "WAITING"}
    gate.write_text("")
    wait_for(lambda: opencue.api.getJob(job.id()).state() == job_pb2.FINISHED)
