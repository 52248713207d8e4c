"""The MNIST loader: real files, raw and gzipped, corrupt and truncated files, and downloads
from mirrors served on the loopback interface (404, corrupt, cut-off, good)."""
from __future__ import annotations

import gzip
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from dlblocks import data

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"  # ../shared beside the checkout


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder of the real MNIST files: $DLBLOCKS_MNIST_DIR, else ../shared/data/mnist."""
    folder = Path(os.environ.get(data.ENV_VAR) or SHARED)
    assert all(data.find_file(folder, name) for name in data.FILES), (
        f"the MNIST files are not in {folder}; set {data.ENV_VAR} to their folder")
    return folder


def test_full_mnist_loads(mnist_dir):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(mnist_dir, download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y_train).tolist()[:3] == [5923, 6742, 5958]
    assert int(x_train.max()) == 255 and int(x_train.min()) == 0


def test_environment_variable_names_the_folder(mnist_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(mnist_dir))
    assert data.resolve_dir() == mnist_dir
    assert data.load_mnist(download=False)[1][1].shape == (10000,)


def test_raw_files_are_read_too(mnist_dir, tmp_path):
    for name in data.FILES:
        source = data.find_file(mnist_dir, name)
        (tmp_path / name).write_bytes(gzip.decompress(source.read_bytes()))
    (_, y_train), _ = data.load_mnist(tmp_path, download=False)
    assert y_train.shape == (60000,)


def test_corrupted_file_fails_its_checksum(mnist_dir, tmp_path):
    content = bytearray(gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    content[100] ^= 1
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(data.MNISTError, match=r"t10k-labels-idx1-ubyte: checksum mismatch"):
        data.read_verified(path, data.FILES["t10k-labels-idx1-ubyte"])


def test_truncated_gzip_is_reported(mnist_dir, tmp_path):
    whole = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(data.MNISTError, match=r"t10k-labels-idx1-ubyte.gz: cannot be read or decompressed"):
        data.read_verified(path, data.FILES["t10k-labels-idx1-ubyte"])


def test_missing_files_offline_say_where_and_how(tmp_path):
    with pytest.raises(data.MNISTError) as info:
        data.load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert f"looked for {tmp_path}/train-images-idx3-ubyte and {tmp_path}/train-images-idx3-ubyte.gz" in message
    assert "set DLBLOCKS_MNIST_DIR to it" in message


def test_idx_header_is_checked():
    with pytest.raises(data.MNISTError, match="bad magic number"):
        data.parse_idx(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05")
    with pytest.raises(data.MNISTError, match="size mismatch"):
        data.parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x03\x05")


class Mirrors(http.server.BaseHTTPRequestHandler):
    """/missing/ answers 404, /corrupt/ a file with one byte changed, /cut/ half a file then
    a closed connection, /good/ the real file. Serves only requests from this test."""

    good: bytes = b""

    def do_GET(self):
        kind = self.path.split("/")[1]
        if kind == "missing":
            self.send_error(404)
            return
        body = self.good
        if kind == "corrupt":
            body = gzip.compress(bytes([gzip.decompress(body)[0] ^ 1]) + gzip.decompress(body)[1:])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "cut" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(mnist_dir):
    Mirrors.good = (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirrors)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_tries_mirrors_in_order_and_keeps_only_a_verified_file(server, tmp_path):
    mirrors = [f"{server}/{kind}/" for kind in ("missing", "corrupt", "cut", "good")]
    path = data.fetch(tmp_path, "t10k-labels-idx1-ubyte", mirrors=mirrors, timeout=5)
    assert path == tmp_path / "t10k-labels-idx1-ubyte.gz"
    assert data.parse_idx(data.read_verified(path, data.FILES["t10k-labels-idx1-ubyte"])).shape == (10000,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t10k-labels-idx1-ubyte.gz"]


def test_failed_download_leaves_no_file_and_lists_each_attempt(server, tmp_path):
    mirrors = [f"{server}/{kind}/" for kind in ("missing", "corrupt", "cut")]
    with pytest.raises(data.MNISTError) as info:
        data.fetch(tmp_path, "t10k-labels-idx1-ubyte", mirrors=mirrors, timeout=5)
    message = str(info.value)
    assert "HTTP Error 404" in message and "checksum mismatch" in message
    assert message.count(f"{server}/") == 3
    assert list(tmp_path.iterdir()) == []


def test_load_downloads_what_is_missing(server, mnist_dir, tmp_path):
    for name in data.FILES:
        if name != "t10k-labels-idx1-ubyte":
            shutil.copy(data.find_file(mnist_dir, name), tmp_path)
    (_, _), (_, y_test) = data.load_mnist(tmp_path, mirrors=(f"{server}/missing/", f"{server}/good/"))
    assert y_test.shape == (10000,) and (tmp_path / "t10k-labels-idx1-ubyte.gz").exists()
