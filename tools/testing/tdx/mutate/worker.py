# SPDX-License-Identifier: GPL-2.0-only
"""One mutation worker: python3 -m tdx.mutate.worker, started in a copy of the tree.

Reads one JSON job a line on stdin ({"module_path", "operator", "occurrence",
"command", "timeout"}, and "reason" when there is no command to run: the
coverage map found no case executing the mutated statement), applies the mutation to the copy it runs in (cosmic-ray's
use_mutation(), which puts the file back afterwards), runs the test command in
a session of its own and answers one JSON line on stdout: {"outcome": killed |
survived | timeout | no-mutation | error, "seconds", "diff", "output"}.

A test command still running when its timeout expires, or when this worker is
told to stop (SIGTERM, SIGINT), is killed with its whole process group; the
worker only ever touches its own copy, which the caller deletes.
"""

import difflib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from tdx.mutate import operators
from tdx.mutate.suite import USAGE

OUTPUT_LIMIT = 4000
_child = None
_stopping = []


def _kill_child():
    if _child is not None and _child.poll() is None:
        try:
            os.killpg(_child.pid, signal.SIGKILL)
        except OSError:
            pass


def _stop(signum, frame):
    _stopping.append(signum)
    _kill_child()
    raise SystemExit(128 + signum)


def run_command(command, timeout):
    """(outcome, output) of the test command: survived (exit 0), error (2, a
    usage error: no verdict), killed (any other), timeout."""
    global _child
    _child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = _child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_child()
        _child.communicate()
        return "timeout", "no result after %s s" % timeout     # engine.TIMEOUT_OUTPUT
    finally:
        _kill_child()
    text = out.decode("utf-8", "replace")
    if _child.returncode == USAGE:           # the test command refused its arguments: no verdict
        return "error", text
    return ("killed" if _child.returncode != 0 else "survived"), text


def do_job(job):
    import cosmic_ray.plugins
    from cosmic_ray.mutating import use_mutation

    start = time.monotonic()
    if job.get("operator") is None:             # the unmutated baseline
        outcome, output = run_command(job["command"], job["timeout"])
        return {"outcome": outcome, "output": output[-OUTPUT_LIMIT:], "diff": "",
                "seconds": time.monotonic() - start}
    operator = cosmic_ray.plugins.get_operator(job["operator"])()
    path = Path(job["module_path"])
    with use_mutation(path, operator, job["occurrence"]) as (original, mutated):
        if mutated is None:
            return {"outcome": "no-mutation", "output": "", "diff": "", "seconds": 0.0}
        if job["command"] is None:
            outcome, output = "survived", job["reason"]
        else:
            outcome, output = run_command(job["command"], job["timeout"])
    diff = "\n".join(difflib.unified_diff(original.split("\n"), mutated.split("\n"), "a/%s" % path,
                                          "b/%s" % path, lineterm="", n=0))
    return {"outcome": outcome, "output": output[-OUTPUT_LIMIT:], "diff": diff,
            "seconds": time.monotonic() - start}


def main():
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    operators.install()
    for line in sys.stdin:
        job = json.loads(line)
        try:
            answer = do_job(job)
        except Exception:               # a broken mutation must not stop the run
            if _stopping:               # ... but a stop request must, whatever it interrupted
                raise SystemExit(128 + _stopping[0])
            answer = {"outcome": "error", "output": traceback.format_exc()[-OUTPUT_LIMIT:],
                      "diff": "", "seconds": 0.0}
        answer["id"] = job.get("id")
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
