"""The Lab's callbacks (image basics, inside a network, augmentation preview, digit photo, ensemble) and the
dashboard's Experiments data, called directly on known inputs.

The MNIST models use their shipped weights (the digit pipeline must really read digits); the
CIFAR-10 ensemble uses the random stand-ins of ``fake_weights`` (only its arithmetic is tested).
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zoo
from demos.callbacks import classify, digits, lab_augment, lab_basics, lab_network, runs
from demos.callbacks.common import DemoError
from tests.test_demos_callbacks import _photo, bad_uploads, fake_weights, good_odd_uploads, make_run  # noqa: F401

MNIST = [n for n in ("lenet5", "mnist_cnn") if n in zoo.list_models(pretrained=True)]
needs_mnist = pytest.mark.skipif(len(MNIST) < 2, reason="the shipped MNIST weights are absent")


def digit_photo(d: int, seed: int = 0) -> np.ndarray:
    """A 640x480 'photo' of digit ``d``: dark ink on uneven light paper with sensor noise."""
    rng = np.random.default_rng(seed + d)
    img = (200 + np.linspace(-30, 30, 640)[None, :, None] + np.zeros((480, 1, 3))).clip(0, 255).astype(np.uint8)
    cv2.putText(img, str(d), (230, 380), cv2.FONT_HERSHEY_SIMPLEX, 10, (40, 40, 50), 28, cv2.LINE_AA)
    return (img + rng.normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)


# ---- image basics ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("0 -1 0\n-1 5 -1\n0 -1 0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("1/9, 1/9, 1/9; 1/9 1/9 1/9;1/9,1/9,1/9", [[1 / 9] * 3] * 3),
    ("  2.5  ", [[2.5]]),
    ("1 0 0 0 0\n" * 5, [[1, 0, 0, 0, 0]] * 5),
])
def test_parse_kernel_accepts_rows_and_numbers(text, expected):
    assert np.allclose(lab_basics.parse_kernel(text), expected)


@pytest.mark.parametrize("text,message", [
    ("", "empty"), ("1 2; 3 4", "odd size"), ("1 2 3; 4 5 6", "square"), ("1 x 0; 0 1 0; 0 0 1", "not a number"),
    ("__import__('os') 0 0; 0 1 0; 0 0 1", "not a number"), ("nan 0 0; 0 1 0; 0 0 1", "finite"),
    ("1/0 0 0; 0 1 0; 0 0 1", "not a number"), (("0 " * 9 + ";") * 9, "odd size"),
])
def test_parse_kernel_refuses_clearly(text, message):
    with pytest.raises(DemoError, match=message):
        lab_basics.parse_kernel(text)


def test_kernels_on_synthetic_images_give_the_known_results():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    assert np.array_equal(lab_basics.apply_kernel(img, lab_basics.KERNELS["identity"]), img)
    flat = np.full((20, 20, 3), 77, np.uint8)
    for name in ("box blur 5x5", "Gaussian blur 5x5", "sharpen"):
        assert np.array_equal(lab_basics.apply_kernel(flat, lab_basics.KERNELS[name]), flat), name
    for name in ("Laplacian", "Sobel x", "Sobel y", "outline (8-neighbour)"):
        assert lab_basics.apply_kernel(flat, lab_basics.KERNELS[name]).max() == 0, name
    step = np.zeros((20, 20), np.uint8)
    step[:, 10:] = 50  # a vertical edge between columns 9 and 10
    sx = lab_basics.apply_kernel(step, lab_basics.KERNELS["Sobel x"])
    expected = np.zeros_like(step)
    expected[:, 9:11] = 200  # (1 + 2 + 1) * 50 on both sides of the edge
    assert np.array_equal(sx, expected)
    assert lab_basics.apply_kernel(step, lab_basics.KERNELS["Sobel y"]).max() == 0
    ramp = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (20, 1))  # a linear ramp: no second derivative
    assert lab_basics.apply_kernel(ramp, lab_basics.KERNELS["Laplacian"])[1:-1, 1:-1].max() == 0
    box = lab_basics.apply_kernel(step, lab_basics.parse_kernel("0 0 0; 1/3 1/3 1/3; 0 0 0"))
    assert box[5, 9] == round(50 / 3) and box[5, 10] == round(100 / 3) and box[5, 5] == 0


def test_otsu_splits_a_bimodal_image_between_its_modes():
    rng = np.random.default_rng(1)
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:140] = True
    img = np.where(mask, rng.normal(190, 12, mask.shape), rng.normal(60, 12, mask.shape)).clip(0, 255).astype(np.uint8)
    binary, t = lab_basics.threshold(np.dstack([img] * 3), "Otsu")
    assert 100 < t < 150
    assert np.array_equal(binary == 255, mask)
    fixed, t2 = lab_basics.threshold(img, "fixed", 200)
    assert t2 == 200 and np.array_equal(fixed == 255, img > 200)


def test_adaptive_threshold_finds_a_dark_mark_under_uneven_light():
    light = np.tile(np.linspace(60, 250, 200), (100, 1))
    img = light.copy()
    img[40:60, 20:30] -= 40  # dark marks on the dim and the bright side
    img[40:60, 170:180] -= 40
    img = img.clip(0, 255).astype(np.uint8)
    out, t = lab_basics.threshold(img, "adaptive", block=31, c=5)
    assert t is None and set(np.unique(out)) <= {0, 255}
    assert (out[42:58, 22:28] == 0).all() and (out[42:58, 172:178] == 0).all()  # both marks found
    assert (out[5:30, 40:160] == 255).mean() > 0.95  # plain paper stays white whatever its brightness
    _, global_t = lab_basics.threshold(img, "Otsu")
    assert (img[42:58, 172:178] > global_t).all()  # which one global threshold misses


def test_gamma_pooling_histogram():
    img = np.array([[0, 64, 255]], np.uint8)
    assert lab_basics.gamma(img, 0.5).tolist() == [[0, 128, 255]]  # 255 * (64 / 255) ** 0.5 = 127.75
    assert lab_basics.gamma(img, 1.0).tolist() == img.tolist()
    with pytest.raises(DemoError, match="positive"):
        lab_basics.gamma(img, 0)
    x = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert lab_basics.pool(x, 2, "max").tolist() == [[5, 7], [13, 15]]
    assert lab_basics.pool(x, 2, "average").tolist() == [[2, 4], [10, 12]]  # 2.5 -> 2, 4.5 -> 4 (to even)
    rgb = np.dstack([x, 2 * x, 3 * x]).astype(np.uint8)
    assert lab_basics.pool(rgb, 3, "max").shape == (1, 1, 3) and lab_basics.pool(rgb, 3, "max")[0, 0].tolist() == [
        10, 20, 30]
    with pytest.raises(DemoError, match="does not fit"):
        lab_basics.pool(x, 5)
    counts = lab_basics.histogram(_photo())
    assert counts.shape == (256,) and counts.sum() == 300 * 451


def test_image_basics_side_by_side_and_downloads():
    big = cv2.resize(_photo(), (1000, 665))
    items, fig, files, text = lab_basics.image_basics(big, lab_basics.CUSTOM, "0 0 0; 0 2 0; 0 0 0", "fixed", 100,
                                                      31, 5, 2.0, 10, "average")
    assert [c.split(" ")[0] for _, c in items] == ["input", "custom", "fixed", "gamma", "average"]
    rgb = items[0][0]
    assert rgb.shape == (426, 640, 3)  # downscaled to 640 px on the longer side, and the text says so
    assert "downscaled from 1000x665" in text
    assert np.array_equal(items[1][0], np.clip(rgb.astype(int) * 2, 0, 255).astype(np.uint8))
    assert items[4][0].shape == (420, 640, 3)  # 42x64 pooled, shown enlarged
    saved = [np.asarray(Image.open(p)) for p in files]
    assert len(saved) == 4 and np.array_equal(saved[0], items[1][0]) and np.array_equal(saved[1], items[2][0])
    assert saved[3].shape == (42, 64, 3)  # the real pooled pixels
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == 100  # the fixed and Otsu thresholds marked
    with pytest.raises(DemoError, match="square"):
        lab_basics.image_basics(big, lab_basics.CUSTOM, "1 2 3")


# ---- inside a network -----------------------------------------------------------------------------------------

def test_kernel_grid_tiles_each_kernel_in_its_own_range():
    w = torch.zeros(2, 1, 2, 2)
    w[0, 0] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    w[1, 0] = torch.tensor([[-1.0, -1.0], [-1.0, 1.0]])
    grid = lab_network.kernel_grid(w, cell=4, gap=2)
    assert grid.shape == (4, 10)
    assert grid[:2, :2].max() == 0 and grid[2:, 2:4].min() == 255  # kernel 0: 0 -> black, 3 -> white
    assert grid[0, 6] == 0 and grid[3, 9] == 255 and (grid[:, 4:6] == 255).all()  # the gap


class TwoChannelNet(nn.Module):
    """A net whose class 0 reads channel 0 (the image) and class 1 channel 1 (the inverted image)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3)) * 10


def test_grad_cam_highlights_what_the_class_reads():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 2:6, 2:6] = 1.0  # a small bright square
    net = TwoChannelNet().eval()
    cam1 = lab_network.grad_cam(net, x, net.conv, 1)  # class 1 reads the inverted image: the background
    assert cam1.shape == (16, 16) and abs(cam1.max() - 1) < 1e-6
    assert cam1[3:5, 3:5].max() < 0.05 and cam1[10:, 10:].min() > 0.95
    cam0 = lab_network.grad_cam(net, x, net.conv, 0)  # class 0 reads the image: the square
    assert cam0[3:5, 3:5].min() > 0.95 and cam0[10:, 10:].max() < 0.05


@needs_mnist
def test_model_card_and_inside_network_on_a_digit():
    layers, layer, grid, caption, _info, table = lab_network.model_card("lenet5")
    assert layer in layers and "features.0" in layers
    assert "6 kernels of 1x5x5" in caption and grid.ndim == 2
    assert "Total params" in table and "[1, 6, 28, 28]" in table  # torchinfo's output shapes
    mnist_like = digits.preprocess_digit(digit_photo(3))  # white on black, as the weights expect
    maps, maps_caption, cam, cam_caption, text = lab_network.inside_network(mnist_like, "lenet5", "features.0")
    assert "6 maps of 28x28" in maps_caption and maps.ndim == 2
    assert cam.shape == (320, 320, 3) and cam.dtype == np.uint8
    assert "'3'" in cam_caption and "predicts **3**" in text
    with pytest.raises(DemoError, match="no layer"):
        lab_network.inside_network(digit_photo(3), "lenet5", "nope")
    with pytest.raises(DemoError, match="no published weights"):
        lab_network.inside_network(digit_photo(3), "vgg16", None)


# ---- augmentation preview -------------------------------------------------------------------------------------

def test_recipe_choices_come_from_the_registry(monkeypatch):
    from training import recipes

    names = lab_augment.augment_recipes()
    assert names[0] == "course" and "lenet5_mnist" in names
    assert lab_augment.recipe_models("course")[:2] == ["course_resnet18", "course_resnet18_32"]
    assert not any("camvid" in n for n in names)  # segmentation recipes are not previewed
    new = recipes.Recipe(name="a_later_course_recipe", model="cifar_cnn", data="cifar10", flip=True)
    monkeypatch.setitem(recipes.RECIPES, new.name, new)
    assert "a_later_course_recipe" in lab_augment.augment_recipes()


def _bar_angle(tile: np.ndarray) -> float:
    ys, xs = np.nonzero(tile > tile.max() / 2)
    c = np.cov(np.stack([xs, -ys]).astype(float))
    _, vecs = np.linalg.eigh(c)
    vx, vy = vecs[:, -1]
    return float(np.degrees(np.arctan2(vy, vx)) % 180)


def test_course_recipe_rotates_by_30_to_70_degrees():
    img = np.zeros((32, 32), np.uint8)
    img[15:17, 4:28] = 255  # a horizontal bar
    t = lab_augment.recipe_transforms("course", (3, 32, 32), "course_resnet18_32")  # the full image, no crop
    x = torch.from_numpy(np.stack([img] * 3))
    drawn = lab_augment.draw(x, t, n=12, seed=3)
    tiles = lab_augment.to_display(drawn, t["preprocess"])[..., 0]
    angles = [_bar_angle(tile) for tile in tiles]
    assert all(25 <= a <= 75 for a in angles), angles  # counter-clockwise by 30-70 degrees (+- pixel rounding)
    assert max(angles) - min(angles) > 10  # random draws, not one rotation
    again = lab_augment.draw(x, t, n=12, seed=3)
    assert torch.equal(drawn, again) and not torch.equal(drawn, lab_augment.draw(x, t, n=12, seed=4))
    plain = lab_augment.recipe_transforms("cifar_cnn_cifar10", (3, 32, 32))
    crop_flip = lab_augment.to_display(lab_augment.draw(x, plain, n=12, seed=3), plain["preprocess"])[..., 0]
    assert all(_bar_angle(tile) in (0.0, 180.0) or min(_bar_angle(tile), 180 - _bar_angle(tile)) < 3
               for tile in crop_flip)  # crop and flip keep a horizontal bar horizontal


def test_augment_preview_upload_code_and_course_crop():
    grid, code, text = lab_augment.augment_preview(_photo(), "cifar_cnn_cifar10", n=7)
    assert grid.shape == (96, 8 * 96 + 7 * 4, 3)  # the plain input and 7 draws in one row
    assert "def sample_transform" in code and "Preprocessing(mean=(0.4914" in code and "crop=(32, 32)" in code
    assert "as a 32x32 cifar10 image" in text
    grid10, code10, text10 = lab_augment.augment_preview(_photo(), "course", n=7)  # course_resnet18: 10x10 crops
    assert "crop=10" in code10 and "RandomRotation" in code10 and "mean=(0.485" in code10
    assert grid10.shape == grid.shape and "(course_resnet18)" in text10
    tiles = grid10[:96, :96]
    assert len(np.unique(tiles.reshape(-1, 3)[:, 0])) <= 100  # at most 10x10 distinct pixels, enlarged
    with pytest.raises(DemoError, match="not lenet5"):
        lab_augment.augment_preview(_photo(), "course", n=2, model="lenet5")
    grid_m, code_m, _ = lab_augment.augment_preview(_photo(), "lenet5_mnist", n=3)
    assert "pad=2" in code_m and grid_m.shape[0] == 96  # MNIST padded to 32x32 (one row of 4 tiles)
    with pytest.raises(DemoError, match="unknown recipe"):
        lab_augment.augment_preview(_photo(), "cifar_cnn_cifar1O")
    with pytest.raises(DemoError, match="segmentation"):
        lab_augment.augment_preview(_photo(), "fcn8s_camvid_cpu")


def test_augment_preview_from_the_data_set(data_root):
    if not (data_root / "cifar10").is_dir():
        pytest.skip("no CIFAR-10 here")
    grid, _, text = lab_augment.augment_preview(None, "cifar_cnn_cifar10", "data set", 7, n=4)
    assert "cifar10 test image 7" in text and grid.shape[0] == 96
    with pytest.raises(DemoError, match="outside"):
        lab_augment.augment_preview(None, "cifar_cnn_cifar10", "data set", 10_000)


# ---- digits from a photo --------------------------------------------------------------------------------------

@needs_mnist
def test_digit_photo_pipeline_reads_every_digit():
    for d in range(10):
        steps, fig, results, _ = digits.digit_photo(digit_photo(d), MNIST)
        assert [r["model"] for r in results] == MNIST
        assert all(r["top"][0][0] == str(d) for r in results), (d, results)
    names = [n.split(" ")[0] for _, n in steps]
    assert names == ["grayscale", "Otsu", "invert:", "crop", "resize:", "centred", "normalised"]
    assert steps[0][0].shape == (480, 640) and steps[5][0].shape == (28, 28)
    assert len(fig.data) == len(MNIST)


@needs_mnist
def test_sketchpad_and_photo_share_the_named_steps(monkeypatch):
    from tests.test_demos_callbacks import _drawn_seven

    calls = []
    real = digits.crop_to_ink
    monkeypatch.setattr(digits, "crop_to_ink", lambda ink: calls.append(ink.shape) or real(ink))
    pre, _, _, _ = digits.digits(_drawn_seven(), MNIST)
    digits.digit_photo(digit_photo(7), MNIST)
    assert calls == [(280, 280), (480, 640)]
    assert np.array_equal(pre, digits.preprocess_digit(_drawn_seven()))
    with pytest.raises(DemoError, match="No digit found"):
        digits.digit_photo(np.full((100, 100, 3), 200, np.uint8), MNIST)


def test_crop_to_ink_ignores_specks_and_the_page_edge():
    ink = np.zeros((100, 100), np.uint8)
    ink[30:70, 45:55] = 255  # the stroke
    ink[5, 5] = 255  # a speck
    ink[:, 95:] = 255  # a shadow along the page edge
    crop = digits.crop_to_ink(ink)
    assert crop.shape == (40, 10) and crop.min() == 255


# ---- ensemble -------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("fake_weights")
def test_ensemble_members_beside_the_zoo_ensemble():
    from zoo.models.ensemble import TRAINED_MEMBERS

    fig, results, text = classify.ensemble_members(_photo())
    assert [r["model"] for r in results][:3] == list(TRAINED_MEMBERS)
    assert results[3]["model"].startswith("ensemble (3 members")
    members = np.array([r["probs"] for r in results[:3]])
    assert np.allclose(members.mean(0), results[3]["probs"], atol=1e-5)  # the zoo's soft vote
    assert all(len(r["top"]) == 3 for r in results) and len(fig.data) == 4
    assert "cifar_speedrun.cifar10_seed1" in text


# ---- bad uploads in every lab view ----------------------------------------------------------------------------

LAB_VIEWS = {
    "basics": lambda f: lab_basics.image_basics(f),
    "network": lambda f: lab_network.inside_network(f, MNIST[0] if MNIST else "lenet5"),
    "augment": lambda f: lab_augment.augment_preview(f, "course", n=4),
    "digit": lambda f: digits.digit_photo(f, MNIST),
    "ensemble": lambda f: classify.ensemble_members(f),
}
EXPECTED = {"empty": "0 bytes", "text": "not an image", "truncated": "truncated or corrupt", "huge": "above the limit",
            "bomb": "decompression bomb"}


@needs_mnist
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("view", list(LAB_VIEWS))
@pytest.mark.usefixtures("fake_weights")
def test_every_lab_view_refuses_bad_uploads_and_reads_odd_ones(view, tmp_path):
    for kind, path in bad_uploads(tmp_path).items():
        with pytest.raises(DemoError, match=EXPECTED[kind]):
            LAB_VIEWS[view](str(path))
    with pytest.raises(DemoError, match=r"No image|No digit"):
        LAB_VIEWS[view](None)
    for kind, path in good_odd_uploads(tmp_path).items():  # CMYK, 16-bit, animated, RGBA: converted
        assert LAB_VIEWS[view](str(path)) is not None, kind


# ---- the dashboard's experiments ------------------------------------------------------------------------------

def test_experiment_runs_split_by_recipe(tmp_path):
    assert runs.experiment_runs(tmp_path) == ([], [])
    course = make_run(tmp_path, "course_run")
    cfg = json.loads((course / "config.json").read_text())
    cfg["recipe"] = "course"
    (course / "config.json").write_text(json.dumps(cfg))
    ours = make_run(tmp_path, "ours_run", epochs=5)
    other = make_run(tmp_path, "lenet_run")
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"], cfg["data"] = "lenet5", "mnist"
    (other / "config.json").write_text(json.dumps(cfg))
    c, o = runs.experiment_runs(tmp_path)
    assert c == [str(course)] and o == [str(ours)]  # lenet5 on MNIST has no course run to compare with
    rows = runs.experiment_rows(c, o, str(tmp_path))
    assert [r["side"] for r in rows] == ["course", "ours"] and rows[0]["course reported (%)"] == 58.82
    assert rows[1]["epochs"] == 5 and rows[0]["recipe"] == "course"


def test_experiment_tables_are_found_and_read(tmp_path):
    folder = tmp_path / "experiments" / "why43"
    row = make_run(folder, "a_course")
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "results.json").write_text(json.dumps({"results": {"pblite": {"pr_curve": {}}}}))
    rows = [{"row": "a_course", "change": "the course's settings", "model": "course_resnet18", "epochs": 2,
             "test_acc": 0.164, "majority_fraction": 0.667, "status": "done", "run_dir": str(row),
             "command": "python -m training fit course_resnet18 --recipe course"},
            {"row": "b_full_image", "change": "whole images", "status": "pending", "run_dir": str(folder / "b")}]
    (folder / "results.json").write_text(json.dumps({"experiment": "why43", "question": "Why 43%?", "rows": rows,
                                                     "design": "cumulative", "notes": "n", "budget_epochs": 2}))
    assert runs.find_experiments(tmp_path) == [str(folder / "results.json")]  # not the pb-lite results
    header, table, folders = runs.experiment_table(folder / "results.json")
    assert header["question"] == "Why 43%?" and header["design"] == "cumulative"
    assert table[0]["test_acc"] == 16.4 and table[0]["majority_fraction"] == 66.7 and table[1]["test_acc"] is None
    assert folders == [str(row)]  # the pending row has no run folder yet
    assert runs.find_runs(tmp_path) == []  # experiment rows sit deeper than the dashboard's run list
