# Runs in a framework's kernel after the chapter's own cells up to its `bench-replace` cell (the
# cell that trains), so `train`/`train_epoch`, `accuracy`, `device`, `lr`, `momentum`, `num_epochs`,
# the loss and the MNIST arrays are the notebook's (TensorFlow: the compiled `net` and Keras `fit`).
# BENCH (set by the driver) holds the input file, the epochs and the batch size, "cells" (the
# sources of the notebook's code cells before `bench-replace`, for a framework whose training step
# is bound to the notebook's `net`), and, with --profile, the profile folder. The framework's file
# defines VARIANTS = {name: (make_net, epochs, fit)}, where fit(net, epochs) trains net with the
# chapter's code and returns (loss, train accuracy, test accuracy) per epoch; PROFILED, the chapter's
# function that holds the loop over the minibatches (py-spy's line table), or None; STAMP_BY_PRINT
# False where fit calls epoch_ended() itself instead of printing one line per epoch; and may define
# operator_profile(folder).
import builtins
import contextlib
import json
import linecache
import os
import signal
import subprocess
import time

import numpy

inputs = numpy.load(BENCH["inputs"])
WEIGHTS = [inputs[f"w{i}"] for i in range(6)]
ORDER = inputs["order"]
BATCHES = [ORDER[i:i + BENCH["batch_size"]] for i in range(0, len(ORDER), BENCH["batch_size"])]


def matching(array, shape):
    """``array`` as a parameter of ``shape`` holds it: as is, or transposed (built-in layers
    store their weight as (out, in))."""
    if tuple(array.shape) == tuple(shape):
        return array
    assert tuple(array.T.shape) == tuple(shape), (array.shape, shape)
    return numpy.ascontiguousarray(array.T)


STAMPS = []
STAMP_BY_PRINT = True
PROFILED = None


def epoch_ended():
    """Record the end of an epoch (the chapter's train prints one line per epoch: see time_train)."""
    STAMPS.append(time.perf_counter())
    if len(STAMPS) == 1 and AFTER_FIRST_EPOCH:
        AFTER_FIRST_EPOCH.pop()()


AFTER_FIRST_EPOCH = []


def time_train(make_net, num_epochs, fit, after_first_epoch=None):
    """Call fit(make_net(), num_epochs) (the chapter's training code), stamping the end of each
    epoch: by the chapter's one report line per epoch, or by fit calling epoch_ended() where the
    framework's file sets STAMP_BY_PRINT = False. after_first_epoch(), if given, is called once
    the first (warm-up) epoch has ended."""
    original = builtins.print

    def stamped(*args, **kwargs):
        original(*args, **kwargs)
        epoch_ended()

    net = make_net()
    STAMPS.clear()
    AFTER_FIRST_EPOCH[:] = [after_first_epoch] if after_first_epoch else []
    start = time.perf_counter()
    if STAMP_BY_PRINT:
        builtins.print = stamped
    try:
        history = fit(net, num_epochs)
    finally:
        builtins.print = original
    assert len(STAMPS) == num_epochs, f"{len(STAMPS)} epoch ends stamped, not {num_epochs}"
    seconds = [b - a for a, b in zip([start] + STAMPS[:-1], STAMPS)]
    return {"epoch_seconds": seconds, "history": [list(map(float, h)) for h in history]}


@contextlib.contextmanager
def sampled(path):
    """py-spy samples this process's Python threads, waiting ones included, into ``path``
    (collapsed stacks). Attaching to a running process needs ptrace permission."""
    spy = subprocess.Popen([BENCH["py_spy"], "record", "--pid", str(os.getpid()), "--idle", "--rate", "200",
                            "--format", "raw", "--output", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    first = spy.stdout.readline()  # "Sampling process ..." once attached, else why not
    if spy.poll() is not None or "Sampling" not in first:
        spy.kill()
        raise RuntimeError(f"py-spy could not sample the kernel (it needs ptrace permission: root, or "
                           f"kernel.yama.ptrace_scope=0):\n{first}{spy.communicate()[0]}")
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        rest = spy.communicate(timeout=120)[0]
        if spy.returncode != 0 or not os.path.exists(path):
            raise RuntimeError(f"py-spy failed:\n{first}{rest}")


def profile_custom():
    """Train the custom network again, for a warm-up epoch and then BENCH["profile_epochs"] epochs
    under py-spy and, where the framework's file defines operator_profile (its training step runs
    as one compiled graph), under the framework's own profiler too."""
    folder = BENCH["profile"]
    os.makedirs(folder, exist_ok=True)
    make_net, _, fit = VARIANTS["custom"]
    with contextlib.ExitStack() as profilers:
        def start():
            # py-spy shows which line of train() the time is spent on; where the training step is
            # one compiled graph (MindSpore), the framework's profiler also times its operators.
            profilers.enter_context(sampled(os.path.join(folder, "stacks.txt")))
            if "operator_profile" in globals():
                profilers.enter_context(operator_profile(os.path.join(folder, "operators")))

        result = time_train(make_net, 1 + BENCH["profile_epochs"], fit, after_first_epoch=start)
    if PROFILED is not None:  # the chapter's loop over the minibatches, for py-spy's line table
        code = PROFILED.__code__
        result["train"] = {"function": code.co_name, "file": code.co_filename,
                           "lines": linecache.getlines(code.co_filename)}
    else:  # the loop is the framework's own (Keras fit): no line of the chapter's to time
        result["train"] = None
    return result


def run_variants():
    """Time every variant once, then custom and built-in again, alternately, BENCH["repeats"] - 1
    more times (their ratio is the benchmark's finest claim, so drift in the machine's speed must
    hit both alike); print the runs' epoch times, the first run's history and the profile."""
    results = {}
    chosen = BENCH.get("variants") or list(VARIANTS)  # the script run (bench.SCRIPTED) leaves the naive path out
    for repeat in range(BENCH.get("repeats", 1)):
        for name, (make_net, epochs, fit) in VARIANTS.items():
            if name not in chosen or (repeat and name not in ("custom", "built-in")):
                continue
            run = time_train(make_net, epochs, fit)
            result = results.setdefault(name, {"runs": [], "history": run["history"]})
            result["runs"].append(run["epoch_seconds"])
    profile = profile_custom() if BENCH.get("profile") else None
    # NOTE, where the framework's file sets it, says why its custom layer may be slower than the
    # built-in one; the report prints it when custom / built-in exceeds RATIO_LIMIT.
    print("BENCH_RESULT " + json.dumps({"variants": results, "profile": profile, "note": globals().get("NOTE")}))
