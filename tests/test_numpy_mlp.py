"""The NumPy reference MLP of the benchmark: its hand-derived gradients and that it learns."""
from __future__ import annotations

import numpy as np

from tabbook import numpy_mlp


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    weights = [w.astype(np.float64) for w in numpy_mlp.glorot_weights(seed=2, sizes=(6, 5, 4, 3))]
    weights[1][:] = rng.normal(size=5)  # non-zero biases exercise their gradients
    X, y = rng.normal(size=(7, 6)), rng.integers(0, 3, 7)
    _, grads, _ = numpy_mlp.loss_and_gradients(weights, X, y)
    for w, g in zip(weights, grads):
        for index in [tuple(rng.integers(0, n) for n in w.shape) for _ in range(4)]:
            saved = w[index]
            w[index] = saved + 1e-6
            up = numpy_mlp.loss_and_gradients(weights, X, y)[0]
            w[index] = saved - 1e-6
            down = numpy_mlp.loss_and_gradients(weights, X, y)[0]
            w[index] = saved
            assert abs((up - down) / 2e-6 - g[index]) < 1e-6


def test_glorot_bounds_and_shapes():
    weights = numpy_mlp.glorot_weights(seed=0)
    assert [w.shape for w in weights] == [(784, 128), (128,), (128, 64), (64,), (64, 10), (10,)]
    assert all(w.dtype == np.float32 for w in weights)
    assert np.abs(weights[0]).max() <= (6 / (784 + 128)) ** 0.5
    assert not weights[1].any()


def test_training_separates_two_blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-1, 1, (256, 784)), rng.normal(1, 1, (256, 784))]).astype(np.float32)
    y = np.repeat([0, 1], 256)
    order = rng.permutation(512)
    batches = [(X[order[i:i + 64]], y[order[i:i + 64]]) for i in range(0, 512, 64)]
    seconds, history = numpy_mlp.train(numpy_mlp.glorot_weights(seed=0), batches, 3, 0.1, 0.9, (X, y))
    assert len(seconds) == 3 and history[-1][2] == 1.0 and history[-1][0] < history[0][0]
