"""The training benchmark: the chapter's own MNIST training loop, timed in every framework.

For each framework, the chapter's notebook runs in that framework's kernel up to its cell tagged
``bench-replace`` (the one that trains the chapter's network), so ``train`` and ``get_net`` are
the notebook's own code. Then ``bench/harness.py`` and ``bench/<framework>.py`` call that
``train`` with:

* the chapter's custom-layer network, on the framework's fast path (as the notebook trains it);
* the same network built from the framework's built-in dense layer;
* the framework's naive path (MXNet not hybridized, TensorFlow eager, MindSpore PyNative);

and ``tabbook.numpy_mlp`` trains the same MLP in NumPy as the floor reference. Every run starts
from the same Glorot weights and sees the batches in the same order (seed 0), so the losses agree
across frameworks up to floating-point differences. Reported: seconds per epoch (the median of
the epochs after the first, which is the warm-up), examples per second, the final test accuracy,
and the ratios custom/built-in and framework/NumPy, all from one run.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from . import convert, numpy_mlp
from .data import load_mnist
from .errors import BuildError
from .files import atomic_write_text
from .frameworks import NAMES, ROOT, get
from .source import Chapter

BENCH_CODE = ROOT / "bench"
OUT = ROOT / "build" / "bench"
MARKER = "BENCH_RESULT "
TAG = "bench-replace"


def make_inputs(path: Path, seed: int = 0, examples: int = 60000) -> None:
    """Write the shared initial weights (w0..w5, Glorot) and the data order to ``path`` (.npz)."""
    weights = numpy_mlp.glorot_weights(seed)
    order = np.random.default_rng(seed).permutation(examples)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, order=order, **{f"w{i}": w for i, w in enumerate(weights)})


def bench_notebook(chapter: Chapter, framework: str, params: dict) -> nbformat.NotebookNode:
    """The framework's notebook up to its ``bench-replace`` cell, then the benchmark's cells.

    Raises:
        BuildError: the chapter has no code cell tagged ``bench-replace`` for ``framework``.
    """
    notebook = convert.to_notebook(chapter, framework)
    cells = []
    for cell in notebook.cells:
        if TAG in cell.metadata.get("tags", []):
            break
        if cell.cell_type == "code":
            cells.append(cell)
    else:
        raise BuildError(f"{chapter.path}: no {framework} code cell is tagged {TAG}")
    for source in (f"BENCH = {json.dumps(params)}", (BENCH_CODE / "harness.py").read_text(),
                   (BENCH_CODE / f"{framework}.py").read_text()):
        cells.append(nbformat.v4.new_code_cell(source))
    notebook.cells = cells
    return notebook


def run_framework(chapter: Chapter, framework: str, params: dict) -> dict:
    """Execute the benchmark notebook of ``framework``; return its variants' raw results."""
    notebook = bench_notebook(chapter, framework, params)
    try:
        NotebookClient(notebook, timeout=3600, kernel_name=get(framework).kernel_name,
                       resources={"metadata": {"path": str(get(framework).tab_dir)}}).execute()
    except CellExecutionError as error:
        raise BuildError(f"{framework}: the benchmark failed:\n{error}") from None
    for output in notebook.cells[-1].outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER):])
    raise BuildError(f"{framework}: the benchmark printed no result")


def run_numpy(params: dict) -> dict:
    """Train the NumPy reference on the same inputs; return its raw result like a framework's."""
    inputs = np.load(params["inputs"])
    (train_images, train_labels), (test_images, test_labels) = load_mnist()
    X = train_images.reshape(-1, 784).astype("float32") / 255
    X_test = test_images.reshape(-1, 784).astype("float32") / 255
    order, size = inputs["order"], params["batch_size"]
    batches = [(X[order[i:i + size]], train_labels[order[i:i + size]].astype(np.int64))
               for i in range(0, len(order), size)]
    weights = [inputs[f"w{i}"].copy() for i in range(6)]
    seconds, history = numpy_mlp.train(weights, batches, params["epochs"], params["lr"], params["momentum"],
                                       (X_test, test_labels))
    return {"NumPy": {"epoch_seconds": seconds, "history": history}}


def summarise(raw: dict, examples: int = 60000) -> dict:
    """Seconds per epoch (median after the warm-up epoch), examples/s, losses and accuracy."""
    seconds = raw["epoch_seconds"][1:] or raw["epoch_seconds"]
    per_epoch = statistics.median(seconds)
    return {"s_per_epoch": per_epoch, "examples_per_s": examples / per_epoch,
            "first_loss": raw["history"][0][0], "test_accuracy": raw["history"][-1][2],
            "epochs": len(raw["epoch_seconds"])}


def table(results: dict[str, dict[str, dict]]) -> str:
    """The Markdown table of the benchmark: one row per framework and variant."""
    numpy_s = results["numpy"]["NumPy"]["s_per_epoch"]
    rows = ["| framework | variant | epochs | s/epoch | examples/s | loss, epoch 1 | test accuracy "
            "| custom / built-in | / NumPy |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for framework, variants in results.items():
        title = "NumPy" if framework == "numpy" else get(framework).title
        for name, row in variants.items():
            ratio = ""
            if name == "custom" and "built-in" in variants:
                ratio = f"{row['s_per_epoch'] / variants['built-in']['s_per_epoch']:.2f}"
            rows.append(f"| {title} | {name} | {row['epochs']} | {row['s_per_epoch']:.2f} | "
                        f"{row['examples_per_s']:,.0f} | {row['first_loss']:.4f} | {row['test_accuracy']:.4f} | "
                        f"{ratio} | {row['s_per_epoch'] / numpy_s:.2f} |")
    return "\n".join(rows)


def run(chapter: Chapter, frameworks=NAMES, epochs: int = 4, naive_epochs: int = 3,
        batch_size: int = 256, out: Path = OUT, log=print) -> Path:
    """Run the benchmark and write ``out/results-<batch size>.md`` (and the raw ``.json``)."""
    inputs = out / "inputs.npz"
    make_inputs(inputs)
    params = {"inputs": str(inputs), "epochs": epochs, "naive_epochs": naive_epochs,
              "batch_size": batch_size, "lr": 0.1, "momentum": 0.9}
    raw: dict[str, dict] = {}
    for framework in frameworks:
        log(f"bench: {framework} ...")
        start = time.perf_counter()
        raw[framework] = run_framework(chapter, framework, params)
        log(f"bench: {framework} done in {time.perf_counter() - start:.0f} s")
    log("bench: numpy ...")
    raw["numpy"] = run_numpy(params)
    results = {fw: {name: summarise(r) for name, r in variants.items()} for fw, variants in raw.items()}
    atomic_write_text(out / f"results-{batch_size}.json", json.dumps(raw, indent=1) + "\n")
    header = (f"# Training benchmark\n\nThe chapter's MNIST training loop (`train` in "
              f"`{chapter.path.relative_to(ROOT)}`), batch size {params['batch_size']}, the same Glorot "
              f"initial weights and batch order in every run; s/epoch is the median of the epochs after "
              f"the first (warm-up). Measured in one run on {platform.machine()} with {os.cpu_count()} "
              f"cores, {time.strftime('%Y-%m-%d %H:%M')}.\n\n")
    report = header + table(results) + "\n"
    atomic_write_text(out / f"results-{batch_size}.md", report)
    log(report)
    return out / f"results-{batch_size}.md"
