"""Tests of the edge task: hed_effnet_lite0, BSDS500 reading and augmentation, HED's balanced loss, the
monitoring F-measure, thinning, and one tiny training run through the real loop and CLI.

The data tests use a tiny synthetic folder in BSDS500's layout (``bsds500:DIR``), written with
``scipy.io.savemat`` in the Berkeley ``groundTruth`` cell-array structure; one test reads a real
``.mat`` file and skips when ../shared/data has no BSDS500.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import zoo
from training.cli import main as training_main
from training.data import DatasetNotFoundError
from training.edges.data import IGNORE, EdgeAugment, augment_pair, load_edges, read_boundaries
from training.edges.metrics import EdgeMeter, balanced_bce
from training.edges.thin import thin_edges
from training.errors import ConfigError
from training.loop import fit
from training.recipes import default_recipe
from training.tasks import task_name
from zoo.paths import data_root

BSDS = data_root() / "BSDS500"


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch, tmp_path):
    torch.set_num_threads(1)
    monkeypatch.setenv("CVZOO_CACHE", str(tmp_path / "cache"))


def _write_mat(path: Path, boundaries: list[np.ndarray]) -> None:
    """A BSDS ground-truth file: a 1×K cell ``groundTruth`` of structs with ``Segmentation`` and ``Boundaries``."""
    cell = np.empty((1, len(boundaries)), dtype=object)
    for k, b in enumerate(boundaries):
        cell[0, k] = {"Segmentation": (b.cumsum(1) % 2 + 1).astype(np.uint16), "Boundaries": b.astype(np.uint8)}
    scipy.io.savemat(path, {"groundTruth": cell})


def _write_bsds(folder: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """Images of a bright box on noise (one portrait) and 2-3 annotators who mark its outline, some one pixel off."""
    rng = np.random.default_rng(seed)
    for split, n in sizes.items():
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            h, w = (56, 40) if i == 1 else (40, 56)
            image = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
            y0, x0 = rng.integers(4, h // 2), rng.integers(4, w // 2)
            y1, x1 = y0 + h // 3, x0 + w // 3
            image[y0:y1, x0:x1] = 220
            annotators = []
            for k in range(2 + i % 2):
                b = np.zeros((h, w), np.uint8)
                d = k % 2  # the second annotator's outline is one pixel off
                b[y0 + d, x0:x1] = b[y1 - 1, x0:x1] = b[y0:y1, x0 + d] = b[y0:y1, x1 - 1] = 1
                annotators.append(b)
            Image.fromarray(image).save(folder / "images" / split / f"{100 + i}.jpg", quality=95)
            _write_mat(folder / "groundTruth" / split / f"{100 + i}.mat", annotators)
    return folder


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> str:
    return "bsds500:" + str(_write_bsds(tmp_path_factory.mktemp("bsds"), {"train": 3, "val": 2}))


# ----------------------------------------------------------------------------- the network


def test_hed_output_shape_and_range_at_odd_sizes():
    torch.manual_seed(0)
    model = zoo.create_model("hed_effnet_lite0").eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 37, 53))
        grey = model(torch.rand(1, 1, 37, 53).expand(-1, 3, -1, -1))
    assert out.shape == (2, 1, 37, 53) and grey.shape == (1, 1, 37, 53)
    prob = torch.sigmoid(out)
    assert torch.isfinite(out).all() and prob.min() >= 0 and prob.max() <= 1
    model.train()
    sides = model(torch.randn(2, 3, 37, 53))
    assert sides.shape == (2, 1 + 5, 37, 53)  # the fused map, then the 5 side outputs
    sides.sum().backward()
    assert model.fuse.weight.grad is not None and all(s.weight.grad is not None for s in model.sides)


def test_hed_is_registered_as_an_edge_model():
    spec = zoo.get_spec("hed_effnet_lite0")
    assert (spec.task, spec.num_classes, spec.family) == ("edges", 1, "hed")
    assert zoo.list_models(task="edges") == ["hed_effnet_lite0"]
    assert tuple(spec.preprocessing.mean) == (0.5, 0.5, 0.5) and tuple(spec.preprocessing.std) == (0.5, 0.5, 0.5)
    model = zoo.create_model("hed_effnet_lite0")
    assert torch.allclose(model.fuse.weight, torch.full((1, 5, 1, 1), 0.2))  # HED's fusion starts as the mean


# ----------------------------------------------------------------------------- the loss and the meter


def _bce_pos(x: float) -> float:
    return -math.log(1 / (1 + math.exp(-x)))


def _bce_neg(x: float) -> float:
    return -math.log(1 - 1 / (1 + math.exp(-x)))


def test_balanced_bce_equals_the_hand_computed_value():
    # consensus: one edge pixel (1.0), two non-edge pixels (0), one pixel too few annotators marked (0.3 < eta)
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.3]]])
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]])
    pos, neg, counted = 1, 2, 3
    beta = neg / counted  # the weight of the positives; 1 - beta = pos / counted weighs the negatives
    assert 1 - beta == pytest.approx(pos / counted)
    expected = (beta * _bce_pos(2.0) + (1 - beta) * (_bce_neg(-1.0) + _bce_neg(0.5))) / counted
    assert balanced_bce(logits, target, eta=0.5) == pytest.approx(expected, rel=1e-6)
    expected_rcf = (beta * _bce_pos(2.0) + 1.1 * (1 - beta) * (_bce_neg(-1.0) + _bce_neg(0.5))) / counted
    assert balanced_bce(logits, target, eta=0.5, lam=1.1) == pytest.approx(expected_rcf, rel=1e-6)
    # eta at 0.3 makes the fourth pixel an edge too: 2 positives, 2 negatives, beta = 1/2
    expected_hed = 0.5 * (_bce_pos(2.0) + _bce_pos(3.0) + _bce_neg(-1.0) + _bce_neg(0.5)) / 4
    assert balanced_bce(logits, target, eta=0.3) == pytest.approx(expected_hed, rel=1e-6)


def test_balanced_bce_sums_maps_averages_images_and_ignores_padding():
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.3]]])
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]]]])
    one = balanced_bce(logits, target)
    assert balanced_bce(logits.repeat(1, 3, 1, 1), target) == pytest.approx(3 * float(one))  # K maps: summed
    padded = torch.tensor([[[1.0, 0.0, IGNORE], [0.0, 0.3, IGNORE]]])
    assert balanced_bce(torch.nn.functional.pad(logits, (0, 1), value=-9.0), padded) == pytest.approx(float(one))
    empty = torch.zeros(1, 2, 2)  # no edge pixel: HED's weights give the negatives 0
    two = balanced_bce(torch.cat([logits, logits]), torch.cat([target, empty]))
    assert two == pytest.approx(float(one) / 2)  # the mean over the 2 images
    with pytest.raises(ValueError, match="N×K×H×W"):
        balanced_bce(torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 3))


def test_edge_meter_counts_the_fused_channel():
    meter = EdgeMeter(eta=0.5, threshold=0.5)
    target = torch.tensor([[[1.0, 1.0, 0.0, 0.0, 0.3]]])
    fused = torch.tensor([[[[5.0, -5.0, 5.0, -5.0, 5.0]]]])  # TP, FN, FP, TN, ignored
    meter.update(torch.cat([fused, -fused], 1), target, loss=0.25)
    m = meter.compute()
    assert (m["precision"], m["recall"], m["f"], m["loss"]) == (0.5, 0.5, 0.5, 0.25)
    again = EdgeMeter()
    again.load_state_dict(meter.state_dict())
    assert again.compute() == m


# ----------------------------------------------------------------------------- data


def test_read_boundaries_averages_the_annotators(tmp_path):
    a, b = np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.uint8)
    a[1, :] = 1
    b[1, :2] = b[2, :] = 1
    _write_mat(tmp_path / "x.mat", [a, b])
    consensus, k = read_boundaries(tmp_path / "x.mat")
    assert k == 2 and consensus.dtype == np.float32
    np.testing.assert_allclose(consensus, (a + b) / 2)


def test_load_bsds_layout(synthetic):
    train = load_edges(synthetic, "train")
    assert len(train) == 3 and train.names == ["100", "101", "102"] and train.annotators == [2, 3, 2]
    assert train.images[1].shape == (3, 56, 40) and train.targets[1].shape == (56, 40)  # a portrait image
    assert {round(float(v), 4) for v in torch.unique(train.targets[1])} <= {0.0, round(1 / 3, 4), round(2 / 3, 4), 1.0}
    assert len(train.subset(2)) == 2


def test_missing_bsds_gives_the_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="BSDS500 train split not found"):
        load_edges("bsds500", "train", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="BSDS500 val split not found"):
        load_edges(f"bsds500:{tmp_path / 'nowhere'}", "val")
    with pytest.raises(DatasetNotFoundError, match="BSDS500 train split not found"):
        fit("hed_effnet_lite0", "bsds500", data_root=str(tmp_path), out=tmp_path / "run", progress=False)
    folder = _write_bsds(tmp_path / "partial", {"train": 1})
    (folder / "groundTruth" / "train" / "100.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"100\.jpg has no ground truth"):
        load_edges(f"bsds500:{folder}", "train")


def test_augment_pair_gives_crops_with_valid_targets():
    torch.manual_seed(0)
    image = torch.randint(0, 255, (3, 20, 30), dtype=torch.uint8)
    target = torch.zeros(20, 30)
    target[10, :] = 1.0
    aug = EdgeAugment(crop=(24, 24), scale=(0.8, 1.2), rot90=True, angle=(-10.0, 10.0), flip=True)
    for _ in range(8):
        img, t = augment_pair(image, target, aug)
        assert img.shape == (3, 24, 24) and img.dtype == torch.uint8 and t.shape == (24, 24)
        assert bool(((t >= 0) & (t <= 1) | (t == IGNORE)).all())
    img, t = augment_pair(image, target, EdgeAugment(crop=(20, 30), rot90=False, flip=False))
    assert torch.equal(img, image) and torch.equal(t, target)  # no augmentation: the image itself


@pytest.mark.skipif(not (BSDS / "groundTruth" / "val").is_dir(), reason=f"no BSDS500 under {BSDS}")
def test_real_bsds_ground_truth_reads():
    mat = sorted((BSDS / "groundTruth" / "val").glob("*.mat"))[0]
    consensus, k = read_boundaries(mat)
    assert k >= 4 and consensus.shape in ((321, 481), (481, 321)) and 0 < consensus.max() <= 1


# ----------------------------------------------------------------------------- thinning


def test_thinning_keeps_a_one_pixel_line_from_a_blurred_line():
    x = torch.arange(48.0)
    blurred = torch.exp(-((x - 20.0) ** 2) / (2 * 2.5**2)).expand(40, 48).clone()  # a vertical line at x = 20
    thin = thin_edges(blurred)
    rows = thin[5:-5]
    assert bool(((rows > 0).sum(1) == 1).all())  # one pixel a row ...
    assert set(rows.argmax(1).tolist()) == {20}  # ... on the line
    assert thin[5, 20] == pytest.approx(1.0)
    diagonal = thin_edges(torch.from_numpy(np.fromfunction(lambda i, j: np.exp(-((i - j) ** 2) / 8.0), (32, 32))))
    assert bool(((diagonal[4:-4] > 0).sum(1) <= 2).all())  # a diagonal line stays thin too
    with pytest.raises(ValueError, match="one H×W map"):
        thin_edges(torch.zeros(2, 8, 8))


# ----------------------------------------------------------------------------- the task through the loop


def test_default_recipe_and_task_for_bsds500():
    assert default_recipe("hed_effnet_lite0", "bsds500").name == "hed_effnet_lite0_bsds500_cpu"
    assert default_recipe("hed_effnet_lite0", "bsds500:/somewhere").name == "hed_effnet_lite0_bsds500_cpu"
    assert task_name(None, "bsds500") == "edges" and task_name("hed_effnet_lite0", None) == "edges"
    with pytest.raises(ConfigError, match="lenet5 is a classification model"):
        fit("lenet5", "bsds500", progress=False)


def test_fit_one_tiny_step_through_the_cli(synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    rc = training_main(["fit", "hed_effnet_lite0", "--data", synthetic, "--epochs", "1", "--out", str(out),
                        "--batch-size", "2", "--set", "crop_size=32,32", "--set", "frozen=()",
                        "--set", "model_kwargs={'pretrained_encoder': False}", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["task"], cfg["recipe"], cfg["train_size"], cfg["val_size"]) == ("edges", "hed_effnet_lite0_bsds500_cpu",
                                                                                3, 2)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["epoch"] == 1
    assert math.isfinite(rows[0]["train_loss"]) and math.isfinite(rows[0]["val_loss"])
    assert 0 <= rows[0]["val_f"] <= 1 and 0 <= rows[0]["train_f"] <= 1
    final = json.loads((out / "eval" / "val" / "metrics.json").read_text())
    assert final["images"] == 2 and final["f"] == rows[0]["val_f"]
    assert (out / "checkpoint.pt").is_file() and (out / "eval" / "curves.png").is_file()
