# MXNet: the chapter's train() (its DataLoader, Trainer and cosine schedule) on the chapter's network
# of MyDense and on the same network of Gluon's nn.Dense. The chapter's MyDense is a Block, which
# runs imperatively (it cannot be hybridized), so the built-in network is not hybridized either and
# there is no separate naive path: the chapter's path is the imperative one.
NOTE = ("the chapter's MyDense computes np.dot and an addition, as the chapter teaches; nn.Dense "
        "calls the fused npx.fully_connected, which MXNet's CPU build runs with oneDNN's inner-product "
        "kernel")
PROFILED = train_epoch


def set_weights(net):
    for param, array in zip(net.collect_params().values(), WEIGHTS):
        param.set_data(np.array(matching(array, param.shape), ctx=device))
    return net


def custom_net():  # the chapter's network
    net = nn.Sequential()
    net.add(MyDense(128, in_units=784), MyDense(64, in_units=128), MyDense(10, in_units=64, relu=False))
    net.initialize(ctx=device)
    return set_weights(net)


def builtin_net():
    net = nn.Sequential()
    net.add(nn.Dense(128, activation="relu", in_units=784), nn.Dense(64, activation="relu", in_units=128),
            nn.Dense(10, in_units=64))
    net.initialize(ctx=device)
    return set_weights(net)


# The chapter's DataLoader, in the benchmark's fixed order (the same in every framework) instead of
# shuffle=True.
loader = gluon.data.DataLoader(dataset, BENCH["batch_size"], sampler=ORDER.tolist())


def fit(net, epochs):
    """As the chapter's training cell, for `epochs` epochs of its num_epochs-long schedule."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    schedule = mx.lr_scheduler.CosineScheduler(max_update=num_epochs * len(loader), base_lr=lr)
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": lr, "momentum": momentum, "lr_scheduler": schedule})
    return train(net, loader, (test_images, test_labels), loss_fn, trainer, epochs, device)


VARIANTS = {
    "custom": (custom_net, BENCH["epochs"], fit),
    "built-in": (builtin_net, BENCH["epochs"], fit),
}
run_variants()
