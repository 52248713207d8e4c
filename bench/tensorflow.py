# TensorFlow: the chapter trains with Keras compile and fit (there is no train function), so each
# variant is the chapter's model compiled as the chapter compiles it and trained by fit as the
# chapter calls it: the chapter's MyDense network and the same network of keras.layers.Dense, on
# fit's compiled step (tf.function), and the MyDense network eagerly (run_eagerly=True, the naive
# path). fit calls epoch_ended() from a callback at the end of every epoch.
STAMP_BY_PRINT = False


def set_weights(net):
    for variable, array in zip(net.trainable_weights, WEIGHTS):
        variable.assign(matching(array, variable.shape))
    return net


def compiled(net, run_eagerly=False):
    """net compiled as the chapter compiles its network (its schedule spans num_epochs)."""
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=num_epochs * steps_per_epoch)
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=momentum),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"], run_eagerly=run_eagerly)
    return net


def custom_net(run_eagerly=False):  # the chapter's network
    with tf.device(device):
        net = keras.Sequential([keras.Input(shape=(784,)), MyDense(784, 128), MyDense(128, 64),
                                MyDense(64, 10, relu=False)])
    return compiled(set_weights(net), run_eagerly)


def builtin_net():
    with tf.device(device):
        net = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(128, activation="relu"),
                                keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    return compiled(set_weights(net))


# The benchmark's fixed order (the same in every framework), which fit keeps with shuffle=False.
ordered_images, ordered_labels = train_images[ORDER], train_labels[ORDER]
stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epoch_ended())


def fit(net, epochs):
    """The chapter's fit, for `epochs` epochs; (loss, train accuracy, test accuracy) per epoch."""
    with tf.device(device):
        history = net.fit(ordered_images, ordered_labels, batch_size=BENCH["batch_size"], epochs=epochs,
                          validation_data=(test_images, test_labels), verbose=2, shuffle=False,
                          callbacks=[stamp])
    return list(zip(*(history.history[key] for key in ["loss", "accuracy", "val_accuracy"])))


VARIANTS = {
    "custom": (custom_net, BENCH["epochs"], fit),
    "built-in": (builtin_net, BENCH["epochs"], fit),
    "naive (eager)": (lambda: custom_net(run_eagerly=True), BENCH["naive_epochs"], fit),
}
run_variants()
