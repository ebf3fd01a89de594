"""What Cuebot keeps in PostgreSQL, kept in memory: shows, jobs, layers, frames, depends, hosts
and procs, with the state rules Cuebot's DAOs and triggers apply."""
import time
import uuid

from opencue_proto import depend_pb2, job_pb2

# Exit statuses Cuebot gives frames it stops itself (Dispatcher.java, JobManagerSupport).
EXIT_FAILED_LAUNCH = 256       # FrameExitStatus.FAILED_LAUNCH: RQD could not start the frame
EXIT_SKIP_RETRY = 286          # FrameExitStatus.SKIP_RETRY (RQD's nimby kill)
EXIT_FRAME_CLEARED = 299       # the launch RPC to RQD failed
EXIT_FRAME_ORPHAN = 301        # the host no longer runs the frame
EXIT_FAILED_KILL = 302         # the kill RPC to RQD failed
EXIT_DOWN_HOST = 399           # the host stopped reporting
EXIT_MEMORY_FAILURE = 33       # retried with more memory, past max retries
MANUAL_STOP = 500              # + the new state's number: killed by a retry/eat/job kill
# A frame started after one of these does not spend a retry (FrameDaoJdbc.retryExclusions).
RETRY_EXCLUSIONS = (-1, EXIT_SKIP_RETRY, EXIT_FAILED_LAUNCH, EXIT_FRAME_CLEARED,
                    EXIT_FRAME_ORPHAN, EXIT_FAILED_KILL, EXIT_DOWN_HOST)
FRAME_TIME_NO_RETRY = 3600 * 12

DEFAULT_SERVICE = {"threadable": False, "min_cores": 100, "min_memory": 3355443,
                   "tags": ["general", "desktop"]}


def new_id():
    return str(uuid.uuid4())


class Show(object):
    def __init__(self, name):
        self.id = new_id()
        self.name = name
        self.active = True


class Job(object):
    def __init__(self, name, show, shot, user, uid, facility, email, os_name):
        self.id = new_id()
        self.name = name
        self.show = show
        self.shot = shot
        self.user = user
        self.uid = uid
        self.facility = facility
        self.email = email
        self.os = os_name or ""
        self.state = job_pb2.STARTUP
        self.visible = True             # str_visible_name: cleared when the job finishes
        self.paused = False
        self.auto_eat = False
        self.priority = 1
        self.max_retries = 1
        self.max_cores = 200000         # core points (JobDetail.maxCoreUnits); <maxcores> sets it
        self.env = {}
        self.layers = []
        self.log_dir = ""
        self.start_time = int(time.time())
        self.stop_time = 0

    def frames(self):
        return [frame for layer in self.layers for frame in layer.frames]


class Layer(object):
    def __init__(self, job, name, layer_type, command, frame_range, chunk, dispatch_order):
        self.id = new_id()
        self.job = job
        self.name = name
        self.type = layer_type
        self.command = command
        self.range = frame_range
        self.chunk = chunk
        self.dispatch_order = dispatch_order
        self.min_cores = DEFAULT_SERVICE["min_cores"]
        self.max_cores = 0
        self.min_memory = DEFAULT_SERVICE["min_memory"]
        self.threadable = DEFAULT_SERVICE["threadable"]
        self.tags = list(DEFAULT_SERVICE["tags"])
        self.services = []
        self.limits = []
        self.outputs = []
        self.timeout = 0
        self.timeout_llu = 0
        self.env = {}
        self.frames = []

    def is_complete(self):
        return all(frame.state in (job_pb2.SUCCEEDED, job_pb2.EATEN) for frame in self.frames)


class Frame(object):
    def __init__(self, layer, number, dispatch_order):
        self.id = new_id()
        self.layer = layer
        self.number = number
        self.name = "%04d-%s" % (number, layer.name)
        self.dispatch_order = dispatch_order
        self.state = job_pb2.SETUP
        self.depend_count = 0
        self.retries = 0
        self.exit_status = -1
        self.start_time = 0
        self.stop_time = 0
        self.updated = time.time()
        self.host = None
        self.cores = 0
        self.version = 0
        self.max_rss = 0
        self.rss = 0
        self.llu_time = 0

    @property
    def job(self):
        return self.layer.job

    def set_state(self, state):
        """Change state as the frame table does: a frame set WAITING while it still has
        unsatisfied depends becomes DEPEND (trigger update_frame_wait_to_dep)."""
        if state == job_pb2.WAITING and self.depend_count > 0:
            state = job_pb2.DEPEND
        self.state = state
        self.touch()

    def touch(self):
        self.updated = time.time()
        self.version += 1

    def is_complete(self):
        return self.state in (job_pb2.SUCCEEDED, job_pb2.EATEN)


class Depend(object):
    """One dependency: ``er`` (job, layer or frame) waits on ``on`` (job, layer or frame)."""

    def __init__(self, depend_type, er, on, any_frame=False):
        self.id = new_id()
        self.type = depend_type
        self.er = er
        self.on = on
        self.any_frame = any_frame
        self.active = True

    def er_frames(self):
        if isinstance(self.er, Job):
            return self.er.frames()
        if isinstance(self.er, Layer):
            return list(self.er.frames)
        return [self.er]

    def target(self):
        return (depend_pb2.INTERNAL if _job_of(self.er) is _job_of(self.on)
                else depend_pb2.EXTERNAL)


def _job_of(entity):
    if isinstance(entity, Job):
        return entity
    if isinstance(entity, Layer):
        return entity.job
    return entity.layer.job


class Allocation(object):
    """A facility's pool of hosts (``facility.tag``); hosts carry its tag."""

    def __init__(self, name, facility, tag):
        self.name = name
        self.facility = facility
        self.tag = tag


class Subscription(object):
    """What a show may book on an allocation: nothing more once ``burst`` core points less
    what it runs there is below one core (DispatcherDaoJdbc.findDispatchJobs)."""

    def __init__(self, show, allocation, size, burst):
        self.show = show
        self.allocation = allocation
        self.size = size
        self.burst = burst


class Host(object):
    def __init__(self, name, allocation):
        self.name = name
        self.allocation = allocation
        self.state = "UP"
        self.total_cores = 0
        self.idle_cores = 0
        self.total_memory = 0
        self.tags = set()
        self.os = ""
        self.last_ping = time.time()
        self.nimby_locked = False
        self.boot_count = 0

    def booked_cores(self, procs):
        return sum(proc.cores for proc in procs.values() if proc.host is self)

    def booked_memory(self, procs):
        return sum(proc.memory for proc in procs.values() if proc.host is self)


class Proc(object):
    """A booked slice of a host running one frame (Cuebot's VirtualProc)."""

    def __init__(self, host, frame, cores, memory):
        self.id = new_id()
        self.host = host
        self.frame = frame
        self.job = frame.layer.job   # kept when a manual stop takes the frame away
        self.cores = cores
        self.memory = memory
        self.unbooked = False
