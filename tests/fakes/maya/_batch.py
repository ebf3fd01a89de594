"""TEST AID, not Maya API: the fake ``maya`` executable's start-up (``tests/fakes/bin/maya``).

Supports ``maya -batch [-proj DIR] [-file SCENE] [-command 'python("...")'] [-noAutoloadPlugins]``:
batch mode, userSetup.py files on ``sys.path`` run, the workspace opens, the scene opens,
then the command's Python runs in ``__main__``. Exit status: 0, the code of ``sys.exit``, or
1 when the command raises (the traceback goes to stderr)."""
import re
import sys
import traceback

_PYTHON = re.compile(r'^\s*python\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)\s*;?\s*$', re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def mel_python_call(command):
    """The Python inside MEL ``python("...")`` (MEL string escapes decoded)."""
    match = _PYTHON.match(command)
    if match is None:
        raise ValueError("fake maya: -command supports only python(\"...\"), got %r" % command)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), match.group(1))


def main(argv):
    batch, command, scene, project = False, None, None, None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-batch":
            batch = True
        elif arg in ("-command", "-file", "-proj"):
            if not args:
                sys.stderr.write("fake maya: %s needs a value\n" % arg)
                return 2
            value = args.pop(0)
            if arg == "-command":
                command = value
            elif arg == "-file":
                scene = value
            else:
                project = value
        elif arg == "-noAutoloadPlugins":
            pass
        else:
            sys.stderr.write("fake maya: unsupported argument %r\n" % arg)
            return 2
    if not batch:
        sys.stderr.write("fake maya: only -batch is supported (there is no GUI)\n")
        return 2
    import maya._fake
    maya._fake.reset("batch")
    from maya import cmds, standalone
    standalone.run_user_setups()
    try:
        if project:
            cmds.workspace(project, openWorkspace=True)
        if scene:
            cmds.file(scene, open=True, force=True)
        if command is not None:
            code = mel_python_call(command)
            sys.argv = ["maya"]
            exec(compile(code, "<maya -command>", "exec"), {"__name__": "__main__"})
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        sys.stderr.write("%s\n" % done.code)
        return 1
    except Exception:
        sys.stderr.write("# Error: " + traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
