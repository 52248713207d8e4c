"""The training benchmark: the chapter's own MNIST training code, timed in every framework.

The chapter is ``notebooks/training-on-mnist.md`` (:data:`CHAPTER`). For each framework, its
notebook runs in that framework's kernel up to its cell tagged ``bench-replace`` (the cell that
trains the chapter's network), so the training code is the notebook's own: ``train`` and
``train_epoch`` (MXNet, PyTorch, MindSpore), Keras ``compile`` and ``fit`` (TensorFlow, which has
no ``train``). Then ``bench/harness.py`` and ``bench/<framework>.py`` train, with that code and the
schedule the chapter uses (over its ``num_epochs``, of which the benchmark runs the first few):

* the chapter's network of its custom dense layer, on the path the notebook trains it;
* the same network built from the framework's built-in dense layer;
* the framework's naive path, where the chapter's path is a compiled one (TensorFlow's eager
  ``fit``, ``run_eagerly=True``; MindSpore's step without ``ms.jit``); MXNet's chapter layer is a
  ``Block`` and PyTorch trains eagerly, so their chapter path is already the naive one;

the custom and the built-in network also train *as a script* (:func:`run_script`: the same
cells, run by the environment's Python without a kernel, before and after the kernel's runs),
which shows what the notebook's kernel costs; and ``tabbook.numpy_mlp`` trains the same MLP in
NumPy as the floor reference (in a new process, before the first framework and after each). With
``profile=True`` each kernel then trains the custom network once more under py-spy (MindSpore:
also under its own operator profiler); ``tabbook.profiles`` turns that into a report of where the
time goes. Every run starts from the same Glorot weights and sees the batches in the same order
(seed 0; the framework's own data loader, in that order instead of shuffled), so the losses agree
across frameworks up to floating-point differences and the schedule's small decay. Reported:
seconds per epoch (the median of the epochs after each run's first, which is the warm-up),
examples per second, the final test accuracy, and the ratios custom/built-in, kernel/script and
framework/NumPy, all from one run.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import re
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from . import convert, numpy_mlp, profiles, reaper
from dlblocks.data import load_mnist
from .errors import BuildError, display_path
from .files import atomic_write_bytes, atomic_write_text, kernel_folder
from .frameworks import NAMES, ROOT, get
from .source import Chapter

BENCH_CODE = ROOT / "bench"
#: The chapter whose training code the benchmark times.
CHAPTER = ROOT / "notebooks" / "training-on-mnist.md"
OUT = ROOT / "build" / "bench"
#: The committed report of the last benchmark at the chapter's batch size (the README cites it).
RESULTS = BENCH_CODE / "RESULTS.md"
#: The chapter's batch size: only a benchmark at this size writes :data:`RESULTS`.
CHAPTER_BATCH_SIZE = 256
MARKER = "BENCH_RESULT "
TAG = "bench-replace"
#: Seconds a benchmark script may run, and a cell of the benchmark notebook in its kernel.
TIMEOUT = 3600
#: The images of MNIST's training set (LeCun, Cortes and Burges, the four IDX files that
#: ``dlblocks.data.load_mnist`` reads): an epoch of the benchmark trains on all of them unless
#: ``examples`` says fewer.
TRAIN_EXAMPLES = 60000


def make_inputs(path: Path, seed: int = 0, examples: int = TRAIN_EXAMPLES) -> None:
    """Write the shared initial weights (w0..w5, Glorot) and the data order to ``path`` (.npz),
    atomically: a benchmark running beside this one may be reading it. The order holds the indices
    of ``examples`` training images, int64: the first ``examples`` of one permutation of all
    :data:`TRAIN_EXAMPLES`, so a shorter run trains on a prefix of a full run's order."""
    weights = numpy_mlp.glorot_weights(seed)
    order = np.random.default_rng(seed).permutation(TRAIN_EXAMPLES)[:examples]
    archive = io.BytesIO()
    np.savez(archive, order=order, **{f"w{i}": w for i, w in enumerate(weights)})
    atomic_write_bytes(path, archive.getvalue())


def _result(lines: list[str], where: str) -> dict:
    """The JSON of the last line of ``lines`` that starts with :data:`MARKER`: the harness prints
    it last, and a chapter's cell may print a line that looks like one before it.

    Raises:
        BuildError: no such line, or its JSON does not parse (``where`` says whose output it is).
    """
    found = [line for line in lines if line.startswith(MARKER)]
    if not found:
        raise BuildError(f"{where} printed no result")
    try:
        return json.loads(found[-1][len(MARKER):])
    except json.JSONDecodeError as error:
        raise BuildError(f"{where} printed a result line that is not JSON ({error}): {found[-1][:200]}") from None


def bench_notebook(chapter: Chapter, framework: str, params: dict) -> nbformat.NotebookNode:
    """The framework's notebook up to its ``bench-replace`` cell, then the benchmark's cells:
    ``BENCH = params`` (with "cells", the sources of the notebook's code cells kept, which a
    framework's file may run again: see bench/mindspore.py), bench/harness.py, bench/<framework>.py.

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
    params = dict(params, cells=[cell.source for cell in cells])
    for source in (f"BENCH = {json.dumps(params)}", (BENCH_CODE / "harness.py").read_text(),
                   (BENCH_CODE / f"{framework}.py").read_text()):
        cells.append(nbformat.v4.new_code_cell(source))
    notebook.cells = cells
    return notebook


def run_framework(chapter: Chapter, framework: str, params: dict) -> dict:
    """Execute the benchmark notebook of ``framework``; return {"variants": the variants' raw
    results, "profile": the profiled run's, or None}."""
    notebook = bench_notebook(chapter, framework, params)
    try:
        with kernel_folder("tabbook-bench-") as folder:  # never tabs/<framework>/ (see kernel_folder)
            NotebookClient(notebook, timeout=TIMEOUT, kernel_name=get(framework).kernel_name,
                           resources={"metadata": {"path": str(folder)}}).execute()
    except CellExecutionError as error:
        raise BuildError(f"{framework}: the benchmark failed:\n{error}") from None
    finally:
        reaper.reap_orphans()  # what the kernel left, should its reaper have been killed
    return _result([line for output in notebook.cells[-1].outputs for line in output.get("text", "").splitlines()],
                   f"{framework}: the benchmark")


#: The variants the benchmark also runs as a script (:func:`run_script`), and their names there.
SCRIPTED = ("custom", "built-in")
SCRIPT_SUFFIX = ", as a script"


def script_source(notebook: nbformat.NotebookNode) -> str:
    """The code cells of ``notebook`` as one Python script, in order: IPython's own transformer
    turns each magic (``%pip``, ``!ls``) into the ``get_ipython()`` call the kernel would make, so
    a script that reaches one fails with a NameError instead of running different code. The one
    exception is a notebook's display setting (``%config InlineBackend...``, ``%matplotlib
    inline``): it changes how a figure is shown in the notebook, nothing a script computes, and
    becomes ``pass``."""
    from IPython.core.inputtransformer2 import TransformerManager

    manager = TransformerManager()
    return "\n\n".join(f"# cell {index}\n" + _DISPLAY_MAGIC.sub(r"pass  # %\1 \2: a notebook's display setting",
                                                                 manager.transform_cell(cell.source))
                         for index, cell in enumerate(notebook.cells) if cell.cell_type == "code")


#: The ``get_ipython()`` call of a display-setting magic, as IPython's transformer writes it.
_DISPLAY_MAGIC = re.compile(r"get_ipython\(\)\.run_line_magic\('(config|matplotlib)', '(InlineBackend\.[^'\n]*|inline)'\)")


def run_script(chapter: Chapter, framework: str, params: dict, timeout: int = TIMEOUT) -> dict:
    """The custom and built-in runs of the benchmark notebook of ``framework`` (:func:`bench_notebook`),
    executed as a plain script by its environment's Python, with the environment variables that
    its kernelspec gives the kernel, in an empty temporary folder as the kernel runs: the same code,
    without the kernel. Output that is not UTF-8 is read with replacement characters. Returns the
    variants' raw results, as :func:`run_framework`.

    Raises:
        BuildError: the script failed, ran longer than ``timeout`` seconds, or printed no result.
    """
    from . import envs

    unprofiled = {key: value for key, value in params.items() if key != "profile"}
    notebook = bench_notebook(chapter, framework, dict(unprofiled, variants=SCRIPTED))
    # As Jupyter fills in the kernelspec's env ($VAR and ${VAR} of this process's environment).
    env = dict(os.environ, **{key: string.Template(value).safe_substitute(os.environ)
                              for key, value in envs.kernel_spec(get(framework))["env"].items()})
    python = str(envs.env_python(get(framework)))
    with kernel_folder("tabbook-bench-script-") as folder:
        script = Path(folder) / f"bench_{framework}.py"
        script.write_text(script_source(notebook), encoding="utf-8")
        # Under tabbook.reaper, as a kernel runs: what the script starts ends with it. Its output
        # goes to files (the reaper gives a pipe of the build to no process it starts).
        with tempfile.TemporaryFile("w+", errors="replace") as out, \
                tempfile.TemporaryFile("w+", errors="replace") as err:
            try:
                done = subprocess.run([python, "-m", "tabbook.reaper", python, str(script)], cwd=folder, env=env,
                                      stdout=out, stderr=err, timeout=timeout)
            except subprocess.TimeoutExpired:  # subprocess.run killed the keeper; the reaper stops the script
                raise BuildError(f"{framework}: the benchmark script ran longer than {timeout} s and was "
                                 f"stopped") from None
            finally:
                reaper.reap_orphans()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
    if done.returncode != 0:
        raise BuildError(f"{framework}: the benchmark script failed:\n{stderr[-4000:]}")
    return _result(stdout.splitlines(), f"{framework}: the benchmark script")["variants"]


def numpy_run(params: dict) -> dict:
    """Train the NumPy reference once on the benchmark's inputs, in this process.

    Returns {"seconds": [seconds of each epoch], "history": [(loss, train accuracy, test accuracy)
    per epoch]}.
    """
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
    return {"seconds": seconds, "history": history}


def run_numpy(params: dict) -> dict:
    """:func:`numpy_run` in a new Python process, as each framework runs in a new kernel: a long
    process's state (its allocator's, its leftover threads') must not slow the floor.

    Raises:
        BuildError: the process failed.
    """
    code = "import json, sys; from tabbook import bench; print(json.dumps(bench.numpy_run(json.loads(sys.argv[1]))))"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(params)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"numpy: the reference run failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def summarise(raw: dict, examples: int = TRAIN_EXAMPLES) -> dict:
    """Seconds per epoch (the median over all runs of the epochs after each run's first, the
    warm-up), examples/s, and the first run's first loss and final test accuracy.

    ``raw``: {"runs": [[seconds of each epoch] per run], "history": [(loss, train accuracy,
    test accuracy) per epoch]}, seconds as floats.
    """
    steady = [run[1:] or run for run in raw["runs"]]
    per_epoch = statistics.median(s for run in steady for s in run)
    return {"s_per_epoch": per_epoch, "examples_per_s": examples / per_epoch,
            "run_s_per_epoch": [statistics.median(run) for run in steady],
            "first_loss": raw["history"][0][0], "test_accuracy": raw["history"][-1][2],
            "runs": len(raw["runs"]), "epochs": len(raw["runs"][0])}


#: custom / built-in above this is explained in the report (the chapter's target is 1.1).
RATIO_LIMIT = 1.1


def custom_over_builtin(custom: dict, builtin: dict) -> float:
    """The ratio of s/epoch, custom over built-in: the median over the alternating runs of each
    pair's ratio (run i of custom over run i of built-in), so that a change in the machine's
    or the process's speed between pairs does not enter it."""
    pairs = zip(custom["run_s_per_epoch"], builtin["run_s_per_epoch"])
    return statistics.median(c / b for c, b in pairs)


def kernel_over_script(variants: dict[str, dict], name: str) -> float | None:
    """s/epoch of variant ``name`` in the notebook's kernel over the same variant run as a script
    (:func:`run_script`); None where there is no script run of it."""
    script = variants.get(name + SCRIPT_SUFFIX)
    return variants[name]["s_per_epoch"] / script["s_per_epoch"] if script else None


def table(results: dict[str, dict[str, dict]]) -> str:
    """The Markdown table of the benchmark: one row per framework and variant."""
    numpy_s = results["numpy"]["NumPy"]["s_per_epoch"]
    rows = ["| framework | variant | runs x epochs | s/epoch | examples/s | loss, epoch 1 | test accuracy "
            "| custom / built-in | kernel / script | / NumPy |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for framework, variants in results.items():
        title = "NumPy" if framework == "numpy" else get(framework).title
        for name, row in variants.items():
            ratio = ""
            if name == "custom" and "built-in" in variants:
                ratio = f"{custom_over_builtin(row, variants['built-in']):.2f}"
            over_script = kernel_over_script(variants, name)
            rows.append(f"| {title} | {name} | {row['runs']} x {row['epochs']} | {row['s_per_epoch']:.2f} | "
                        f"{row['examples_per_s']:,.0f} | {row['first_loss']:.4f} | {row['test_accuracy']:.4f} | "
                        f"{ratio} | {'' if over_script is None else f'{over_script:.2f}'} | "
                        f"{row['s_per_epoch'] / numpy_s:.2f} |")
    return "\n".join(rows)


def ratio_notes(results: dict[str, dict[str, dict]], notes: dict[str, str | None]) -> str:
    """The report's notes: every framework whose custom / built-in ratio exceeds RATIO_LIMIT,
    with the reason its bench file gives (NOTE), or a line saying that it gives none."""
    lines = []
    for framework, variants in results.items():
        if "custom" not in variants or "built-in" not in variants:
            continue
        ratio = custom_over_builtin(variants["custom"], variants["built-in"])
        if ratio > RATIO_LIMIT:
            reason = notes.get(framework) or f"no reason is recorded (set NOTE in bench/{framework}.py)"
            lines.append(f"- {get(framework).title}: the custom layer takes {ratio:.2f}x the built-in "
                         f"layer's time per epoch, above {RATIO_LIMIT}: {reason}.")
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def find_py_spy() -> str:
    """The py-spy executable of the tooling environment (requirements.txt installs it).

    Raises:
        BuildError: py-spy is not installed.
    """
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        raise BuildError("py-spy is not installed: run `python build.py env` (requirements.txt has it) "
                         "or `pip install py-spy`")
    return found


def profile_report(results: dict, profiled: dict, params: dict, out: Path) -> str:
    """The Markdown profile report: per framework, the share of py-spy's samples on each line of
    the chapter's loop over the minibatches (``train_epoch``; none for Keras ``fit``), in ms per step of the timed custom run, and (MindSpore) its operators' times."""
    steps = math.ceil(params["examples"] / params["batch_size"])
    parts = [f"# Where the training time goes\n\nOne more run of the custom network per framework, "
             f"batch size {params['batch_size']}: a warm-up epoch, then {params['profile_epochs']} "
             f"epoch(s) profiled. py-spy samples the kernel's Python threads 200 times a second, waiting "
             f"ones included: a line that waits for the framework's worker threads (a sync such as "
             f"`float(loss)`), or runs a compiled step, counts as much as one that runs Python. ms per "
             f"step = share x the timed custom run's s/epoch / {steps} steps. For MindSpore, whose "
             f"training step is one compiled graph, MindSpore's profiler also times that graph's "
             f"operators.\n"]
    for framework, profile in profiled.items():
        s_per_epoch = results[framework]["custom"]["s_per_epoch"]
        folder = out / "profile" / framework
        parts.append(f"## {get(framework).title}\n")
        if (folder / "stacks.txt").exists() and profile["train"] is None:
            parts.append("The loop over the minibatches is the framework's own (Keras `fit`): the chapter "
                         "has no line of it for py-spy to time.\n")
        elif (folder / "stacks.txt").exists():
            function = profile["train"].get("function", "train")
            shares, samples = profiles.line_shares(folder / "stacks.txt", function, profile["train"]["file"])
            parts.append(f"`{function}()` line by line ({samples} samples; {s_per_epoch:.2f} s/epoch timed):\n\n"
                         + profiles.line_table(shares, profile["train"]["lines"], 1000 * s_per_epoch / steps) + "\n")
        if (folder / "operators").exists():
            rows = profiles.operator_rows(folder / "operators", params["profile_epochs"])
            profiled_s = statistics.median(profile["epoch_seconds"][1:])
            parts.append(f"Operators of the compiled graph, timed by {get(framework).title}'s profiler "
                         f"(which slows the run it profiles):\n\n" + profiles.operator_table(rows, profiled_s) + "\n")
    return "\n".join(parts)


def machine() -> dict[str, str | int | float]:
    """What the report says of the machine: {"cpu": model name, "cores": logical cores, "memory_gib":
    total memory in GiB, "system": OS and architecture, "python": version}. Linux reads
    /proc/cpuinfo and /proc/meminfo; elsewhere the model is ``platform.processor()`` and the memory 0."""
    model, memory_kib = platform.processor() or "unknown", 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {"cpu": model, "cores": os.cpu_count() or 0, "memory_gib": round(memory_kib / 2 ** 20, 1),
            "system": f"{platform.system()} {platform.machine()}", "python": platform.python_version()}


#: The distributions whose versions the report names, per framework (from its lock).
REPORTED = {"mxnet": ("mxnet", "mxnet-cu117", "numpy"), "pytorch": ("torch", "numpy"),
            "tensorflow": ("tensorflow-cpu", "tensorflow", "keras", "numpy"), "mindspore": ("mindspore", "numpy")}


def versions(frameworks) -> dict[str, str]:
    """{framework: "mindspore 2.10.0, numpy 1.26.4 (cpu)"}: the versions, from the lock its
    environment was built from, and the device of that environment."""
    from . import envs, standalone

    found = {}
    for name in frameworks:
        pins = standalone.read_pins(envs.lock_file(get(name)))
        listed = ", ".join(f"{package} {pins[package]}" for package in REPORTED.get(name, ()) if package in pins)
        found[name] = f"{listed} ({envs.env_device(get(name))})"
    found["numpy"] = f"numpy {np.__version__} (the tooling environment)"
    return found


def results_report(results: dict[str, dict[str, dict]], params: dict, when: str, host: dict,
                   installed: dict[str, str], load: tuple[float, float]) -> str:
    """The committed report (:data:`RESULTS`): date, machine, versions and, per framework, the
    custom and built-in s/epoch, custom / built-in and custom / NumPy, from one benchmark's
    ``results`` (:func:`summarise` rows; ``load``: the 1-minute load average before and after)."""
    numpy_s = results["numpy"]["NumPy"]["s_per_epoch"]
    lines = ["# Training benchmark results", "",
             "Written by `python build.py bench` (the table of its last run at the chapter's batch size; "
             "the README's numbers come from here). s/epoch: the median of the epochs after each run's "
             "first; custom / built-in: the median of the alternating pairs' ratios; custom / NumPy: the "
             "custom network against the NumPy floor; kernel / script: the custom network's s/epoch in the "
             "notebook's kernel over the same code run as a plain script in the same environment.", "",
             f"- date: {when}",
             f"- machine: {host['cpu']}, {host['cores']} logical cores, {host['memory_gib']} GiB memory, "
             f"{host['system']}, Python {host['python']}",
             f"- load average (1 min) before and after: {load[0]:.2f}, {load[1]:.2f}"
             # The load after includes the benchmark's own last minute (it keeps the cores busy):
             # only the load before says whether other work was running.
             + (" (other work loaded the CPU when it started: the times may be noisy)"
                if load[0] > host["cores"] * 0.5 else ""),
             f"- batch size {params['batch_size']}, {params['epochs']} epochs per run, {params['repeats']} "
             f"runs each of the custom and the built-in network", "",
             "| framework | versions (device) | custom s/epoch | built-in s/epoch | custom / built-in "
             "| custom as a script s/epoch | kernel / script | custom / NumPy |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for framework, variants in results.items():
        if framework == "numpy":
            continue
        custom, builtin = variants["custom"], variants.get("built-in")
        builtin_s = f"{builtin['s_per_epoch']:.2f}" if builtin else "-"
        ratio = f"{custom_over_builtin(custom, builtin):.2f}" if builtin else "-"
        script = variants.get("custom" + SCRIPT_SUFFIX)
        script_s = f"{script['s_per_epoch']:.2f}" if script else "-"
        over_script = f"{kernel_over_script(variants, 'custom'):.2f}" if script else "-"
        lines.append(f"| {get(framework).title} | {installed.get(framework, '')} | {custom['s_per_epoch']:.2f} | "
                     f"{builtin_s} | {ratio} | {script_s} | {over_script} | {custom['s_per_epoch'] / numpy_s:.2f} |")
    lines.append(f"| NumPy | {installed.get('numpy', '')} | {numpy_s:.2f} | | | | | 1.00 |")
    return "\n".join(lines) + "\n"


def check_counts(epochs: int, naive_epochs: int, repeats: int, profile_epochs: int, batch_size: int,
                 examples: int) -> None:
    """Refuse counts the benchmark cannot run with (:func:`run` calls this first; ``build.py
    bench`` before it checks the environments).

    Raises:
        BuildError: a count below 1 (epochs: below 2; examples: also above :data:`TRAIN_EXAMPLES`).
    """
    for name, value in (("epochs", epochs), ("naive epochs", naive_epochs), ("repeats", repeats),
                        ("profile epochs", profile_epochs), ("batch size", batch_size), ("examples", examples)):
        if value < 1:
            raise BuildError(f"bench: {name} must be at least 1, not {value}")
    if examples > TRAIN_EXAMPLES:
        raise BuildError(f"bench: examples must be at most {TRAIN_EXAMPLES} (MNIST's training images), not {examples}")
    if epochs < 2:  # with one epoch, s/epoch and every ratio would time the warm-up (compilation)
        raise BuildError(f"bench: epochs must be at least 2, not {epochs}: the first epoch of each run is "
                         f"a warm-up, left out of s/epoch")


def run(chapter: Chapter, frameworks=NAMES, epochs: int = 4, naive_epochs: int = 3,
        batch_size: int = 256, out: Path = OUT, log=print, repeats: int = 3, profile: bool = False,
        profile_epochs: int = 2, report: Path | None = None, examples: int = TRAIN_EXAMPLES) -> Path:
    """Run the benchmark and write ``out/results-<batch size>.md`` (and the raw ``.json``); with
    ``profile``, also ``out/profile-<batch size>.md`` and the raw profiles under ``out/profile/``;
    with ``report`` (``build.py bench`` gives :data:`RESULTS`), at the chapter's batch size and on
    the whole training set, also the committed report there (:func:`results_report`). An epoch
    trains on ``examples`` images (the first of the fixed order: :func:`make_inputs`); the test
    accuracy is always on all 10,000 test images.

    Raises:
        BuildError: a count below 1 (epochs: below 2; examples: also above :data:`TRAIN_EXAMPLES`),
            a benchmark notebook failed, or ``profile`` without py-spy installed.
    """
    check_counts(epochs, naive_epochs, repeats, profile_epochs, batch_size, examples)
    out = Path(out).resolve()  # the kernels run in a temporary folder: they get absolute paths
    inputs = out / "inputs.npz"
    make_inputs(inputs, examples=examples)
    params = {"inputs": str(inputs), "epochs": epochs, "naive_epochs": naive_epochs, "examples": examples,
              "batch_size": batch_size, "lr": 0.1, "momentum": 0.9, "repeats": repeats}
    if profile:
        params.update(py_spy=find_py_spy(), profile_epochs=profile_epochs)
    load_before = os.getloadavg()[0]
    raw: dict[str, dict] = {}
    profiled: dict[str, dict] = {}
    notes: dict[str, str | None] = {}
    log("bench: numpy ...")
    numpy_runs = [run_numpy(params)]  # before the first framework and after each: the floor sees the same drift
    for framework in frameworks:
        log(f"bench: {framework} ...")
        start = time.perf_counter()
        folder = out / "profile" / framework
        if profile:
            shutil.rmtree(folder, ignore_errors=True)
        # The script runs before and after the kernel, as NumPy does around each framework: a
        # drift in the machine's speed hits the kernel's runs and the script's alike.
        log(f"bench: {framework} as a script ...")
        scripted = run_script(chapter, framework, params)
        log(f"bench: {framework} in its kernel ...")
        result = run_framework(chapter, framework, dict(params, profile=str(folder)) if profile else params)
        raw[framework] = result["variants"]
        log(f"bench: {framework} as a script again ...")
        for name, variant in run_script(chapter, framework, params).items():
            raw[framework][name + SCRIPT_SUFFIX] = dict(scripted[name], runs=scripted[name]["runs"] + variant["runs"])
        notes[framework] = result.get("note")
        if result["profile"]:
            profiled[framework] = result["profile"]
        log(f"bench: {framework} done in {time.perf_counter() - start:.0f} s")
        log("bench: numpy ...")
        numpy_runs.append(run_numpy(params))
    raw["numpy"] = {"NumPy": {"runs": [run["seconds"] for run in numpy_runs], "history": numpy_runs[0]["history"]}}
    results = {fw: {name: summarise(r, examples) for name, r in variants.items()} for fw, variants in raw.items()}
    atomic_write_text(out / f"results-{batch_size}.json", json.dumps(raw, indent=1) + "\n")
    header = (f"# Training benchmark\n\nThe chapter's MNIST training code (`train`, or Keras `fit`, in "
              f"`{chapter.path.relative_to(ROOT)}`), batch size {params['batch_size']}, "
              f"{examples:,} of MNIST's {TRAIN_EXAMPLES:,} training images per epoch, the same Glorot "
              f"initial weights and batch order in every run; s/epoch is the median of the epochs after "
              f"each run's first (warm-up). Custom and built-in run {repeats} times, alternately, "
              f"and custom / built-in is the median of the pairs' ratios; the naive path runs once; NumPy "
              f"runs in a new process before the first framework and after each. \"As a script\": the same "
              f"code run by the environment's Python without a kernel, before and after the kernel's "
              f"runs; kernel / script is the ratio of their s/epoch. Measured in one "
              f"benchmark on {platform.machine()} with {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}.\n\n")
    atomic_write_text(out / f"results-{batch_size}.md", header + table(results) + "\n" + ratio_notes(results, notes))
    log(header + table(results) + "\n" + ratio_notes(results, notes))
    if report is not None and examples < TRAIN_EXAMPLES:
        log(f"bench: {display_path(report)} is written only by a run on all {TRAIN_EXAMPLES} training images; "
            f"it stays as it is")
    elif report is not None and batch_size == CHAPTER_BATCH_SIZE:
        atomic_write_text(report, results_report(results, params, time.strftime("%Y-%m-%d %H:%M %Z"), machine(),
                                                 versions(frameworks), (load_before, os.getloadavg()[0])))
        log(f"bench: the report for the repository is {display_path(report)}")
    if profiled:
        atomic_write_text(out / f"profile-{batch_size}.md", profile_report(results, profiled, params, out))
        log(f"bench: profile in {display_path(out / f'profile-{batch_size}.md')}")
    return out / f"results-{batch_size}.md"
