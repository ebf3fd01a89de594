"""Job hierarchies, as in cgkit's job queue: a task runs once all its sub-tasks succeeded.

    render = Task(render_frames, ("1-100",), name="render")
    comp = Task(composite, subtasks=[render, Task(make_slate)], name="comp")
    publish = ex.submit_tree(Task(publish_shot, subtasks=[comp], name="publish"))

Each task is one farm job; the tree is submitted depth first (sub-tasks before their parent)
and every parent depends on its sub-tasks on the farm (``depends_on``), so tasks on one level
run side by side, the chain survives the submitting session, and a failed sub-task fails its
parent with :class:`~dccfutures.DependencyError`. A task shared by two parents runs once.
A cycle (a task among its own sub-tasks, however deep) is refused before anything is submitted.
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence

from . import payload


class Task:
    """One job of a hierarchy: ``func(*args, **kwargs)`` with job fields (cpus, priority…)."""

    def __init__(self, func: Any, args: Sequence[Any] = (), kwargs: Optional[Dict[str, Any]] = None,
                 subtasks: Iterable["Task"] = (), name: Optional[str] = None, **job_fields: Any):
        payload.check_callable(func)
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.subtasks: List[Task] = []
        self.name = name
        self.job_fields = job_fields
        self.future: Any = None  # set by Executor.submit_tree
        for task in subtasks:
            self.add(task)

    def add(self, task: "Task") -> "Task":
        """Add a sub-task (it must succeed before this one runs); returns it."""
        if not isinstance(task, Task):
            raise TypeError("a sub-task must be a dccfutures.Task, got %r" % (task,))
        self.subtasks.append(task)
        return task

    def __repr__(self) -> str:
        return "<Task %s>" % (self.name or payload.describe(self.func))


def depth_first(root: Task) -> List[Task]:
    """Every task of the tree, each after all of its sub-tasks; raises ValueError naming the
    cycle if a task is among its own sub-tasks."""
    order: List[Task] = []
    done: set = set()
    path: List[Task] = []

    def visit(task: Task) -> None:
        if id(task) in done:
            return
        if any(task is t for t in path):
            cycle = path[[id(t) for t in path].index(id(task)):] + [task]
            raise ValueError("dependency cycle: %s" % " -> ".join(repr(t) for t in cycle))
        path.append(task)
        for sub in task.subtasks:
            visit(sub)
        path.pop()
        done.add(id(task))
        order.append(task)

    visit(root)
    return order
