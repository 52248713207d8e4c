"""Cross-framework parity: the four frameworks compute the same function from the same weights.

The File I/O chapter trains its MLP for a few steps in each framework and exports the parameters
to the neutral ``.npz`` file (``export_npz``, saved from the chapter); a reader of one framework
sees only a file NumPy writes load there. This test runs each framework's notebook up to that
export in the framework's kernel, exports into a shared folder, then loads every file into every
framework's model (``mlp_from_npz``) in that framework's environment, and compares the 10,000
MNIST test images' logits with NumPy's forward pass of the same file: a 4 x 4 matrix of (largest
logit difference, share of equal predicted classes), each within the tolerances below. The matrix is printed and written to ``build/parity.md``.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import numpy
import pytest
from nbclient import NotebookClient

from tabbook import envs
from dlblocks.data import load_mnist
from tabbook.frameworks import LIBRARY, NAMES, ROOT, get

CHAPTER = "file-io"
EXPORT = 'export_npz(net, folder / "mlp.npz")'
#: Logits within the chapter's tolerance of NumPy's (1e-5), and predicted classes equal on 99.9 % of
#: the images (a class can flip where two logits are within rounding of each other).
MAX_DIFFERENCE, MIN_AGREEMENT = 1e-5, 0.999

LOAD = """
import json, sys
import numpy
{setup}
from dlblocks.data import load_mnist
from dlblocks import {module} as saved

(_, _), (images, _) = load_mnist()
images = images.reshape(-1, 784).astype("float32") / 255
for source in json.loads(sys.argv[1]):
    net = saved.mlp_from_npz(f"{{sys.argv[2]}}/{{source}}.npz")
    numpy.save(f"{{sys.argv[2]}}/{{source}}-in-{framework}.npy", {forward})
"""
SETUP = {"mxnet": "from mxnet import np, npx\nnpx.set_np()", "pytorch": "import torch",
         "tensorflow": "import tensorflow as tf", "mindspore": "from mindspore import Tensor"}
FORWARD = {"mxnet": "net(np.array(images)).asnumpy()",
           "pytorch": "net(torch.from_numpy(images)).detach().numpy()",
           "tensorflow": "net(images).numpy()",
           "mindspore": "net(Tensor(images)).asnumpy()"}


def export(framework: str, folder: Path) -> None:
    """Run the framework's File I/O notebook up to its export, then export into ``folder``."""
    notebook = nbformat.read(get(framework).tab_dir / f"{CHAPTER}.ipynb", as_version=4)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cells.append(cell)
            if EXPORT in cell.source:
                break
    else:
        pytest.fail(f"tabs/{framework}/{CHAPTER}.ipynb has no cell calling {EXPORT}")
    cells.append(nbformat.v4.new_code_cell(f'export_npz(net, {str(folder / framework) + ".npz"!r})'))
    notebook.cells = cells
    envs.ensure_kernel(get(framework))
    NotebookClient(notebook, kernel_name=get(framework).kernel_name, timeout=900,
                   resources={"metadata": {"path": str(folder)}}).execute()


def numpy_mlp(params, X):
    """The chapter's NumPy forward pass: ReLU after every dense layer but the last."""
    layers = len(params) // 2
    for index in range(layers):
        X = X @ params[f"{index}.weight"] + params[f"{index}.bias"]
        if index < layers - 1:
            X = numpy.maximum(X, 0)
    return X


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    for framework in NAMES:
        export(framework, folder)
    return folder


def test_every_framework_loads_every_framework_parameters_and_agrees_with_numpy(exported):
    (_, _), (images, _) = load_mnist()
    images = images.reshape(-1, 784).astype("float32") / 255
    environment = {**os.environ, "PYTHONPATH": str(LIBRARY)}  # the reader's library, as pip install ./library
    for target in NAMES:
        script = LOAD.format(setup=SETUP[target], framework=target, module=get(target).module, forward=FORWARD[target])
        result = subprocess.run([str(envs.env_python(get(target))), "-c", script, json.dumps(NAMES), str(exported)],
                                capture_output=True, text=True, env=environment, cwd=exported)
        assert result.returncode == 0, result.stderr[-3000:]
    rows = ["| exported by \\ loaded into | " + " | ".join(get(n).title for n in NAMES) + " |",
            "| --- |" + " ---: |" * len(NAMES)]
    failures = []
    for source in NAMES:
        reference = numpy_mlp(dict(numpy.load(exported / f"{source}.npz")), images)
        cells = []
        for target in NAMES:
            logits = numpy.load(exported / f"{source}-in-{target}.npy")
            difference = float(numpy.abs(logits - reference).max())
            agreement = float((logits.argmax(axis=1) == reference.argmax(axis=1)).mean())
            cells.append(f"{difference:.1e}, {agreement:.2%}")
            if not (difference <= MAX_DIFFERENCE and agreement >= MIN_AGREEMENT):
                failures.append(f"{source} -> {target}: {difference:.2e}, {agreement:.4f}")
        rows.append(f"| {get(source).title} | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    report = ROOT / "build" / "parity.md"
    report.parent.mkdir(exist_ok=True)
    report.write_text("Largest logit difference from NumPy, and share of equal predicted classes, on the "
                      "10,000 MNIST test images:\n\n" + table + "\n")
    print("\n" + table)
    assert not failures, "\n".join(failures)
