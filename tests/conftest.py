import os
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.paths import data_root as _data_root

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _threads():
    torch.set_num_threads(int(os.environ.get("CVZOO_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if not root.is_dir():
        pytest.skip(f"data set folder {root} is absent (set CVZOO_DATA to run data tests)")
    return root


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> str:
    """A learnable 10-class 1x28x28 data set: class k is a bright bar at row 2k+3, plus noise."""
    rng = np.random.default_rng(0)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 1, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            x[i, 0, 2 * k + 3 : 2 * k + 5, 4:24] = 255
        return x, y.astype(np.int64)

    (xtr, ytr), (xte, yte) = make(256), make(64)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, format_version=1, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
             classes=np.asarray([f"bar{k}" for k in range(10)]), name="digits")
    return f"npz:{path}"
