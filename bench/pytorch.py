# PyTorch: the notebook trains eagerly (its fast path), so there is no slower naive path to add.
def set_weights(net):
    with torch.no_grad():
        for param, array in zip(net.parameters(), WEIGHTS):
            param.copy_(torch.from_numpy(matching(array, param.shape)))
    return net.to(device)


def builtin_net():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


batches = [(torch.from_numpy(train_images[b]), torch.from_numpy(train_labels[b]).long()) for b in BATCHES]
VARIANTS = {
    "custom": (lambda: set_weights(get_net()), batches, BENCH["epochs"], {"device": device}),
    "built-in": (lambda: set_weights(builtin_net()), batches, BENCH["epochs"], {"device": device}),
}
run_variants()
