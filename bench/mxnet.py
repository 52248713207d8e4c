# MXNet: the notebook's hybridized custom net, Gluon's nn.Dense, and the custom net not hybridized.
NOTE = ("the chapter's MyHybridDense computes np.dot and an addition, as the chapter teaches; nn.Dense "
        "calls the fused npx.fully_connected, which MXNet's CPU build runs with oneDNN's inner-product "
        "kernel (the notebook's MyFusedDense timing shows the same gap for the forward pass)")
def set_weights(net):
    for param, array in zip(net.collect_params().values(), WEIGHTS):
        param.set_data(np.array(matching(array, param.shape), ctx=device))
    return net


def custom_net(hybridize=True):
    net = get_net()
    net.initialize(ctx=device)
    net(np.zeros((1, 784), ctx=device))  # infer the deferred shapes before loading the weights
    set_weights(net)
    if hybridize:
        net.hybridize()
    return net


def builtin_net():
    net = nn.HybridSequential()
    net.add(nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"), nn.Dense(10))
    net.initialize(ctx=device)
    net(np.zeros((1, 784), ctx=device))
    set_weights(net)
    net.hybridize()
    return net


batches = [(np.array(train_images[b], ctx=device), np.array(train_labels[b], ctx=device)) for b in BATCHES]
VARIANTS = {
    "custom": (custom_net, batches, BENCH["epochs"], {"device": device}),
    "built-in": (builtin_net, batches, BENCH["epochs"], {"device": device}),
    "naive (not hybridized)": (lambda: custom_net(hybridize=False), batches, BENCH["naive_epochs"], {"device": device}),
}
run_variants()
