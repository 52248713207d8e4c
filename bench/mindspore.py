# MindSpore: graph mode, as the notebook trains, for the custom and the built-in nn.Dense layer,
# and PyNative mode (the naive path). Each variant sets the mode it needs.
NOTE = ("the chapter's MyDense computes ops.matmul and an addition, as the chapter teaches; nn.Dense calls "
        "the MatMul primitive and BiasAdd, whose gradients need no Transpose operators (an operator profile, "
        "build.py bench --profile -f mindspore, shows the Transposes in the custom layer's graph)")


def set_weights(net):
    for param, array in zip(net.trainable_params(), WEIGHTS):
        param.set_data(Tensor(matching(array, param.shape)))
    return net


def in_mode(mode, make_net):
    def make():
        ms.set_context(mode=mode)
        return set_weights(make_net())
    return make


def builtin_net():
    return nn.SequentialCell(nn.Dense(784, 128, activation="relu"), nn.Dense(128, 64, activation="relu"),
                             nn.Dense(64, 10))


@contextlib.contextmanager
def operator_profile(folder):
    """MindSpore's profiler times each operator of the graph; it writes its tables under folder."""
    from mindspore.profiler import ProfilerActivity, profile, tensorboard_trace_handler

    with profile(activities=[ProfilerActivity.CPU], on_trace_ready=tensorboard_trace_handler(folder)):
        yield


def fixed_order():
    for batch in BATCHES:
        yield train_images[batch], train_labels[batch]


def batches():
    """A new data set for each run, built like the notebook's, with the benchmark's fixed order."""
    return ds.GeneratorDataset(fixed_order, column_names=["image", "label"])
VARIANTS = {
    "custom": (in_mode(ms.GRAPH_MODE, get_net), batches, BENCH["epochs"], {}),
    "built-in": (in_mode(ms.GRAPH_MODE, builtin_net), batches, BENCH["epochs"], {}),
    "naive (PyNative)": (in_mode(ms.PYNATIVE_MODE, get_net), batches, BENCH["naive_epochs"], {}),
}
run_variants()
