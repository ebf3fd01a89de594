"""A worker of the queue, for tests: run a job bundle's first task for real under
openjd-sessions (with the queue's path mapping rules, if any) and read its item's result
where that worker finds it."""
import os

from dccfutures import payload


def run_one_task(bundle_folder, root, rules=None, name="worker"):
    """The (ok, value) of item 0 of the bundle in ``bundle_folder``, run in a session under
    ``root``; the session's log is in the assertion message when it does not succeed."""
    from dccfutures.farms.openjd.session import Bundle, WorkerSession
    from dccfutures.runtime import openjd as runtime
    bundle = Bundle(bundle_folder)
    os.makedirs(str(root), exist_ok=True)
    with WorkerSession(bundle, name, root=str(root), path_mapping_rules=rules) as session:
        entered = session.enter(bundle.step())
        assert entered.state.name == "SUCCESS", "\n".join(session.log)
        ran = session.run(0)
        assert ran.state.name == "SUCCESS", "\n".join(session.log)
        session.exit()
    blob = runtime.read_result(runtime.map_path(bundle.output, rules or []), 0)[1]
    return payload.unpack(payload.decode_outcomes(blob)[0])
