import os
from pathlib import Path

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
