"""MNIST as NumPy arrays, read from the four IDX files and verified by sha256.

Data set: Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten digits",
http://yann.lecun.com/exdb/mnist/ — 60,000 training and 10,000 test images of 28 x 28 pixels.
File format (IDX): a big-endian header (magic number, then one uint32 per dimension), then the
uint8 values in row-major order; the magic is 0x00000803 for images and 0x00000801 for labels.

Where the files are looked for, in order:

1. the folder given as ``data_dir`` or, when that is None, by the environment variable
   ``DLBLOCKS_MNIST_DIR`` (an existing folder);
2. otherwise ``~/.cache/dlblocks/mnist``.

In either folder, missing files are downloaded from the public mirrors in :data:`MIRRORS`, tried
in order, unless ``download=False``.

Each file may be raw (``train-images-idx3-ubyte``) or gzipped (``...-ubyte.gz``). The sha256 of the
decompressed content is checked, so a truncated or corrupted file raises instead of giving a
wrong array. The module needs only NumPy and the standard library.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

ENV_VAR = "DLBLOCKS_MNIST_DIR"
DEFAULT_DIR = Path.home() / ".cache" / "dlblocks" / "mnist"

#: sha256 of the decompressed content of each file.
FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Public mirrors of the gzipped files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


class MNISTError(RuntimeError):
    """The MNIST files are missing, cannot be downloaded, or fail their checksum."""


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
               mirrors: tuple[str, ...] = MIRRORS):
    """Load MNIST as numpy arrays.

    Args:
        data_dir: folder holding the four IDX files; None means ``$DLBLOCKS_MNIST_DIR`` or, if
            that is unset, ``~/.cache/dlblocks/mnist``.
        download: fetch missing files from :data:`MIRRORS` into that folder; with False, a
            missing file raises at once.
        mirrors: base URLs to download from, tried in order (default :data:`MIRRORS`).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images uint8 of shape (60000, 28, 28) and
        (10000, 28, 28) with pixel values 0-255, labels uint8 of shape (60000,) and (10000,)
        with values 0-9.

    Raises:
        MNISTError: a file is missing and cannot be downloaded (the message lists where it looked
            and how to provide the files), or its content fails the sha256 check.
    """
    folder = resolve_dir(data_dir)
    arrays = {}
    for name, sha256 in FILES.items():
        path = find_file(folder, name)
        if path is None:
            if not download:
                raise MNISTError(_missing_message(folder, name, "downloading is switched off"))
            path = fetch(folder, name, mirrors)
        arrays[name] = parse_idx(read_verified(path, sha256))
    return ((arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
            (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]))


def resolve_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder MNIST is read from: ``data_dir``, else ``$DLBLOCKS_MNIST_DIR``, else the cache.

    Raises:
        MNISTError: ``$DLBLOCKS_MNIST_DIR`` is used and is not an existing folder (see
            :func:`check_env_dir`).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return check_env_dir()
    return DEFAULT_DIR


def check_env_dir() -> Path | None:
    """The folder ``$DLBLOCKS_MNIST_DIR`` names, or None when it is unset or empty.

    Raises:
        MNISTError: it names a file, or nothing: the message names it and says what to do
            (nothing is downloaded into a folder that the variable names by mistake).
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    folder = Path(value).expanduser()
    if folder.is_dir():
        return folder
    what = "a file, not a folder" if folder.exists() else "not an existing folder"
    raise MNISTError(f"{ENV_VAR}={value} is {what}: set it to the folder that holds the four MNIST "
                     f"files (raw or .gz), or unset it to download them into {DEFAULT_DIR}")


def find_file(folder: Path, name: str) -> Path | None:
    """The raw or gzipped file ``name`` in ``folder`` (raw preferred), or None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_verified(path: Path, sha256: str, gzipped: bool | None = None) -> bytes:
    """The decompressed bytes of ``path``, after checking their sha256.

    ``gzipped`` None means: gzipped when the name ends in ``.gz``.

    Raises:
        MNISTError: the gzip stream is truncated or corrupt, or the checksum differs.
    """
    try:
        data = path.read_bytes()
        if path.suffix == ".gz" if gzipped is None else gzipped:
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise MNISTError(f"{path}: cannot be read or decompressed ({error}); "
                         f"delete it and provide the file again") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise MNISTError(f"{path}: checksum mismatch: the decompressed content has sha256 {digest}, "
                         f"expected {sha256}; the file is truncated or corrupted: delete it and "
                         f"provide it again")
    return data


def parse_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file's bytes into a uint8 array of the shape its header gives: writable, its own
    copy (not a view of ``data``).

    Raises:
        MNISTError: the magic number is not that of unsigned-byte data or the size disagrees.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise MNISTError("not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) != header + int(np.prod(shape)):
        raise MNISTError(f"IDX size mismatch: header says {shape}, file has {len(data) - header} values")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable, own memory


def fetch(folder: Path, name: str, mirrors=MIRRORS, timeout: float = 30.0) -> Path:
    """Download ``name.gz`` into ``folder`` from the first mirror that serves a verified copy.

    The download goes to a temporary file in ``folder``, its decompressed sha256 is checked, and
    only then is it renamed into place, so an interrupted or corrupt download leaves no file.

    Raises:
        MNISTError: no mirror served a verified copy; the message lists each attempt.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.gz"
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{name}.gz"
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(handle, "wb") as stream, urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(1 << 20):
                    stream.write(chunk)
            read_verified(Path(temporary), FILES[name], gzipped=True)
            os.replace(temporary, target)
            return target
        except (OSError, http.client.HTTPException, MNISTError) as error:
            failures.append(f"{url}: {error}")
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    raise MNISTError(_missing_message(folder, name, "no mirror could be reached:\n    " + "\n    ".join(failures)))


def _missing_message(folder: Path, name: str, reason: str) -> str:
    return (f"MNIST file {name} not found: looked for {folder / name} and {folder / name}.gz, "
            f"and {reason}.\nTo provide the files, put the four IDX files (raw or .gz) in one folder "
            f"and set {ENV_VAR} to it (for instance {ENV_VAR}=$HOME/data/mnist), or pass "
            f"data_dir=... to load_mnist.")
