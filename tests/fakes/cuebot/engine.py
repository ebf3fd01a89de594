"""The scheduler: launching specs, dispatching frames to RQD, reading RQD's reports, and the
manual actions (kill, retry, eat), each following the Cuebot class it names."""
import logging
import os
import re
import threading
import time

import grpc
from opencue_proto import depend_pb2, job_pb2, rqd_pb2, rqd_pb2_grpc

from . import spec as specs
from .state import (EXIT_DOWN_HOST, EXIT_FRAME_CLEARED, EXIT_FRAME_ORPHAN,
                    EXIT_FAILED_KILL, EXIT_FAILED_LAUNCH, EXIT_MEMORY_FAILURE, EXIT_SKIP_RETRY,
                    FRAME_TIME_NO_RETRY, MANUAL_STOP, RETRY_EXCLUSIONS, Allocation, Depend,
                    Frame, Host, Job, Layer, Proc, Show, Subscription)

log = logging.getLogger(__name__)

FRAME_RETRIES_MAX = 1   # JobSpec: a spec's <maxretries> is clamped to 0..1
FRAME_RETRIES_DEFAULT = 1
CORE_POINTS_RESERVED_MIN = 10
CORE_POINTS_RESERVED_MAX = 2400
CORE_POINTS_RESERVED_DEFAULT = 100
MAX_FRAMES = 100000
LAYER_TYPES = {"Render": job_pb2.RENDER, "Util": job_pb2.UTIL, "Post": job_pb2.POST}
# Cuebot's seed data: allocations (name, facility, tag), the default one a host joins when
# none of its tags names an allocation of its facility, and the testing show's subscriptions.
SEED_ALLOCATIONS = (("local.general", "local", "general"), ("local.desktop", "local", "desktop"),
                    ("local.unassigned", "local", "unassigned"),
                    ("cloud.general", "cloud", "general"),
                    ("cloud.unassigned", "cloud", "unassigned"))
DEFAULT_ALLOCATION = "local.general"
SEED_SUBSCRIPTIONS = (("testing", "local.general"), ("testing", "local.desktop"),
                      ("testing", "cloud.general"))
CORE_POINTS = 100


class CuebotError(Exception):
    """An error Cuebot answers with a gRPC status (``code`` is a grpc.StatusCode)."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


class Engine(object):
    """All of Cuebot's state and behaviour behind its gRPC interfaces. Thread-safe: every
    change happens under ``self.lock``; calls to RQD are made outside it."""

    def __init__(self, log_root, rqd_port, host_down_after=300.0, dispatch_interval=0.1,
                 facilities=("local", "cloud"), default_facility="cloud"):
        self.lock = threading.RLock()
        self.log_root = log_root
        self.rqd_port = rqd_port
        self.host_down_after = host_down_after
        self.dispatch_interval = dispatch_interval
        self.facilities = set(facilities)
        self.default_facility = default_facility
        self.shows = {}
        self.allocations = {name: Allocation(name, facility, tag)
                            for name, facility, tag in SEED_ALLOCATIONS}
        self.subscriptions = {}  # (show name, allocation name) -> Subscription
        self.jobs = {}          # id -> Job, every job Cuebot still has (pending or finished)
        self.depends = {}       # id -> Depend
        self.hosts = {}         # name -> Host
        self.procs = {}         # id -> Proc
        self.launch_errors = []  # what LaunchSpec's background launch failed with
        self.rpc_log = []       # (servant, method) of every RPC, when it arrived
        self.rpc_calls = []     # servicers.Call (servant, method, request and response bytes)
        self._channels = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads = []
        self.create_show("testing")   # Cuebot's seed data has this show
        for show, allocation in SEED_SUBSCRIPTIONS:
            self.create_subscription(show, allocation, 100000, 100000)

    # -- life -------------------------------------------------------------------------------

    def start(self):
        for target in (self._dispatch_loop, self._maintenance_loop):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(5)
        for channel in self._channels.values():
            channel.close()

    def wake(self):
        self._wake.set()

    # -- shows ------------------------------------------------------------------------------

    def create_show(self, name):
        """AdminManagerService.createShow: the name is conformed (refused when it cannot be),
        then inserted. Cuebot's show table does not make names unique: it would insert a
        second show of a conformed name that exists, and finding the show by that name would
        fail from then on. The fake refuses that second show instead."""
        name = specs.conform_name("Show", name)
        with self.lock:
            if name in self.shows:
                raise CuebotError(grpc.StatusCode.INTERNAL, "a show named %s exists (the fake "
                                  "Cuebot keeps one show per name)" % name)
            show = self.shows[name] = Show(name)
            return show

    def create_subscription(self, show_name, allocation_name, size, burst):
        """What ``cueadmin -create-sub SHOW ALLOC SIZE BURST`` does (core points here)."""
        with self.lock:
            show = self.shows[show_name]
            allocation = self.allocations[allocation_name]
            subscription = Subscription(show, allocation, size, burst)
            self.subscriptions[(show.name, allocation.name)] = subscription
        self.wake()
        return subscription

    # -- launching (JobLauncher, JobSpec, JobManagerService) ---------------------------------

    def parse_spec(self, xml_text):
        """JobLauncher.parse: the show, jobs and depends a spec describes (nothing stored)."""
        root = specs.parse(xml_text)
        facility = specs.text(root, "facility")
        facility = facility.lower() if facility is not None else None
        show = specs.text(root, "show")
        shot = specs.conform_name("Shot", specs.text(root, "shot"))
        user = specs.text(root, "user")
        uid_text = specs.text(root, "uid")
        uid = specs.java_int(uid_text) if uid_text is not None else None
        email = specs.text(root, "email")
        if user == "root" or uid == 0:
            raise specs.SpecError("Cannot launch jobs as root.")
        jobs = [self._build_job(element, show, shot, user, uid, facility, email)
                for element in root.findall("job")]
        depends = []
        depends_element = root.find("depends")
        if depends_element is not None:
            for element in depends_element.findall("depend"):
                depends.append(self._build_depend(element, show, shot, user))
        return show, jobs, depends

    def _build_job(self, element, show, shot, user, uid, facility, email):
        name = specs.conform_job_name(element.get("name"), show, shot, user)
        job = Job(name, show, shot, user, uid, facility, email, specs.text(element, "os"))
        job.paused = specs.to_bool(specs.text(element, "paused"))
        job.auto_eat = specs.to_bool(specs.text(element, "autoeat"))
        job.dept = specs.text(element, "dept")
        _read_localbook(element.find("localbook"))
        retries = specs.text(element, "maxretries")
        if retries is not None:
            job.max_retries = min(max(specs.java_int(retries), 0), FRAME_RETRIES_MAX)
        max_cores = specs.text(element, "maxcores")  # whole cores (coresToWholeCoreUnits)
        if max_cores is not None:
            job.max_cores = specs.java_int(max_cores) * 100
        if specs.text(element, "maxgpus") is not None:   # read, then unused: no GPUs here
            specs.java_int(specs.text(element, "maxgpus"))
        priority = specs.text(element, "priority")
        if priority is not None:
            job.priority = specs.java_int(priority)
        env = element.find("env")
        if env is not None:
            _read_env(env, job.env)
        layers_element = element.find("layers")
        total = 0
        for order, layer_element in enumerate(
                layers_element.findall("layer") if layers_element is not None else [], 1):
            layer = self._build_layer(job, layer_element, order)
            if any(other.name == layer.name for other in job.layers):
                raise specs.SpecError("error, the layer %s was already defined in job %s"
                                      % (layer.name, job.name))
            job.layers.append(layer)
            total += len(layer.frames)
            if total > MAX_FRAMES:
                raise specs.SpecError("error, your job has %d frames, the maximum number of "
                                      "allowed frames is %d" % (total, MAX_FRAMES))
        if not job.layers:
            raise specs.SpecError("The job %s has no layers" % job.name)
        return job

    def _build_layer(self, job, element, order):
        layer_type = LAYER_TYPES[element.get("type")]
        if layer_type == job_pb2.POST:
            raise specs.SpecError("the fake Cuebot does not build post jobs (layer type Post)")
        name = specs.conform_name("Layer", element.get("name"))
        chunk = specs.java_int(specs.text(element, "chunk"))
        if chunk < 1:  # CueUtil.normalizeFrameRange divides by it: Cuebot refuses the range
            raise specs.SpecError("error, the range %s is invalid" % specs.text(element, "range"))
        layer = Layer(job, name, layer_type, specs.text(element, "cmd"),
                      specs.text(element, "range"), chunk, order)
        services = []
        services_element = element.find("services")
        if services_element is not None:
            for service in services_element:
                value = (service.text or "").strip()
                if value and value not in services:
                    services.append(value)
        # Only the "default" service exists here, as in Cuebot's seed data.
        if "default" not in services:
            services.append("default")
        layer.services = services
        cores = specs.text(element, "cores")
        if cores is not None:
            if "." in cores:
                points = specs.java_cast(specs.java_double(cores) * 100
                                         + (-0.5 if "-" in cores else 0.5))
            else:
                points = specs.java_int(cores)
            if 0 < points < CORE_POINTS_RESERVED_MIN:
                points = CORE_POINTS_RESERVED_DEFAULT
            elif points > CORE_POINTS_RESERVED_MAX:
                points = CORE_POINTS_RESERVED_MAX
            layer.min_cores = points
        if 0 < layer.min_cores < 100:
            layer.threadable = False
        elif specs.text(element, "threadable") is not None:
            layer.threadable = specs.to_bool(specs.text(element, "threadable"))
        tags = specs.text(element, "tags")
        if tags:
            new_tags = []
            for tag in tags.replace(" ", "").split("|"):
                if not specs.NAME_PATTERN.match(tag):
                    raise specs.SpecError("error, invalid tag %s, tags must be alpha numberic "
                                          "and at least 3 characters in length." % tag)
                if tag not in new_tags:
                    new_tags.append(tag)
            layer.tags = new_tags
        memory = specs.text(element, "memory")
        if memory is not None:
            layer.min_memory = max(_memory_kb(memory.lower()), 262144)
        if specs.text(element, "gpus") is not None:   # read, then unused: no GPUs here
            specs.java_int(specs.text(element, "gpus"))
        for name_, attribute in (("timeout", "timeout"), ("timeout_llu", "timeout_llu")):
            value = specs.text(element, name_)
            if value is not None:
                setattr(layer, attribute, specs.java_int(value))
        env = element.find("env")
        if env is not None:
            _read_env(env, layer.env)
        try:
            numbers = specs.normalize(layer.range, chunk)
        except (ValueError, TypeError, AttributeError, specs.NumberFormatError):
            raise specs.SpecError("error, the range %s is invalid" % layer.range)
        for index, number in enumerate(numbers):
            layer.frames.append(Frame(layer, number, index))
        return layer

    def _build_depend(self, element, show, shot, user):
        depend_type = element.get("type").upper()
        entry = {"type": depend_type,
                 "any_frame": (specs.to_bool(element.get("anyframe"))
                               if depend_type == "LAYER_ON_LAYER" else False),
                 "er_job": specs.conform_job_name(specs.text(element, "depjob"), show, shot, user),
                 "on_job": specs.conform_job_name(specs.text(element, "onjob"), show, shot, user)}
        for key, tag in (("er_layer", "deplayer"), ("on_layer", "onlayer")):
            value = specs.text(element, tag)
            entry[key] = specs.conform_name("Layer", value) if value is not None else None
        for key, tag in (("er_frame", "depframe"), ("on_frame", "onframe")):
            value = specs.text(element, tag)
            entry[key] = specs.conform_frame_name(value) if value is not None else None
        if entry["er_frame"] and entry["er_frame"] == entry["on_frame"]:
            raise specs.SpecError("The frame name: %s cannot depend on itself."
                                  % entry["er_frame"])
        return entry

    def verify(self, jobs, show_name):
        """JobLauncher.verifyJobSpec."""
        with self.lock:
            for job in jobs:
                if self.is_job_pending(job.name):
                    raise CuebotError(grpc.StatusCode.INTERNAL,
                                      "The job %s is already pending" % job.name)
            show = self.shows.get(show_name)
            if show is None:
                raise CuebotError(grpc.StatusCode.INTERNAL,
                                  "The %s does not exist. Please contact administrator of your "
                                  "OpenCue deployment to have this show created." % show_name)
            if not show.active:
                raise CuebotError(grpc.StatusCode.INTERNAL,
                                  "The %s show has been deactivated." % show_name)

    def launch(self, jobs, depends):
        """JobManagerService.launchJobSpec: all jobs and depends, or nothing."""
        with self.lock:
            for job in jobs:
                if self.is_job_pending(job.name):
                    raise CuebotError(grpc.StatusCode.INTERNAL, "error launching job, active "
                                      "job already exists: " + job.name)
                if job.facility is not None and job.facility not in self.facilities:
                    raise CuebotError(grpc.StatusCode.INTERNAL,
                                      "failed to find facility: %s" % job.facility)
            created = []
            try:
                for job in jobs:
                    job.facility = job.facility or self.default_facility
                    job.log_dir = os.path.join(self.log_root, job.show, job.shot, "logs",
                                               "%s--%s" % (job.name, job.id))
                    os.makedirs(job.log_dir, exist_ok=True)
                    self.jobs[job.id] = job
                    created.append(job)
                for entry in depends:
                    self._create_spec_depend(entry)
            except Exception:
                for job in created:
                    del self.jobs[job.id]
                for depend in list(self.depends.values()):
                    if any(_job_of_entity(side) in created for side in (depend.er, depend.on)):
                        del self.depends[depend.id]
                raise
            for job in jobs:
                job.state = job_pb2.PENDING
                for frame in job.frames():
                    frame.set_state(job_pb2.WAITING)
        self.wake()

    def _create_spec_depend(self, entry):
        """DependManagerService.createDepend(BuildableDependency)."""
        try:
            on_job = self._find_visible_job(entry["on_job"])
            er_job = self._find_visible_job(entry["er_job"])
        except LookupError as error:
            raise CuebotError(grpc.StatusCode.INTERNAL, "failed to setup new dependency: %s, "
                              "was unable to find job info for %s or %s,%s"
                              % (entry["type"], entry["on_job"], entry["er_job"], error))
        kind = entry["type"]
        er = {"JOB": er_job, "LAYER": lambda: _find_layer(er_job, entry["er_layer"]),
              "FRAME": lambda: _find_frame(er_job, entry["er_frame"])}
        on = {"JOB": on_job, "LAYER": lambda: _find_layer(on_job, entry["on_layer"]),
              "FRAME": lambda: _find_frame(on_job, entry["on_frame"])}
        if kind in ("FRAME_BY_FRAME", "PREVIOUS_FRAME", "LAYER_ON_SIM_FRAME"):
            er_layer = _find_layer(er_job, entry["er_layer"])
            if kind == "LAYER_ON_SIM_FRAME":
                on_frame = _find_frame(on_job, entry["on_frame"])
                for frame in er_layer.frames:
                    self.create_depend("FRAME_ON_FRAME", frame, on_frame)
                return
            on_layer = _find_layer(on_job, entry["on_layer"])
            self._create_frame_by_frame(er_layer, on_layer, previous=kind == "PREVIOUS_FRAME")
            return
        er_kind, on_kind = kind.split("_ON_")
        if kind == "LAYER_ON_FRAME":
            # Cuebot looks the frame up by the <onlayer> name here (DependManagerService).
            on_target = _find_frame(on_job, entry["on_layer"])
        else:
            on_target = on[on_kind]() if callable(on[on_kind]) else on[on_kind]
        er_target = er[er_kind]() if callable(er[er_kind]) else er[er_kind]
        self.create_depend(kind, er_target, on_target, any_frame=entry["any_frame"])

    def _create_frame_by_frame(self, er_layer, on_layer, previous=False):
        """FrameByFrame / PreviousFrame: each frame waits on the frame of the same number
        (or the one before it); a layer chunked into a single frame waits on the whole layer."""
        if not previous and ((len(on_layer.frames) == 1 and on_layer.chunk > 1)
                             or (len(er_layer.frames) == 1 and er_layer.chunk > 1)):
            self.create_depend("LAYER_ON_LAYER", er_layer, on_layer)
            return
        on_frames = {}
        for frame in on_layer.frames:
            for number in specs.frame_set(specs.chunk_spec(on_layer.range, frame.number,
                                                           on_layer.chunk)[0]):
                on_frames[number] = frame
        for frame in er_layer.frames:
            number = frame.number - 1 if previous else frame.number
            target = on_frames.get(number)
            if target is not None:
                self.create_depend("FRAME_ON_FRAME", frame, target)

    def create_depend(self, kind, er, on, any_frame=False):
        """DependManagerService.createDepend for the simple kinds."""
        with self.lock:
            on_kind = kind.split("_ON_")[1]
            if on_kind == "JOB" and self._job_complete(on):
                raise CuebotError(grpc.StatusCode.INTERNAL,
                                  "The job you are depending on is already complete.")
            depend = Depend(getattr(depend_pb2, kind), er, on, any_frame)
            if on_kind in ("LAYER", "FRAME") and on.is_complete():
                depend.active = False
            self.depends[depend.id] = depend
            if depend.active:
                for frame in depend.er_frames():
                    frame.depend_count += 1
                    if frame.state == job_pb2.WAITING:
                        frame.set_state(job_pb2.DEPEND)
            return depend

    def _find_visible_job(self, name):
        for job in self.jobs.values():
            if job.visible and job.name == name:
                return job
        raise LookupError("Incorrect result size: expected 1, actual 0")

    # -- queries (WhiteboardDaoJdbc) ---------------------------------------------------------

    def is_job_pending(self, name):
        with self.lock:
            return any(job.name == name and job.state == job_pb2.PENDING
                       for job in self.jobs.values())

    def find_job(self, name):
        with self.lock:
            for job in self.jobs.values():
                if job.name == name.lower() and job.state == job_pb2.PENDING:
                    return job
        raise CuebotError(grpc.StatusCode.NOT_FOUND,
                          "Incorrect result size: expected 1, actual 0")

    def get_job(self, job_id):
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise CuebotError(grpc.StatusCode.NOT_FOUND,
                              "Incorrect result size: expected 1, actual 0")
        return job

    def search_jobs(self, criteria):
        """JobSearch: ids, names, substrings, regexes, shots, shows, users; PENDING only
        unless include_finished; ordered by name."""
        with self.lock:
            found = []
            for job in self.jobs.values():
                if job.state == job_pb2.STARTUP:
                    continue
                if criteria.ids and job.id not in criteria.ids:
                    continue
                if criteria.jobs and job.name not in criteria.jobs:
                    continue
                if criteria.substr and not any(s in job.name for s in criteria.substr):
                    continue
                if criteria.regex and not any(re.search(r, job.name) for r in criteria.regex):
                    continue
                if criteria.shots and job.shot not in criteria.shots:
                    continue
                if criteria.shows and job.show not in criteria.shows:
                    continue
                if criteria.users and job.user not in criteria.users:
                    continue
                if not criteria.include_finished and job.state != job_pb2.PENDING:
                    continue
                found.append(job)
            return sorted(found, key=lambda job: job.name)

    def search_frames(self, frames, criteria, paged=True):
        """FrameSearch over ``frames``: ids, names, layers, states, frame range; ordered by
        frame then layer dispatch order; one page of ``limit`` frames."""
        if criteria.memory_range or criteria.duration_range:
            raise CuebotError(grpc.StatusCode.UNIMPLEMENTED, "the fake Cuebot does not search "
                              "frames by memory or duration")
        numbers = _frame_number_filter(criteria.frame_range)
        with self.lock:
            found = [frame for frame in frames if _frame_matches(frame, criteria, numbers)]
            found.sort(key=lambda frame: (frame.dispatch_order, frame.layer.dispatch_order))
            if not paged:
                return found
            page = criteria.page if criteria.page > 0 else 1
            # FrameSearch.getSortedQuery pages with the limit it was given (0 gives no rows).
            limit = criteria.limit
            return found[(page - 1) * limit:page * limit]

    def updated_frames(self, job, layer_ids, last_check):
        """WhiteboardDaoJdbc.getUpdatedFrames: frames changed after ``last_check`` (at most 100),
        the job's state and the server time to pass next time."""
        with self.lock:
            frames = [frame for frame in job.frames()
                      if (not layer_ids or frame.layer.id in layer_ids)
                      and frame.updated > last_check]
            frames.sort(key=lambda frame: (frame.dispatch_order, frame.layer.dispatch_order))
            return job.state, frames[:100], int(time.time()) - 1

    def find_layer(self, job_name, layer_name):
        job = self.find_job(job_name)
        with self.lock:
            for layer in job.layers:
                if layer.name == layer_name:
                    return layer
        raise CuebotError(grpc.StatusCode.NOT_FOUND, "Incorrect result size: expected 1, actual 0")

    def get_layer(self, layer_id):
        with self.lock:
            for job in self.jobs.values():
                for layer in job.layers:
                    if layer.id == layer_id:
                        return layer
        raise CuebotError(grpc.StatusCode.NOT_FOUND, "Incorrect result size: expected 1, actual 0")

    def get_frame(self, frame_id):
        with self.lock:
            for job in self.jobs.values():
                for frame in job.frames():
                    if frame.id == frame_id:
                        return frame
        raise CuebotError(grpc.StatusCode.NOT_FOUND, "Incorrect result size: expected 1, actual 0")

    def find_frame(self, job_name, layer_name, number):
        layer = self.find_layer(job_name, layer_name)
        with self.lock:
            for frame in layer.frames:
                if frame.number == number:
                    return frame
        raise CuebotError(grpc.StatusCode.NOT_FOUND, "Incorrect result size: expected 1, actual 0")

    def depends_of(self, entity, what_depends_on_this):
        with self.lock:
            side = "on" if what_depends_on_this else "er"
            return [depend for depend in self.depends.values()
                    if depend.active and getattr(depend, side) is entity]

    # -- the dispatcher (CoreUnitDispatcher, DispatchSupportService) -------------------------

    def _dispatch_loop(self):
        while not self._stopping.is_set():
            self._wake.wait(self.dispatch_interval)
            self._wake.clear()
            try:
                while self._dispatch_one():
                    pass
            except Exception:  # pragma: no cover - a dispatcher bug must not stop the loop
                log.exception("fake Cuebot dispatch failed")

    def _dispatch_one(self):
        """Book one frame on one host and launch it; True when a frame was launched."""
        with self.lock:
            booking = self._next_booking()
            if booking is None:
                return False
            host, frame = booking
            layer = frame.layer
            proc = Proc(host, frame, layer.min_cores, layer.min_memory)
            self.procs[proc.id] = proc
            run_frame = self._run_frame(proc, frame)
            self._frame_started(frame, proc)
        try:
            self._rqd(host).LaunchFrame(rqd_pb2.RqdStaticLaunchFrameRequest(run_frame=run_frame),
                                        timeout=10)
        except grpc.RpcError as error:
            log.warning("launching %s on %s failed: %s", frame.name, host.name, error)
            with self.lock:
                self.procs.pop(proc.id, None)
                if frame.state == job_pb2.RUNNING and frame.host == host.name:
                    frame.exit_status = EXIT_FRAME_CLEARED
                    frame.set_state(job_pb2.WAITING)
            return False
        return True

    def _next_booking(self):
        hosts = [host for host in self.hosts.values()
                 if host.state == "UP" and not host.nimby_locked]
        if not hosts:
            return None
        jobs = sorted((job for job in self.jobs.values()
                       if job.state == job_pb2.PENDING and not job.paused),
                      key=lambda job: (-job.priority, job.start_time))
        for job in jobs:
            waiting = [frame for frame in job.frames() if frame.state == job_pb2.WAITING]
            waiting.sort(key=lambda frame: (frame.dispatch_order, frame.layer.dispatch_order))
            booked = sum(proc.cores for proc in self.procs.values() if proc.job is job)
            job_hosts = [host for host in hosts if self._may_run(host, job)]
            for frame in waiting:
                if booked + max(frame.layer.min_cores, 1) > job.max_cores:
                    break  # the job is at its max cores: nothing more of it is booked
                for host in job_hosts:
                    if self._fits(host, frame.layer):
                        return host, frame
        return None

    def _may_run(self, host, job):
        """findDispatchJobs: only shows subscribed to the host's allocation and within their
        burst there, only jobs of the host's facility, and of its OS when they name one."""
        allocation = host.allocation
        if job.facility != allocation.facility:
            return False
        if job.os and job.os not in host.os.split(","):
            return False
        subscription = self.subscriptions.get((job.show, allocation.name))
        if subscription is None:
            return False
        running = sum(proc.cores for proc in self.procs.values()
                      if proc.job.show == job.show and proc.host.allocation is allocation)
        return subscription.burst - running >= CORE_POINTS

    def _fits(self, host, layer):
        idle = host.total_cores - host.booked_cores(self.procs)
        idle_memory = host.total_memory - host.booked_memory(self.procs)
        if not set(layer.tags) & host.tags:
            return False
        return idle >= max(layer.min_cores, 1) and idle_memory >= layer.min_memory

    def _frame_started(self, frame, proc):
        """FrameDaoJdbc.updateFrameStarted: RUNNING, and a retry spent unless the last stop
        was one Cuebot does not count."""
        frame.host = proc.host.name
        frame.cores = proc.cores
        frame.start_time = int(time.time())
        frame.stop_time = 0
        frame.llu_time = 0
        if frame.exit_status not in RETRY_EXCLUSIONS:
            frame.retries += 1
        frame.set_state(job_pb2.RUNNING)

    def _run_frame(self, proc, frame):
        """DispatchSupportService.prepareRqdRunFrame."""
        layer, job = frame.layer, frame.layer.job
        threads = max(proc.cores // 100, 1)
        frame_spec, chunk_end = specs.chunk_spec(layer.range, frame.number, layer.chunk)
        environment = dict(job.env)
        environment.update(layer.env)
        environment.update({
            "CUE3": "1", "CUE_THREADS": str(threads), "CUE_MEMORY": str(proc.memory),
            "CUE_GPUS": "0", "CUE_GPU_MEMORY": "0", "CUE_LOG_PATH": job.log_dir,
            "CUE_RANGE": layer.range, "CUE_CHUNK": str(layer.chunk),
            "CUE_IFRAME": str(frame.number), "CUE_LAYER": layer.name, "CUE_JOB": job.name,
            "CUE_FRAME": frame.name, "CUE_SHOW": job.show, "CUE_SHOT": job.shot,
            "CUE_USER": job.user, "CUE_JOB_ID": job.id, "CUE_LAYER_ID": layer.id,
            "CUE_FRAME_ID": frame.id, "CUE_THREADABLE": "1" if layer.threadable else "0"})
        command = layer.command
        for token, value in (("#ZFRAME#", "%04d" % frame.number), ("#IFRAME#", frame.number),
                             ("#FRAME_START#", frame.number), ("#FRAME_END#", chunk_end),
                             ("#FRAME_CHUNK#", layer.chunk), ("#LAYER#", layer.name),
                             ("#JOB#", job.name), ("#FRAMESPEC#", frame_spec),
                             ("#FRAME#", frame.name)):
            command = command.replace(token, str(value))
        run_frame = rqd_pb2.RunFrame(
            shot=job.shot, show=job.show, user_name=job.user, log_dir=job.log_dir,
            job_id=job.id, job_name=job.name, frame_id=frame.id, frame_name=frame.name,
            layer_id=layer.id, resource_id=proc.id, num_cores=proc.cores, num_gpus=0,
            start_time=int(time.time() * 1000), ignore_nimby=False, os=proc.host.os,
            soft_memory_limit=0, hard_memory_limit=0, loki_url="", environment=environment,
            command=command)
        if job.uid is not None:
            run_frame.uid = job.uid
        return run_frame

    def _rqd(self, host):
        channel = self._channels.get(host.name)
        if channel is None:
            channel = grpc.insecure_channel("%s:%d" % (host.name, self.rqd_port))
            self._channels[host.name] = channel
        return rqd_pb2_grpc.RqdInterfaceStub(channel)

    # -- RQD's reports (HostReportHandler, FrameCompleteHandler) -----------------------------

    def host_report(self, host_proto, core_info, frames, boot):
        with self.lock:
            host = self.hosts.get(host_proto.name)
            if host is None:
                host = self.hosts[host_proto.name] = Host(host_proto.name,
                                                          self._host_allocation(host_proto))
            host.last_ping = time.time()
            host.state = "UP"
            if boot:
                host.boot_count += 1
            host.total_cores = core_info.total_cores - core_info.locked_cores
            host.total_memory = host_proto.total_mem
            host.nimby_locked = host_proto.nimby_locked
            host.os = host_proto.attributes.get("SP_OS", "")
            # HostManagerService.createHost: the allocation's tag, the name, RQD's own tags.
            host.tags = {host.allocation.tag, host.name} | set(host_proto.tags)
            running = {info.frame_id: info for info in frames}
            for proc in list(self.procs.values()):
                if proc.host is not host or proc.frame is None:
                    continue
                info = running.get(proc.frame.id)
                if info is not None:
                    proc.frame.rss = info.rss
                    proc.frame.max_rss = max(proc.frame.max_rss, info.max_rss)
                    proc.frame.llu_time = info.llu_time
                elif boot:
                    # The host restarted: what Cuebot thought it ran is gone.
                    self._lost_proc(proc, EXIT_FRAME_ORPHAN)
        self.wake()

    def _host_allocation(self, host_proto):
        """HostManagerService.createHost: the first allocation named ``facility.tag`` by one
        of the host's tags, else the default allocation."""
        for tag in host_proto.tags:
            allocation = self.allocations.get("%s.%s" % (host_proto.facility, tag))
            if allocation is not None:
                return allocation
        return self.allocations[DEFAULT_ALLOCATION]

    def frame_complete(self, report):
        """FrameCompleteHandler.handleFrameCompleteReport."""
        info = report.frame
        with self.lock:
            proc = self.procs.get(info.resource_id)
            if proc is None:
                return
            if proc.frame is None or proc.frame.id != info.frame_id:
                self._release(proc)     # a superseded report: the frame was stopped by hand
                return
            frame = proc.frame
            job = frame.layer.job
            new_state = self._determine_state(job, frame, report)
            if frame.state != job_pb2.RUNNING:
                self._release(proc)
                return
            frame.exit_status = report.exit_status
            frame.max_rss = max(frame.max_rss, info.max_rss)
            frame.stop_time = int(time.time())
            frame.set_state(new_state)
            self._release(proc)
            if report.exit_status == EXIT_MEMORY_FAILURE or report.exit_signal == 33:
                frame.layer.min_memory += 2 * 1024 * 1024
            self._after_stop(frame, new_state)
        self.wake()

    def _determine_state(self, job, frame, report):
        """FrameCompleteHandler.determineFrameState."""
        if frame.state in (job_pb2.WAITING, job_pb2.EATEN):
            return frame.state
        if frame.state == job_pb2.DEAD:
            return job_pb2.EATEN if job.auto_eat else job_pb2.DEPEND
        if report.exit_status == 0:
            return job_pb2.SUCCEEDED
        if report.exit_status == EXIT_SKIP_RETRY or (job.max_retries != 0
                                                     and report.exit_signal == 119):
            return job_pb2.WAITING
        if (EXIT_FAILED_LAUNCH in (report.exit_status, report.exit_signal)
                and frame.retries < job.max_retries):
            return job_pb2.WAITING
        if report.host.nimby_locked and report.exit_signal == 15:
            return job_pb2.WAITING
        if job.auto_eat:
            return job_pb2.EATEN
        layer = frame.layer
        if layer.timeout and report.run_time > layer.timeout * 60:
            return job_pb2.DEAD
        if report.run_time > FRAME_TIME_NO_RETRY:
            return job_pb2.DEAD
        memory_failure = EXIT_MEMORY_FAILURE in (report.exit_status, report.exit_signal)
        if frame.retries >= job.max_retries and not memory_failure:
            return job_pb2.DEAD
        return job_pb2.WAITING

    def _after_stop(self, frame, new_state):
        """satisfyDependsAndCompleteLayerAndJob (depends are satisfied by success only)."""
        if new_state == job_pb2.SUCCEEDED:
            self._satisfy(frame)
            if frame.layer.is_complete():
                self._satisfy(frame.layer)
        if new_state in (job_pb2.SUCCEEDED, job_pb2.EATEN):
            job = frame.layer.job
            if self._job_complete(job):
                self._shutdown_job(job)

    def _job_complete(self, job):
        return job.state == job_pb2.FINISHED or all(f.is_complete() for f in job.frames())

    def _satisfy(self, entity):
        for depend in list(self.depends.values()):
            if depend.active and depend.on is entity:
                self._satisfy_depend(depend)

    def _satisfy_depend(self, depend):
        depend.active = False
        for frame in depend.er_frames():
            frame.depend_count = max(frame.depend_count - 1, 0)
            if frame.depend_count == 0 and frame.state == job_pb2.DEPEND:
                frame.set_state(job_pb2.WAITING)

    def _unsatisfy(self, entity):
        for depend in list(self.depends.values()):
            if not depend.active and depend.on is entity:
                depend.active = True
                for frame in depend.er_frames():
                    frame.depend_count += 1
                    if frame.state == job_pb2.WAITING:
                        frame.set_state(job_pb2.DEPEND)

    def _shutdown_job(self, job):
        """JobManagerService.shutdownJob + satisfyWhatDependsOn(job)."""
        if job.state == job_pb2.FINISHED:
            return False
        job.state = job_pb2.FINISHED
        job.visible = False
        job.stop_time = int(time.time())
        self._satisfy(job)
        return True

    def _release(self, proc):
        self.procs.pop(proc.id, None)

    def _lost_proc(self, proc, exit_status):
        """DispatchSupportService.lostProc: the proc is gone; its frame waits again."""
        self.procs.pop(proc.id, None)
        frame = proc.frame
        if frame is not None and frame.state == job_pb2.RUNNING:
            frame.exit_status = exit_status
            frame.stop_time = int(time.time())
            frame.set_state(job_pb2.WAITING)

    def _maintenance_loop(self):
        """MaintenanceManagerSupport.checkHardwareState: a host silent for ``host_down_after``
        seconds goes DOWN and its procs are cleared."""
        while not self._stopping.wait(min(1.0, self.host_down_after / 4.0)):
            with self.lock:
                now = time.time()
                for host in self.hosts.values():
                    if host.state == "UP" and now - host.last_ping > self.host_down_after:
                        host.state = "DOWN"
                        for proc in list(self.procs.values()):
                            if proc.host is host:
                                self._lost_proc(proc, EXIT_DOWN_HOST)
            self.wake()

    # -- manual actions (JobManagerSupport) --------------------------------------------------

    def _procs_of(self, frames):
        ids = set(frame.id for frame in frames)
        return [proc for proc in self.procs.values()
                if proc.frame is not None and proc.frame.id in ids]

    def _kill(self, targets, reason):
        """Ask RQD to kill each (proc, frame id); a proc whose kill fails is cleared as lost."""
        for proc, frame_id in targets:
            try:
                self._rqd(proc.host).KillRunningFrame(
                    rqd_pb2.RqdStaticKillRunningFrameRequest(frame_id=frame_id, message=reason),
                    timeout=10)
            except grpc.RpcError as error:
                log.warning("kill of %s failed: %s", frame_id, error)
                with self.lock:
                    self._lost_proc(proc, EXIT_FAILED_KILL)

    def kill_frames(self, frames, reason):
        """killProcs(search, unbook=True): RQD kills the frames; each then counts as a failed
        run when RQD reports it (WAITING while retries are left, else DEAD)."""
        with self.lock:
            targets = [(proc, proc.frame.id) for proc in self._procs_of(frames)]
            for proc, _ in targets:
                proc.unbooked = True
        self._kill(targets, reason)

    def retry_frames(self, frames, reason):
        """retryFrame: a running frame is killed and must be confirmed gone on its host
        (GetRunningFrameStatus answering NOT_FOUND) before it is released; otherwise the retry
        is deferred and the frame stays RUNNING until RQD reports the kill. A frame that is
        not running goes WAITING; what depended on it waits again; the job is PENDING."""
        for frame in frames:
            with self.lock:
                targets = [(proc, frame.id) for proc in self._procs_of([frame])]
            if targets:
                self._kill(targets, reason)
                if not self._confirm_stopped(targets[0][0], frame.id, 10.0):
                    continue
            with self.lock:
                if frame.state != job_pb2.RUNNING:
                    frame.set_state(job_pb2.WAITING)
                self._unsatisfy(frame)
                self._unsatisfy(frame.layer)
                job = frame.layer.job
                if job.state == job_pb2.FINISHED:
                    job.state = job_pb2.PENDING
                    job.visible = True
        self.wake()

    def _confirm_stopped(self, proc, frame_id, budget):
        """killAndConfirmDead / RqdClientGrpc.isFrameRunning."""
        deadline = time.time() + budget
        while time.time() < deadline:
            try:
                self._rqd(proc.host).GetRunningFrameStatus(
                    rqd_pb2.RqdStaticGetRunningFrameStatusRequest(frame_id=frame_id), timeout=5)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.NOT_FOUND:
                    return True
                log.warning("could not confirm frame %s is dead: %s", frame_id, error)
                return False
            time.sleep(0.1)
        return False

    def eat_frames(self, frames, reason):
        """eatFrame: EATEN at once (a running one is stopped and killed); the job finishes when
        nothing is left to run."""
        with self.lock:
            targets = []
            for frame in frames:
                procs = self._procs_of([frame])
                if frame.state == job_pb2.RUNNING and procs:
                    targets.extend(self._manual_stop(frame, procs, job_pb2.EATEN))
                else:
                    frame.set_state(job_pb2.EATEN)
                job = frame.layer.job
                if self._job_complete(job):
                    self._shutdown_job(job)
        self._kill(targets, reason)
        self.wake()

    def _manual_stop(self, frame, procs, state):
        """JobManagerSupport.manualStopFrame: the frame leaves RUNNING now (exit status 500 +
        the state's number) and its procs no longer own it."""
        frame.exit_status = MANUAL_STOP + state
        frame.stop_time = int(time.time())
        frame.set_state(state)
        targets = []
        for proc in procs:
            proc.frame = None
            targets.append((proc, frame.id))
        return targets

    def kill_job(self, job, reason):
        """DispatchJobComplete(isManualKill=True): the job FINISHED, what depends on it
        released, its running frames set WAITING and killed on their hosts."""
        with self.lock:
            if not self._shutdown_job(job):
                return
            targets = []
            for frame in job.frames():
                procs = self._procs_of([frame])
                if frame.state == job_pb2.RUNNING:
                    targets.extend(self._manual_stop(frame, procs, job_pb2.WAITING))
        self._kill(targets, reason)
        self.wake()

    def remove_job(self, job):
        """What the real Cuebot does when a finished job is archived (or a job is deleted
        from its database): it is gone from every query."""
        with self.lock:
            self.jobs.pop(job.id, None)
            for depend in list(self.depends.values()):
                if job in (_job_of_entity(depend.er), _job_of_entity(depend.on)):
                    del self.depends[depend.id]

    def drop_depends(self, entity, target=None):
        with self.lock:
            for depend in self.depends_of(entity, False):
                if target in (None, depend_pb2.ANY_TARGET) or depend.target() == target:
                    self._satisfy_depend(depend)
        self.wake()


def _job_of_entity(entity):
    if isinstance(entity, Job):
        return entity
    if isinstance(entity, Layer):
        return entity.job
    return entity.layer.job


def _find_layer(job, name):
    for layer in job.layers:
        if layer.name == name:
            return layer
    raise CuebotError(grpc.StatusCode.INTERNAL, "failed to setup new dependency: no layer %s "
                      "in %s" % (name, job.name))


def _find_frame(job, name):
    for frame in job.frames():
        if frame.name == name:
            return frame
    raise CuebotError(grpc.StatusCode.INTERNAL, "failed to setup new dependency: no frame %s "
                      "in %s" % (name, job.name))


def _read_env(element, target):
    for key in element:
        name = key.get("name")
        if name is not None:
            target[name] = (key.text or "").strip()


def _memory_kb(value):
    """JobSpec.convertMemoryInput: megabytes as a double, gigabytes as a long (the product
    wraps as Java's long does)."""
    if "m" in value:
        return specs.java_cast(specs.java_double(value[:value.rindex("m")]) * 1024, 64)
    if "g" in value:
        return specs.java_wrap(specs.java_long(value[:value.rindex("g")]) * 1024 * 1024)
    return specs.java_wrap(specs.java_long(value) * 1024 * 1024)


def _read_localbook(element):
    """JobSpec reads <localbook>'s numbers (Integer/Long.parseInt); the fake has no local
    dispatcher, so a job that asks for one is refused rather than booked as a normal job."""
    if element is None:
        return
    for name, parse in (("cores", specs.java_int), ("memory", specs.java_long),
                        ("threads", specs.java_int), ("gpu", specs.java_long)):
        if element.get(name) is not None:
            parse(element.get(name))
    raise specs.SpecError("the fake Cuebot does not book local jobs (<localbook>)")


_SEARCH_SINGLE = re.compile(r"[0-9]+\Z")
_SEARCH_RANGE = re.compile(r"([0-9]+)-([0-9]+)\Z")
SEARCH_RANGE_MAX = 1000


def _frame_number_filter(frame_range):
    """FrameSearch.filterByFrameSet: ``n`` and ``a-b`` (the numbers between; none when
    b < a) directly, anything else as a FrameSet; one it cannot parse fails the search (an
    error the servant answers INTERNAL), and so does one of more than 1,000 frames (Cuebot
    then adds an empty condition: its query is invalid SQL)."""
    if not frame_range:
        return None
    match = _SEARCH_SINGLE.match(frame_range)
    if match:
        return {specs.java_int(frame_range)}
    match = _SEARCH_RANGE.match(frame_range)
    if match:
        low, high = specs.java_int(match.group(1)), specs.java_int(match.group(2))
        return range(low, high + 1) if low <= high else ()
    numbers = specs.frame_set(frame_range)
    if len(numbers) > SEARCH_RANGE_MAX:
        raise CuebotError(grpc.StatusCode.INTERNAL, "PreparedStatementCallback; bad SQL "
                          "grammar: ERROR: syntax error at end of input")
    return set(numbers)


def _frame_matches(frame, criteria, numbers):
    if criteria.ids and frame.id not in criteria.ids:
        return False
    if criteria.frames and frame.name not in criteria.frames:
        return False
    if criteria.layers and frame.layer.name not in criteria.layers:
        return False
    if criteria.states.frame_states and frame.state not in criteria.states.frame_states:
        return False
    if numbers is not None and frame.number not in numbers:
        return False
    if criteria.change_date > 0 and not frame.updated > criteria.change_date:
        return False
    return True

