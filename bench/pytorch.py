# PyTorch: the chapter's train() (its DataLoader, SGD and cosine schedule) on the chapter's network
# of MyLinear and on the same network of nn.Linear. The notebook trains eagerly (its fast path), so
# there is no slower naive path to add.
PROFILED = train_epoch


def set_weights(net):
    with torch.no_grad():
        for param, array in zip(net.parameters(), WEIGHTS):
            param.copy_(torch.from_numpy(matching(array, param.shape)))
    return net.to(device)


def custom_net():  # the chapter's network
    return nn.Sequential(MyLinear(784, 128), MyLinear(128, 64), MyLinear(64, 10, relu=False))


def builtin_net():
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


# The chapter's DataLoader, in the benchmark's fixed order (the same in every framework) instead of
# shuffle=True.
loader = torch.utils.data.DataLoader(dataset, BENCH["batch_size"], sampler=ORDER.tolist())


def fit(net, epochs):
    """As the chapter's training cell, for `epochs` epochs of its num_epochs-long schedule."""
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=num_epochs * len(loader))
    return train(net, loader, (test_images, test_labels), loss_fn, optimizer, scheduler, epochs, device)


VARIANTS = {
    "custom": (lambda: set_weights(custom_net()), BENCH["epochs"], fit),
    "built-in": (lambda: set_weights(builtin_net()), BENCH["epochs"], fit),
}
run_variants()
