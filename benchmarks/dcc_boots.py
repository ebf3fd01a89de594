"""How many times a DCC boots for one batch: the measure issue 4 asks for.

Runs a batch of N items (default 100) through ``dccfutures.maya.Executor`` (both bootstraps)
and ``dccfutures.houdini.Executor`` on a fresh local farm with W workers (default 2), with the
fake DCCs of ``tests/fakes`` standing in for Maya and Houdini (what is counted is dccfutures'
own behaviour: how often a worker opens the scene), and counts the boot lines in the workers'
logs. Prints one Markdown row per bootstrap.

    .venv/bin/python benchmarks/dcc_boots.py [--items 100] [--workers 2]
"""
import argparse
import glob
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "tests", "fakes")
sys.path[:0] = [ROOT, FAKES]


def scene_name():
    try:
        import maya.cmds as cmds
        return cmds.file(query=True, sceneName=True)
    except ImportError:
        import hou
        return hou.hipFile.path()


def run(items: int, workers: int) -> None:
    base = tempfile.mkdtemp(prefix="dccfutures-boots-")
    os.environ.update(DCCFUTURES_HOME=os.path.join(base, "home"),
                      DCCFUTURES_CONFIG=os.path.join(base, "config.yaml"),
                      DCCFUTURES_FAKE_PYTHON=sys.executable)
    with open(os.environ["DCCFUTURES_CONFIG"], "w") as handle:
        handle.write("local: {workers: %d, idle_timeout: 30}\ndcc:\n"
                     "  maya: {\"2025\": {mayapy: %s, maya: %s}}\n"
                     "  houdini: {\"20.5\": {hython: %s}}\n"
                     % (workers, os.path.join(FAKES, "bin", "mayapy"),
                        os.path.join(FAKES, "bin", "maya"), os.path.join(FAKES, "bin", "hython")))
    from dccfutures.farms.local import LocalFarm
    import maya._fake
    import maya.cmds as cmds
    import hou
    import hou_fake
    maya._fake.reset("interactive")
    scene = maya._fake.write_scene(os.path.join(base, "sh010.ma"), {"pCube1": "transform"})
    cmds.file(scene, open=True, force=True)
    hou_fake.reset("ui")
    hou.hipFile.load(hou_fake.write_hip(os.path.join(base, "sh010.hip"), {"/obj/geo1": "geo"}))
    from dccfutures import houdini, maya as dcc_maya
    print("| bootstrap | items | workers | boots | wall time |")
    print("|---|---:|---:|---:|---:|")
    cases = [("mayapy", lambda: dcc_maya.Executor(clone_environ=True, create_tempfile=True),
              "Maya 2025 bootstrapped in mayapy"),
             ("maya -batch", lambda: dcc_maya.Executor(clone_environ=True, create_tempfile=True,
                                                       prototype="dccfutures_maya"),
              "Maya 2025 bootstrapped in maya_batch"),
             ("hython", lambda: houdini.Executor(clone_environ=True, create_tempfile=True),
              "Houdini 20.5 bootstrapped in hython")]
    try:
        for label, make, marker in cases:
            ex = make()
            started = time.monotonic()
            with ex.batch("%d items" % items) as batch:
                for _ in range(items):
                    batch.submit(scene_name)
            results = [f.result(300) for f in batch.futures]
            elapsed = time.monotonic() - started
            assert len(set(results)) == 1, results[:3]
            boots = sum(open(p).read().count(marker) for p in
                        glob.glob(os.path.join(os.environ["DCCFUTURES_HOME"], "logs", "worker-*.log")))
            print("| %s | %d | %d | %d | %.2f s |" % (label, items, workers, boots, elapsed))
            ex.shutdown()
    finally:
        LocalFarm().stop_supervisor()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(args.items, args.workers)
