"""A multilayer perceptron in NumPy: the floor reference of the training benchmark.

The same network as the chapter's (784-128-64-10, ReLU, softmax cross-entropy) trained the same
way: minibatch SGD with momentum (PyTorch's form: v = mu v + g; w -= lr v) and a learning rate
that decays along a cosine from ``lr`` to 0 over all steps (Loshchilov and Hutter, 2017,
"SGDR", without restarts). float32 throughout; the gradients are derived by hand below.
"""
from __future__ import annotations

import math
import time

import numpy as np

SIZES = (784, 128, 64, 10)


def glorot_weights(seed: int = 0, sizes=SIZES) -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: W_i of shape (n_in, n_out) drawn from Glorot and Bengio's (2010)
    uniform distribution U(-a, a), a = sqrt(6 / (n_in + n_out)); zero biases; float32."""
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(6 / (n_in + n_out))
        weights += [rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32),
                    np.zeros(n_out, np.float32)]
    return weights


def forward(weights: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits (batch, 10) and the activations kept for the backward pass (inputs of each layer)."""
    activations = [X]
    h = X
    layers = len(weights) // 2
    for i in range(layers):
        h = h @ weights[2 * i] + weights[2 * i + 1]
        if i < layers - 1:
            h = np.maximum(h, 0)
            activations.append(h)
    return h, activations


def loss_and_gradients(weights, X, y):
    """Mean softmax cross-entropy of (X, y), its gradient for every array of ``weights``, and
    the logits."""
    logits, activations = forward(weights, X)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(y)
    loss = -log_probs[np.arange(n), y].mean()
    delta = np.exp(log_probs)
    delta[np.arange(n), y] -= 1
    delta /= n  # d loss / d logits
    grads = [None] * len(weights)
    for i in reversed(range(len(weights) // 2)):
        grads[2 * i] = activations[i].T @ delta
        grads[2 * i + 1] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ weights[2 * i].T) * (activations[i] > 0)
    return float(loss), grads, logits


def accuracy(weights, X, y) -> float:
    """Fraction of examples whose largest logit is their label."""
    return float((forward(weights, X)[0].argmax(axis=1) == y).mean())


def train(weights, batches, num_epochs, lr, momentum, test):
    """Train ``weights`` in place on ``batches`` (a list of (X float32, y int) pairs, the same
    order every epoch), like the chapter's train(): each epoch also counts the training accuracy
    and measures the accuracy on ``test`` (X, y). Returns (seconds per epoch, history), history
    holding (mean loss, train accuracy, test accuracy) per epoch."""
    velocity = [np.zeros_like(w) for w in weights]
    total_steps, step = num_epochs * len(batches), 0
    seconds, history = [], []
    for _ in range(num_epochs):
        start = time.perf_counter()
        loss_sum, correct, count = 0.0, 0, 0
        for X, y in batches:
            rate = np.float32(lr * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            loss, grads, logits = loss_and_gradients(weights, X, y)
            for w, v, g in zip(weights, velocity, grads):
                v *= momentum
                v += g
                w -= rate * v
            loss_sum += loss * len(y)
            correct += int((logits.argmax(axis=1) == y).sum())
            count += len(y)
            step += 1
        history.append((loss_sum / count, correct / count, accuracy(weights, *test)))
        seconds.append(time.perf_counter() - start)
    return seconds, history
