# MindSpore: the chapter's train() with its ms.jit-compiled train_step, on the chapter's network of
# MyDense and on the same network of nn.Dense, and the MyDense network with the step not compiled
# (the naive path: PyNative, operator by operator). The chapter's optimizer, grad_fn and train_step
# are bound to its global `net`, so each run sets `net` and runs the chapter's own cells that
# define them again (from BENCH["cells"]), which builds a new optimizer and a new compiled step.
NOTE = ("the chapter's MyDense computes ops.matmul and an addition, as the chapter teaches; nn.Dense calls "
        "the MatMul primitive and BiasAdd, whose gradients need no Transpose operators (an operator profile, "
        "build.py bench --profile -f mindspore, shows the Transposes in the custom layer's graph)")
PROFILED = train_epoch


def chapter_cell(*needles):
    """The source of the chapter's code cell that contains every one of ``needles``."""
    found = [source for source in BENCH["cells"] if all(needle in source for needle in needles)]
    assert len(found) == 1, f"{len(found)} code cells of the chapter contain {needles}, not 1"
    return found[0]


OPTIMIZER_CELL = chapter_cell("optimizer = nn.SGD(", "grad_fn = ms.value_and_grad(")
STEP_CELL = chapter_cell("@ms.jit\ndef train_step(", "def train_epoch(")


def set_weights(net):
    for param, array in zip(net.trainable_params(), WEIGHTS):
        param.set_data(Tensor(matching(array, param.shape)))
    return net


def custom_net():  # the chapter's network
    return nn.SequentialCell(MyDense(784, 128), MyDense(128, 64), MyDense(64, 10, relu=False))


def builtin_net():
    return nn.SequentialCell(nn.Dense(784, 128, activation="relu"), nn.Dense(128, 64, activation="relu"),
                             nn.Dense(64, 10))


def fixed_order():
    for batch in BATCHES:
        yield train_images[batch], train_labels[batch]


def run_cell(source, name):
    """Run a chapter's cell in the kernel's globals, its source registered as IPython registers a
    cell's (ms.jit reads the source of the function it compiles, and py-spy's report its lines)."""
    filename = f"<bench-{name}-{len(linecache.cache)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), globals())


def trained_by_the_chapter(make_net, compiled=True):
    """make() for time_train: the network, with the chapter's optimizer, grad_fn and train_step
    (without @ms.jit where not ``compiled``) defined anew for it, as the chapter's cells define them."""
    def make():
        global net, PROFILED
        net = set_weights(make_net())
        run_cell(OPTIMIZER_CELL, "optimizer")
        run_cell(STEP_CELL if compiled else STEP_CELL.replace("@ms.jit\n", "", 1), "step")
        PROFILED = train_epoch  # the one just defined, which the run calls
        return net
    return make


def fit(net, epochs):
    """The chapter's train() on a data set built like the chapter's, with the benchmark's fixed order."""
    return train(net, ds.GeneratorDataset(fixed_order, column_names=["image", "label"]), (test_images, test_labels),
                 epochs)


@contextlib.contextmanager
def operator_profile(folder):
    """MindSpore's profiler times each operator of the graph; it writes its tables under folder."""
    from mindspore.profiler import ProfilerActivity, profile, tensorboard_trace_handler

    with profile(activities=[ProfilerActivity.CPU], on_trace_ready=tensorboard_trace_handler(folder)):
        yield


VARIANTS = {
    "custom": (trained_by_the_chapter(custom_net), BENCH["epochs"], fit),
    "built-in": (trained_by_the_chapter(builtin_net), BENCH["epochs"], fit),
    "naive (no ms.jit)": (trained_by_the_chapter(custom_net, compiled=False), BENCH["naive_epochs"], fit),
}
run_variants()
