import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CVZOO_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _threads():
    torch.set_num_threads(int(os.environ.get("CVZOO_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"data set folder {DATA} is absent (set CVZOO_DATA to run data tests)")
    return DATA
