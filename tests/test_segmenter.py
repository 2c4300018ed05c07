"""The project's one segmenter (``zoo/segment.py``), used by ``cvzoo segment`` and the Segment tab:
the bilinear logit upsampling, the mask drawer, bad input, and the shipped ``fcn8s_effnet_lite0``'s
pixel accuracy on CamVid test images through the Segment tab's own callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from demos.callbacks import common, segment
from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS
from zoo.segment import (
    class_colours,
    colourise,
    make_segmenter,
    overlay,
    palette,
    predict_mask,
    upsample_argmax,
)
from zoo.segment import segment as segment_image

CAMVID = common.data_root() / "camvid"
VOID = 11  # CamVid's unlabelled pixels, excluded from the accuracy
SHIPPED = "fcn8s_effnet_lite0"
# Measured with the shipped weight on the 8 test images below (2 CPU threads): 91.4% of the labelled
# pixels pooled, 86.6% to 96.8% per image (the model card: 89.8% over all 233 test images).
MIN_PIXEL_ACCURACY = 0.89
MIN_IMAGE_PIXEL_ACCURACY = 0.82


class Recorder(nn.Module):
    """A stand-in segmentation net: 4 classes from a 1x1 conv, remembering the input size it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        return self.conv(x)


@pytest.mark.parametrize(("k", "h", "w", "size", "band"), [
    (11, 45, 60, (360, 480), 1 << 24),  # the whole map at once
    (11, 45, 60, (361, 479), 5000),  # bands of a few rows, odd sizes
    (5, 10, 10, (6, 4), 7),  # smaller than the logits
    (3, 7, 9, (7, 9), 1),  # same size: the plain arg-max
])
def test_upsample_argmax_is_bilinear_interpolation_in_bands(k, h, w, size, band):
    logits = torch.randn(k, h, w, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0].argmax(0)
    got = upsample_argmax(logits, size, band_elements=band)
    assert got.shape == size and torch.equal(got, expected)


def test_colourise_overlay_and_colours():
    mask = np.array([[0, 1], [VOID, 255]], np.uint8)
    assert colourise(mask, CAMVID_COLOURS).tolist() == [[list(CAMVID_COLOURS[0]), list(CAMVID_COLOURS[1])],
                                                        [[0, 0, 0], [0, 0, 0]]]  # void and beyond: black
    image = np.full((2, 2, 3), 200, np.uint8)
    assert np.array_equal(overlay(image, mask, CAMVID_COLOURS, 0.0), image)
    assert np.array_equal(overlay(image, mask, CAMVID_COLOURS, 1.0), colourise(mask, CAMVID_COLOURS))
    assert np.array_equal(overlay(image, mask, CAMVID_COLOURS, 7.0), colourise(mask, CAMVID_COLOURS))  # clipped
    with pytest.raises(ValueError, match="differ in size"):
        overlay(image, mask[:1], CAMVID_COLOURS)
    assert class_colours(CAMVID_CLASSES) == CAMVID_COLOURS
    assert class_colours(["a", "b", "c"]) == tuple(palette(3))
    assert class_colours(["a", "b"], [[1, 2, 3], [4, 5, 6]]) == ((1, 2, 3), (4, 5, 6))


def test_predict_mask_caps_the_long_side_and_returns_the_image_size():
    torch.manual_seed(0)
    seg = make_segmenter(Recorder(), "fcn8s", classes=["a", "b", "c", "d"])
    image = np.random.default_rng(0).integers(0, 256, (300, 960, 3), np.uint8)
    mask = predict_mask(seg, image)
    assert mask.shape == (300, 960) and mask.dtype == np.uint8 and int(mask.max()) < 4
    assert seg.model.seen[-1] == (150, 480)  # the longer side capped at 480
    predict_mask(seg, image, max_side=None)
    assert seg.model.seen[-1] == (300, 960)
    for bad in (image[..., 0], image.astype(np.float32), image[..., :2]):
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
            predict_mask(seg, bad)


# ---- the shipped CamVid model through the Segment tab -------------------------------------------------------------

def camvid_test_pairs(n: int) -> list[tuple[Path, Path]]:
    """``n`` (image, label) pairs spread evenly over CamVid's test list (both sequences)."""
    lines = [line.split() for line in (CAMVID / "test.txt").read_text().splitlines() if line.strip()]
    return [(CAMVID / lines[i][0], CAMVID / lines[i][1])
            for i in (round(j * (len(lines) - 1) / (n - 1)) for j in range(n))]


@pytest.mark.data
@pytest.mark.skipif(not (CAMVID / "test.txt").is_file(),
                    reason=f"CamVid not found under {CAMVID} (set CVZOO_DATA to the folder holding camvid/)")
def test_segment_tab_pixel_accuracy_on_camvid_test_images():
    if SHIPPED not in segment.segmentation_models():
        pytest.skip(f"{SHIPPED} has no weights here")
    common.clear_model_cache()
    correct = labelled = 0
    per_image = {}
    try:
        for image, label in camvid_test_pairs(8):
            *_, state, _text = segment.segment(str(image), SHIPPED)  # the tab's callback
            truth = np.asarray(Image.open(label))
            assert state["mask"].shape == truth.shape == (360, 480)
            keep = truth != VOID
            hits = int((state["mask"][keep] == truth[keep]).sum())
            per_image[image.name] = hits / int(keep.sum())
            correct, labelled = correct + hits, labelled + int(keep.sum())
        # `cvzoo segment` draws the same mask: one segmenter
        mask, _picture, _info = segment_image(str(image), segment.segmenter(SHIPPED))
        assert np.array_equal(mask, state["mask"])
    finally:
        common.clear_model_cache()
    assert correct / labelled >= MIN_PIXEL_ACCURACY, per_image
    assert min(per_image.values()) >= MIN_IMAGE_PIXEL_ACCURACY, per_image


@pytest.mark.data
@pytest.mark.skipif(not (CAMVID / "test.txt").is_file(),
                    reason=f"CamVid not found under {CAMVID} (set CVZOO_DATA to the folder holding camvid/)")
def test_segment_tab_compares_the_three_fcns_on_one_photo():
    """The Segment tab's FCN-32s/16s/8s comparison draws each shipped network's own mask (the same as the
    Segment button's for that model), coarsest first, each captioned with its weight's test mIoU."""
    image, label = camvid_test_pairs(3)[1]
    truth = np.asarray(Image.open(label))
    common.clear_model_cache()
    try:
        gallery, text = segment.compare(str(image), opacity=1.0)
        assert [c.split(" ")[0] for _, c in gallery] == list(segment.FCN_FAMILY)
        assert all("CamVid test mIoU 0." in c for _, c in gallery) and all(n in text for n in segment.FCN_FAMILY)
        accuracy = {}
        for (picture, _), name in zip(gallery, segment.FCN_FAMILY, strict=True):
            over, *_, state, _ = segment.segment(str(image), name, 1.0)
            assert np.array_equal(picture, over)  # opacity 1: the picture is the mask's colours
            keep = truth != VOID
            accuracy[name] = float((state["mask"][keep] == truth[keep]).mean())
    finally:
        common.clear_model_cache()
    assert min(accuracy.values()) >= 0.8, accuracy
    assert not np.array_equal(gallery[0][0], gallery[2][0])  # FCN-32s and FCN-8s draw different masks
