# MindSpore: graph mode with dataset sinking for the custom and the built-in nn.Dense layer,
# then PyNative mode (the naive path) last, since it switches the context.
def set_weights(net):
    for param, array in zip(net.trainable_params(), WEIGHTS):
        param.set_data(Tensor(matching(array, param.shape)))
    return net


def builtin_net():
    return nn.SequentialCell(nn.Dense(784, 128, activation="relu"), nn.Dense(128, 64, activation="relu"),
                             nn.Dense(64, 10))


def pynative_net():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    return set_weights(get_net())


def fixed_order():
    for batch in BATCHES:
        yield train_images[batch], train_labels[batch]


def batches():
    """A new data set for each run (MindSpore binds a data set to the first Model that trains on
    it), built like the notebook's, with the benchmark's fixed order."""
    return ds.GeneratorDataset(fixed_order, column_names=["image", "label"])
VARIANTS = {
    "custom": (lambda: set_weights(get_net()), batches, BENCH["epochs"], {}),
    "built-in": (lambda: set_weights(builtin_net()), batches, BENCH["epochs"], {}),
    "naive (PyNative)": (pynative_net, batches, BENCH["naive_epochs"], {}),
}
run_variants()
