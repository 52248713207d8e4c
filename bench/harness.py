# Runs in a framework's kernel after the chapter's own cells up to the `bench-replace` cell, so
# `train`, `get_net`, `device` and the MNIST arrays are the notebook's. BENCH (set by the driver)
# holds the input file, the epochs and the batch size; the framework's file defines VARIANTS.
import builtins
import json
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


def time_train(make_net, train_iter, num_epochs, **options):
    """Call the notebook's train() on make_net(), stamping the time of each epoch's report line."""
    stamps = []
    original = builtins.print

    def stamped(*args, **kwargs):
        stamps.append(time.perf_counter())
        original(*args, **kwargs)

    net = make_net()
    if callable(train_iter):  # a factory, where a data set serves only one model (MindSpore)
        train_iter = train_iter()
    start = time.perf_counter()
    builtins.print = stamped
    try:
        history = train(net, train_iter, num_epochs, **options)
    finally:
        builtins.print = original
    seconds = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    return {"epoch_seconds": seconds, "history": [list(map(float, h)) for h in history]}


def run_variants():
    results = {}
    for name, (make_net, train_iter, epochs, options) in VARIANTS.items():
        results[name] = time_train(make_net, train_iter, epochs, **options)
    print("BENCH_RESULT " + json.dumps(results))
