"""Cuebot's gRPC interfaces (the servants in com.imageworks.spcue.servant) over the engine.

Only the calls pycue's api and job/layer/frame wrappers make for launching, watching and
managing jobs are implemented; every other RPC answers UNIMPLEMENTED (the generated base
servicers do that), so a client that needs more finds out at once."""
import collections
import concurrent.futures
import functools
import logging
import threading
import time

import grpc
from opencue_proto import (cue_pb2, cue_pb2_grpc, depend_pb2, job_pb2, job_pb2_grpc,
                           report_pb2, report_pb2_grpc, show_pb2, show_pb2_grpc)

from . import spec as specs
from .engine import CuebotError

log = logging.getLogger(__name__)


Call = collections.namedtuple("Call", "servant method request_bytes response_bytes")


def rpc(method):
    """Answer engine errors with their gRPC status, and any other error INTERNAL as Cuebot's
    CueServerInterceptor does (never gRPC's UNKNOWN: pycue would raise another exception
    class); log every call, as (servant, method) in ``engine.rpc_log`` and with its size on
    the wire in ``engine.rpc_calls``, for tests and benchmarks that count calls and bytes."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        with self.engine.lock:
            self.engine.rpc_log.append((type(self).__name__, method.__name__))
        response = None
        try:
            response = method(self, request, context)
            return response
        except CuebotError as error:
            context.abort(error.code, str(error))
        except specs.SpecError as error:
            context.abort(grpc.StatusCode.INTERNAL, str(error))
        except Exception as error:  # noqa: BLE001 - what the interceptor catches
            context.abort(grpc.StatusCode.INTERNAL, "%s: %s\n%s"
                          % (type(error).__name__, error, error))
        finally:
            with self.engine.lock:
                self.engine.rpc_calls.append(Call(
                    type(self).__name__, method.__name__,
                    request.ByteSize(), response.ByteSize() if response is not None else 0))
    return wrapper


class _Servant(object):
    def __init__(self, engine, manage_queue):
        self.engine = engine
        self.manage_queue = manage_queue

    def _queue(self, function, *args):
        """Cuebot runs kills, retries and eats on its manage queue: the call returns first."""
        future = self.manage_queue.submit(function, *args)
        future.add_done_callback(_log_failure)


def _log_failure(future):
    if future.exception() is not None:
        log.error("fake Cuebot manage task failed", exc_info=future.exception())


# -- protos -----------------------------------------------------------------------------------

def _stats(frames, message):
    counts = {state: 0 for state in job_pb2.FrameState.values()}
    for frame in frames:
        counts[frame.state] += 1
    message.total_frames = len(frames)
    message.waiting_frames = counts[job_pb2.WAITING]
    message.running_frames = counts[job_pb2.RUNNING]
    message.dead_frames = counts[job_pb2.DEAD]
    message.eaten_frames = counts[job_pb2.EATEN]
    message.depend_frames = counts[job_pb2.DEPEND]
    message.succeeded_frames = counts[job_pb2.SUCCEEDED]
    message.pending_frames = counts[job_pb2.WAITING] + counts[job_pb2.DEPEND]
    message.reserved_cores = sum(f.cores for f in frames if f.state == job_pb2.RUNNING) / 100.0


def job_proto(job):
    message = job_pb2.Job(
        id=job.id, state=job.state, name=job.name, shot=job.shot, show=job.show, user=job.user,
        group=job.show, facility=job.facility or "", os=job.os, priority=job.priority,
        min_cores=1.0, max_cores=job.max_cores / 100.0, log_dir=job.log_dir, is_paused=job.paused,
        auto_eat=job.auto_eat, start_time=job.start_time, stop_time=job.stop_time, loki_url="")
    if job.uid is not None:
        message.uid = job.uid
    frames = job.frames()
    _stats(frames, message.job_stats)
    message.job_stats.total_layers = len(job.layers)
    return message


def layer_proto(layer):
    message = job_pb2.Layer(
        id=layer.id, name=layer.name, range=layer.range, tags=layer.tags,
        min_cores=layer.min_cores / 100.0, max_cores=layer.max_cores / 100.0,
        is_threadable=layer.threadable, min_memory=layer.min_memory, chunk_size=layer.chunk,
        dispatch_order=layer.dispatch_order, type=layer.type, services=layer.services,
        parent_id=layer.job.id, limits=layer.limits, timeout=layer.timeout,
        timeout_llu=layer.timeout_llu, command=layer.command)
    _stats(layer.frames, message.layer_stats)
    return message


def _last_resource(frame):
    return "%s/%2.2f/%d" % (frame.host, frame.cores / 100.0, 0) if frame.host else ""


def frame_proto(frame):
    return job_pb2.Frame(
        id=frame.id, name=frame.name, layer_name=frame.layer.name, number=frame.number,
        state=frame.state, retry_count=frame.retries, exit_status=frame.exit_status,
        dispatch_order=frame.dispatch_order, start_time=frame.start_time,
        stop_time=frame.stop_time, max_rss=frame.max_rss, used_memory=frame.rss,
        reserved_memory=frame.layer.min_memory, last_resource=_last_resource(frame),
        llu_time=frame.llu_time)


def updated_frame_proto(frame):
    return job_pb2.UpdatedFrame(
        id=frame.id, state=frame.state, retry_count=frame.retries,
        exit_status=frame.exit_status, start_time=frame.start_time, stop_time=frame.stop_time,
        max_rss=frame.max_rss, used_memory=frame.rss, last_resource=_last_resource(frame),
        llu_time=frame.llu_time)


def _names(entity):
    """(job, layer, frame) names of a depend's side."""
    from .state import Job, Layer
    if isinstance(entity, Job):
        return entity.name, "", ""
    if isinstance(entity, Layer):
        return entity.job.name, entity.name, ""
    return entity.layer.job.name, entity.layer.name, entity.name


def depend_proto(depend):
    er_job, er_layer, er_frame = _names(depend.er)
    on_job, on_layer, on_frame = _names(depend.on)
    return depend_pb2.Depend(
        id=depend.id, type=depend.type, target=depend.target(), any_frame=depend.any_frame,
        active=depend.active, depend_er_job=er_job, depend_er_layer=er_layer,
        depend_er_frame=er_frame, depend_on_job=on_job, depend_on_layer=on_layer,
        depend_on_frame=on_frame)


def _depend_seq(depends):
    return depend_pb2.DependSeq(depends=[depend_proto(depend) for depend in depends])


# -- servants -----------------------------------------------------------------------------------

class CueServant(_Servant, cue_pb2_grpc.CueInterfaceServicer):
    @rpc
    def GetSystemStats(self, request, context):
        return cue_pb2.CueGetSystemStatsResponse(stats=cue_pb2.SystemStats())


class ShowServant(_Servant, show_pb2_grpc.ShowInterfaceServicer):
    def _proto(self, show):
        return show_pb2.Show(id=show.id, name=show.name, active=show.active,
                             booking_enabled=True, dispatch_enabled=True,
                             default_min_cores=1.0, default_max_cores=2000.0)

    @rpc
    def CreateShow(self, request, context):
        try:
            show = self.engine.create_show(request.name)
        except Exception as error:  # noqa: BLE001 - ManageShow.createShow catches all
            raise CuebotError(grpc.StatusCode.INTERNAL, "Show could not be created.%s" % error)
        return show_pb2.ShowCreateShowResponse(show=self._proto(show))

    @rpc
    def FindShow(self, request, context):
        show = self.engine.shows.get(request.name)
        if show is None:
            raise CuebotError(grpc.StatusCode.NOT_FOUND,
                              "Incorrect result size: expected 1, actual 0")
        return show_pb2.ShowFindShowResponse(show=self._proto(show))

    @rpc
    def GetShows(self, request, context):
        shows = sorted(self.engine.shows.values(), key=lambda show: show.name)
        return show_pb2.ShowGetShowsResponse(
            shows=show_pb2.ShowSeq(shows=[self._proto(show) for show in shows]))

    @rpc
    def GetActiveShows(self, request, context):
        shows = sorted((s for s in self.engine.shows.values() if s.active),
                       key=lambda show: show.name)
        return show_pb2.ShowGetActiveShowsResponse(
            shows=show_pb2.ShowSeq(shows=[self._proto(show) for show in shows]))


def _uncaught(lookup):
    """A lookup Cuebot's servant makes outside its try: a missing entity is an uncaught
    EmptyResultDataAccessException, which the interceptor answers INTERNAL."""
    try:
        return lookup()
    except CuebotError as error:
        raise CuebotError(grpc.StatusCode.INTERNAL,
                          "org.springframework.dao.EmptyResultDataAccessException: %s" % error)


class JobServant(_Servant, job_pb2_grpc.JobInterfaceServicer):

    def _job(self, message):
        """ManageJob's calls on a job answer NOT_FOUND "Job not found" when it is gone."""
        try:
            return self.engine.get_job(message.id)
        except CuebotError:
            raise CuebotError(grpc.StatusCode.NOT_FOUND, "Job not found")

    @rpc
    def LaunchSpec(self, request, context):
        try:
            show, jobs, depends = self.engine.parse_spec(request.spec)
            self.engine.verify(jobs, show)
        except Exception as error:  # noqa: BLE001 - the servant catches every failure
            raise CuebotError(grpc.StatusCode.INTERNAL,
                              "Failed to add job to launch queue: %s" % error)
        names = [job.name for job in jobs]

        def launch():
            try:
                self.engine.launch(jobs, depends)
            except Exception as error:   # Cuebot mails the launch error to the user
                with self.engine.lock:
                    self.engine.launch_errors.append((names, str(error)))
        threading.Thread(target=launch, daemon=True).start()
        return job_pb2.JobLaunchSpecResponse(names=names)

    @rpc
    def LaunchSpecAndWait(self, request, context):
        try:
            show, jobs, depends = self.engine.parse_spec(request.spec)
            self.engine.verify(jobs, show)
            self.engine.launch(jobs, depends)
            found = [self.engine.find_job(job.name) for job in jobs]
        except Exception as error:  # noqa: BLE001 - the servant catches every failure
            raise CuebotError(grpc.StatusCode.INTERNAL,
                              "Failed to launch and add job: %s" % error)
        with self.engine.lock:
            return job_pb2.JobLaunchSpecAndWaitResponse(
                jobs=job_pb2.JobSeq(jobs=[job_proto(job) for job in found]))

    @rpc
    def FindJob(self, request, context):
        job = self.engine.find_job(request.name)
        with self.engine.lock:
            return job_pb2.JobFindJobResponse(job=job_proto(job))

    @rpc
    def GetJob(self, request, context):
        job = self.engine.get_job(request.id)
        with self.engine.lock:
            return job_pb2.JobGetJobResponse(job=job_proto(job))

    @rpc
    def GetJobs(self, request, context):
        with self.engine.lock:
            jobs = self.engine.search_jobs(request.r)
            return job_pb2.JobGetJobsResponse(
                jobs=job_pb2.JobSeq(jobs=[job_proto(job) for job in jobs]))

    @rpc
    def GetJobNames(self, request, context):
        return job_pb2.JobGetJobNamesResponse(
            names=[job.name for job in self.engine.search_jobs(request.r)])

    @rpc
    def IsJobPending(self, request, context):
        return job_pb2.JobIsJobPendingResponse(value=self.engine.is_job_pending(request.name))

    @rpc
    def GetFrames(self, request, context):
        job = self._job(request.job)
        with self.engine.lock:
            frames = self.engine.search_frames(job.frames(), request.req)
            return job_pb2.JobGetFramesResponse(
                frames=job_pb2.FrameSeq(frames=[frame_proto(frame) for frame in frames]))

    @rpc
    def GetLayers(self, request, context):
        job = self._job(request.job)
        with self.engine.lock:
            return job_pb2.JobGetLayersResponse(
                layers=job_pb2.LayerSeq(layers=[layer_proto(layer) for layer in job.layers]))

    @rpc
    def GetUpdatedFrames(self, request, context):
        job = self._job(request.job)
        if time.time() - request.last_check > 60:
            # Cuebot throws IllegalArgumentException("the last update timestamp cannot be
            # over a minute off the current time") and its servant only prints it: the call
            # is never answered, so the client waits out its deadline.
            remaining = context.time_remaining()
            while context.is_active() and (remaining is None or remaining > 0):
                time.sleep(min(0.2, remaining if remaining is not None else 0.2))
                remaining = context.time_remaining()
            raise CuebotError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        layer_ids = [layer.id for layer in request.layer_filter.layers]
        state, frames, server_time = self.engine.updated_frames(job, layer_ids,
                                                                request.last_check)
        with self.engine.lock:
            return job_pb2.JobGetUpdatedFramesResponse(
                state=state, server_time=server_time,
                updated_frames=job_pb2.UpdatedFrameSeq(
                    updated_frames=[updated_frame_proto(frame) for frame in frames]))

    @rpc
    def Kill(self, request, context):
        job = self._job(request.job)
        self._queue(self.engine.kill_job, job, "Job killed by %s" % (request.username or "?"))
        return job_pb2.JobKillResponse()

    def _frames(self, request):
        job = self._job(request.job)
        return self.engine.search_frames(job.frames(), request.req, paged=False)

    @rpc
    def KillFrames(self, request, context):
        self._queue(self.engine.kill_frames, self._frames(request),
                    "Frame killed by %s" % (request.username or "?"))
        return job_pb2.JobKillFramesResponse()

    @rpc
    def RetryFrames(self, request, context):
        self._queue(self.engine.retry_frames, self._frames(request), "retry")
        return job_pb2.JobRetryFramesResponse()

    @rpc
    def EatFrames(self, request, context):
        self._queue(self.engine.eat_frames, self._frames(request), "eat")
        return job_pb2.JobEatFramesResponse()

    @rpc
    def Pause(self, request, context):
        with self.engine.lock:
            self._job(request.job).paused = True
        return job_pb2.JobPauseResponse()

    @rpc
    def Resume(self, request, context):
        with self.engine.lock:
            self._job(request.job).paused = False
        self.engine.wake()
        return job_pb2.JobResumeResponse()

    @rpc
    def SetAutoEat(self, request, context):
        with self.engine.lock:
            self._job(request.job).auto_eat = request.value
        return job_pb2.JobSetAutoEatResponse()

    @rpc
    def GetWhatThisDependsOn(self, request, context):
        return job_pb2.JobGetWhatThisDependsOnResponse(
            depends=_depend_seq(self.engine.depends_of(self._job(request.job), False)))

    @rpc
    def GetWhatDependsOnThis(self, request, context):
        return job_pb2.JobGetWhatDependsOnThisResponse(
            depends=_depend_seq(self.engine.depends_of(self._job(request.job), True)))

    @rpc
    def DropDepends(self, request, context):
        self.engine.drop_depends(self._job(request.job), request.target)
        return job_pb2.JobDropDependsResponse()

    @rpc
    def CreateDependencyOnJob(self, request, context):
        depend = self.engine.create_depend("JOB_ON_JOB", self._job(request.job),
                                           self.engine.get_job(request.on_job.id))
        return job_pb2.JobCreateDependencyOnJobResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnLayer(self, request, context):
        depend = self.engine.create_depend("JOB_ON_LAYER", self._job(request.job),
                                           self.engine.get_layer(request.layer.id))
        return job_pb2.JobCreateDependencyOnLayerResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnFrame(self, request, context):
        depend = self.engine.create_depend("JOB_ON_FRAME", self._job(request.job),
                                           self.engine.get_frame(request.frame.id))
        return job_pb2.JobCreateDependencyOnFrameResponse(depend=depend_proto(depend))


class LayerServant(_Servant, job_pb2_grpc.LayerInterfaceServicer):

    def _layer(self, message):
        return _uncaught(lambda: self.engine.get_layer(message.id))

    @rpc
    def FindLayer(self, request, context):
        layer = self.engine.find_layer(request.job, request.layer)
        with self.engine.lock:
            return job_pb2.LayerFindLayerResponse(layer=layer_proto(layer))

    @rpc
    def GetLayer(self, request, context):
        layer = self.engine.get_layer(request.id)
        with self.engine.lock:
            return job_pb2.LayerGetLayerResponse(layer=layer_proto(layer))

    @rpc
    def GetFrames(self, request, context):
        layer = self._layer(request.layer)
        with self.engine.lock:
            frames = self.engine.search_frames(layer.frames, request.s)
            return job_pb2.LayerGetFramesResponse(
                frames=job_pb2.FrameSeq(frames=[frame_proto(frame) for frame in frames]))

    @rpc
    def KillFrames(self, request, context):
        self._queue(self.engine.kill_frames, list(self._layer(request.layer).frames),
                    "Frame killed by %s" % (request.username or "?"))
        return job_pb2.LayerKillFramesResponse()

    @rpc
    def RetryFrames(self, request, context):
        self._queue(self.engine.retry_frames, list(self._layer(request.layer).frames), "retry")
        return job_pb2.LayerRetryFramesResponse()

    @rpc
    def EatFrames(self, request, context):
        self._queue(self.engine.eat_frames, list(self._layer(request.layer).frames), "eat")
        return job_pb2.LayerEatFramesResponse()

    @rpc
    def GetWhatThisDependsOn(self, request, context):
        return job_pb2.LayerGetWhatThisDependsOnResponse(
            depends=_depend_seq(self.engine.depends_of(self._layer(request.layer), False)))

    @rpc
    def GetWhatDependsOnThis(self, request, context):
        return job_pb2.LayerGetWhatDependsOnThisResponse(
            depends=_depend_seq(self.engine.depends_of(self._layer(request.layer), True)))

    @rpc
    def DropDepends(self, request, context):
        self.engine.drop_depends(self._layer(request.layer), request.target)
        return job_pb2.LayerDropDependsResponse()

    @rpc
    def CreateDependencyOnJob(self, request, context):
        depend = self.engine.create_depend("LAYER_ON_JOB", self._layer(request.layer),
                                           self.engine.get_job(request.job.id))
        return job_pb2.LayerCreateDependOnJobResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnLayer(self, request, context):
        depend = self.engine.create_depend("LAYER_ON_LAYER", self._layer(request.layer),
                                           self.engine.get_layer(request.depend_on_layer.id))
        return job_pb2.LayerCreateDependOnLayerResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnFrame(self, request, context):
        depend = self.engine.create_depend("LAYER_ON_FRAME", self._layer(request.layer),
                                           self.engine.get_frame(request.frame.id))
        return job_pb2.LayerCreateDependOnFrameResponse(depend=depend_proto(depend))


class FrameServant(_Servant, job_pb2_grpc.FrameInterfaceServicer):

    def _frame(self, message):
        return _uncaught(lambda: self.engine.get_frame(message.id))

    @rpc
    def GetFrame(self, request, context):
        frame = self.engine.get_frame(request.id)
        with self.engine.lock:
            return job_pb2.FrameGetFrameResponse(frame=frame_proto(frame))

    @rpc
    def FindFrame(self, request, context):
        frame = self.engine.find_frame(request.job, request.layer, request.frame)
        with self.engine.lock:
            return job_pb2.FrameFindFrameResponse(frame=frame_proto(frame))

    @rpc
    def GetFrames(self, request, context):
        job = self.engine.find_job(request.job)
        with self.engine.lock:
            frames = self.engine.search_frames(job.frames(), request.r)
            return job_pb2.FrameGetFramesResponse(
                frames=job_pb2.FrameSeq(frames=[frame_proto(frame) for frame in frames]))

    @rpc
    def Kill(self, request, context):
        self._queue(self.engine.kill_frames, [self._frame(request.frame)],
                    "Frame killed by %s" % (request.username or "?"))
        return job_pb2.FrameKillResponse()

    @rpc
    def Retry(self, request, context):
        self._queue(self.engine.retry_frames, [self._frame(request.frame)], "retry")
        return job_pb2.FrameRetryResponse()

    @rpc
    def Eat(self, request, context):
        self._queue(self.engine.eat_frames, [self._frame(request.frame)], "eat")
        return job_pb2.FrameEatResponse()

    @rpc
    def GetWhatThisDependsOn(self, request, context):
        return job_pb2.FrameGetWhatThisDependsOnResponse(
            depends=_depend_seq(self.engine.depends_of(self._frame(request.frame), False)))

    @rpc
    def GetWhatDependsOnThis(self, request, context):
        return job_pb2.FrameGetWhatDependsOnThisResponse(
            depends=_depend_seq(self.engine.depends_of(self._frame(request.frame), True)))

    @rpc
    def DropDepends(self, request, context):
        self.engine.drop_depends(self._frame(request.frame), request.target)
        return job_pb2.FrameDropDependsResponse()

    @rpc
    def CreateDependencyOnJob(self, request, context):
        depend = self.engine.create_depend("FRAME_ON_JOB", self._frame(request.frame),
                                           self.engine.get_job(request.job.id))
        return job_pb2.FrameCreateDependencyOnJobResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnLayer(self, request, context):
        depend = self.engine.create_depend("FRAME_ON_LAYER", self._frame(request.frame),
                                           self.engine.get_layer(request.layer.id))
        return job_pb2.FrameCreateDependencyOnLayerResponse(depend=depend_proto(depend))

    @rpc
    def CreateDependencyOnFrame(self, request, context):
        depend = self.engine.create_depend("FRAME_ON_FRAME", self._frame(request.frame),
                                           self.engine.get_frame(request.depend_on_frame.id))
        return job_pb2.FrameCreateDependencyOnFrameResponse(depend=depend_proto(depend))


class ReportServant(_Servant, report_pb2_grpc.RqdReportInterfaceServicer):
    """What RQD calls: its boot report, its periodic status and each frame's completion."""

    @rpc
    def ReportRqdStartup(self, request, context):
        report = request.boot_report
        self.engine.host_report(report.host, report.core_info, [], boot=True)
        return report_pb2.RqdReportRqdStartupResponse()

    @rpc
    def ReportStatus(self, request, context):
        report = request.host_report
        self.engine.host_report(report.host, report.core_info, report.frames, boot=False)
        return report_pb2.RqdReportStatusResponse()

    @rpc
    def ReportRunningFrameCompletion(self, request, context):
        self.engine.frame_complete(request.frame_complete_report)
        return report_pb2.RqdReportRunningFrameCompletionResponse()


SERVANTS = (
    (CueServant, cue_pb2_grpc.add_CueInterfaceServicer_to_server),
    (ShowServant, show_pb2_grpc.add_ShowInterfaceServicer_to_server),
    (JobServant, job_pb2_grpc.add_JobInterfaceServicer_to_server),
    (LayerServant, job_pb2_grpc.add_LayerInterfaceServicer_to_server),
    (FrameServant, job_pb2_grpc.add_FrameInterfaceServicer_to_server),
    (ReportServant, report_pb2_grpc.add_RqdReportInterfaceServicer_to_server),
)


def add_servants(server, engine):
    manage_queue = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    for servant, add in SERVANTS:
        add(servant(engine, manage_queue), server)
    return manage_queue
