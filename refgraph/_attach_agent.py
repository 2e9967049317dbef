"""The code `refgraph attach` runs inside the target process
(refgraph/_attach.py sends this file's text; it is never imported there).

It runs on a thread of its own (src/remote_agent.c) that holds the GIL, in
a fresh namespace: nothing is bound in the target's __main__.  It imports
refgraph from where the command runs unless the target has imported it
already, takes the dump as refgraph.dump() does (a forked child writes the
file), waits for it, and writes what happened to a status file.  refgraph
stays imported, as any module imported once does: a later attach uses it
again, so that two dumps differ by the program's objects, not by a second
copy of refgraph's (taking it out of sys.modules would leave its cycles
to the collector).  It must not raise: the thread ends with the code, and
nothing it prints would be seen.
"""


def run(args):
    import json
    import os
    import sys
    import time

    status = {"pid": os.getpid(), "phase": "running", "python": list(sys.version_info[:2])}

    def write(fields):
        if fields["phase"] == "done" and not os.path.exists(args["status"]):
            return   # the command stopped waiting (Ctrl-C) and took its file away
        tmp = "%s.%d.tmp" % (args["status"], os.getpid())
        try:
            with open(tmp, "w") as f:
                json.dump(fields, f)
            os.replace(tmp, args["status"])
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    if time.time() > args["deadline"] or not os.path.exists(args["status"]):
        return   # the command gave up waiting (its deadline, Ctrl-C): do nothing
    write(status)
    loaded = False
    try:
        refgraph = sys.modules.get("refgraph")
        if refgraph is None or not hasattr(refgraph, "dump"):
            import importlib.machinery
            import importlib.util
            spec = importlib.machinery.PathFinder.find_spec("refgraph", [args["path"]])
            if spec is None:
                raise ImportError("refgraph is not in %s" % args["path"])
            refgraph = importlib.util.module_from_spec(spec)
            sys.modules["refgraph"] = refgraph
            try:
                spec.loader.exec_module(refgraph)
            except BaseException:
                for name in list(sys.modules):
                    if name == "refgraph" or name.startswith("refgraph."):
                        del sys.modules[name]
                raise
            loaded = True
        status["loaded"] = loaded
        d = refgraph.dump(args["filename"], untracked=args["untracked"], redact=args["redact"],
                          timeout=args["dump_timeout"], log=None)
        if not d.wait(args["dump_timeout"] + 5):
            status["error"] = "the dump did not finish within %d s" % args["dump_timeout"]
        status.update(path=d.path, objects=d.objects, references=d.references, stall=d.stall,
                      forked=d.forked, fallback=d.fallback, seconds=d.seconds,
                      child_memory=d.child_memory)
        if d.error is not None:
            status["error"] = d.error
    except BaseException as exc:   # noqa: B036  (nothing may escape the agent's thread)
        status["error"] = "%s: %s" % (type(exc).__name__, exc)
    finally:
        status["phase"] = "done"
        write(status)


if __name__ == "__refgraph_attach__":
    run(ARGS)  # noqa: F821  (given in the namespace the code runs in)
