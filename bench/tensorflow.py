# TensorFlow: Keras fit (tf.function) with the custom and the built-in Dense layer, and eager.
def set_weights(net):
    for variable, array in zip(net.trainable_weights, WEIGHTS):
        variable.assign(matching(array, variable.shape))
    return net


def builtin_net():
    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(128, activation="relu"),
                             keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])


batches = tf.data.Dataset.from_tensor_slices((train_images[ORDER], train_labels[ORDER])).batch(BENCH["batch_size"])
VARIANTS = {
    "custom": (lambda: set_weights(get_net()), batches, BENCH["epochs"], {}),
    "built-in": (lambda: set_weights(builtin_net()), batches, BENCH["epochs"], {}),
    "naive (eager)": (lambda: set_weights(get_net()), batches, BENCH["naive_epochs"], {"run_eagerly": True}),
}
with tf.device(device):
    run_variants()
