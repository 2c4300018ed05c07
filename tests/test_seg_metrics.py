"""Segmentation metrics (training.seg.metrics): the confusion matrix, the scores computed from it, the
streaming meter and the per-class IoU chart, on cases small enough to count by hand."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from training.seg.metrics import SegmentationMeter, confusion_matrix, miou, plot_iou, scores

VOID = 11


def test_miou_perfect_prediction_is_one():
    t = torch.randint(0, 11, (2, 9, 13))
    assert miou(t, t, 11) == 1.0
    s = scores(confusion_matrix(t, t, 11))
    assert s["pixel_accuracy"] == 1.0 and s["mean_class_accuracy"] == 1.0


def test_confusion_matrix_counted_by_hand():
    truth = torch.tensor([[0, 0, 1], [2, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [2, 0, 2]])
    c = confusion_matrix(pred, truth, 3)
    # rows: truth, columns: prediction
    assert c.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]] and c.dtype == torch.int64
    assert torch.equal(confusion_matrix(pred.float(), truth.to(torch.uint8), 3), c)  # any integer-valued dtype
    s = scores(c)
    assert s["iou"] == pytest.approx([1 / 3, 1 / 2, 2 / 3])
    assert s["class_accuracy"] == pytest.approx([1 / 2, 1.0, 2 / 3])
    assert s["miou"] == pytest.approx((1 / 3 + 1 / 2 + 2 / 3) / 3)
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)
    assert s["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert scores(c.numpy()) == s  # a numpy matrix (as saved in eval/confusion.npy) gives the same


def test_void_pixels_are_ignored():
    truth = torch.tensor([[0, 1, VOID, VOID]])
    pred = torch.tensor([[0, 1, 2, 0]])  # wrong only where the truth is void
    assert miou(pred, truth, 11, ignore_index=VOID) == 1.0
    c = confusion_matrix(pred, truth, 11, ignore_index=VOID)
    assert c.sum() == 2


def test_class_absent_from_prediction_and_truth_does_not_count():
    truth = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 0])
    s = scores(confusion_matrix(pred, truth, 11))
    # class 0: TP 2, FP 1, FN 0 -> 2/3; class 1: TP 1, FN 1 -> 1/2; classes 2..10 absent: NaN, not 0
    assert s["iou"][0] == pytest.approx(2 / 3) and s["iou"][1] == pytest.approx(0.5)
    assert all(math.isnan(v) for v in s["iou"][2:])
    assert s["miou"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert s["pixel_accuracy"] == pytest.approx(0.75)
    assert s["mean_class_accuracy"] == pytest.approx((1.0 + 0.5) / 2)


def test_class_only_predicted_counts_as_zero():
    s = scores(confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 0]), 3))
    assert s["iou"][2] == 0.0 and s["miou"] == pytest.approx((0.5 + 0.0) / 2)
    # class 2 is never true: no accuracy of its own (NaN), not 0
    assert math.isnan(s["class_accuracy"][2]) and s["mean_class_accuracy"] == pytest.approx(0.5)


def test_one_labelled_pixel():
    s = scores(confusion_matrix(torch.tensor([1]), torch.tensor([1]), 3))
    assert s["miou"] == s["pixel_accuracy"] == s["mean_class_accuracy"] == 1.0


def test_single_pixel_classes_count():
    # every class holds one true pixel: a threshold above 0 pixels would drop them
    s = scores(confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]), 3))
    assert s["iou"] == pytest.approx([1.0, 0.5, 0.0])
    assert s["class_accuracy"] == pytest.approx([1.0, 1.0, 0.0]) and s["mean_class_accuracy"] == pytest.approx(2 / 3)


def test_nothing_labelled_gives_nan_scores_without_warnings():
    c = confusion_matrix(torch.tensor([0, 1]), torch.tensor([VOID, VOID]), 11, VOID)
    assert c.sum() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice": the empty cases are handled, not averaged
        s = scores(c)
    assert all(math.isnan(s[k]) for k in ("miou", "pixel_accuracy", "mean_class_accuracy"))
    assert all(math.isnan(v) for v in s["iou"] + s["class_accuracy"])


def test_out_of_range_ids_are_refused_with_the_known_ids():
    with pytest.raises(ValueError, match=r"unknown class id\(s\) \[3\]; known ids are 0\.\.2$"):
        confusion_matrix(torch.zeros(2, dtype=torch.long), torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match=r"unknown class id\(s\) \[-1\]; known ids are 0\.\.2 and 11 \(void\)$"):
        confusion_matrix(torch.zeros(2, dtype=torch.long), torch.tensor([-1, 11]), 3, VOID)
    with pytest.raises(ValueError, match=r"^prediction \(3, 2\) and mask \(2, 2\) differ in shape$"):
        confusion_matrix(torch.zeros(3, 2), torch.zeros(2, 2), 3)
    with pytest.raises(ValueError, match=r"prediction holds ids outside 0\.\.2$"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"prediction holds ids outside 0\.\.2$"):
        confusion_matrix(torch.tensor([-1, 0]), torch.tensor([0, 1]), 3)
    # the largest valid ids pass, and a void pixel's prediction is never checked
    assert confusion_matrix(torch.tensor([2, 99]), torch.tensor([2, VOID]), 3, VOID)[2, 2] == 1


def test_meter_streams_like_one_matrix():
    torch.manual_seed(0)
    truth = torch.randint(0, 12, (4, 10, 10))
    logits = torch.randn(4, 11, 10, 10)
    meter = SegmentationMeter(11, VOID)
    for i in range(4):
        meter.update(logits[i : i + 1], truth[i : i + 1], 1.0)
    assert torch.equal(meter.confusion, confusion_matrix(logits.argmax(1), truth, 11, VOID))
    assert meter.compute()["loss"] == 1.0


def test_meter_weights_losses_by_batch_size_and_takes_class_ids():
    meter = SegmentationMeter(3)
    assert meter.compute()["loss"] == 0.0 and math.isnan(meter.compute()["miou"])  # nothing seen yet
    one = SegmentationMeter(3)
    one.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), 3.0)
    assert one.compute()["loss"] == 3.0  # one image
    truth = torch.tensor([[[0, 1], [2, 2]]])
    meter.update(torch.tensor([[[0, 1], [2, 0]]]), truth, torch.tensor(2.0))  # class ids, one image, loss 2
    meter.update(torch.zeros(3, 2, 2, dtype=torch.long), truth.expand(3, 2, 2), 6.0)  # three images, loss 6
    meter.update(torch.zeros(1, 2, 2, dtype=torch.long), truth)  # no loss: counted in the matrix only
    assert meter.compute()["loss"] == pytest.approx((2.0 * 1 + 6.0 * 3) / 4)
    # class-0 truth: 5 images x 1 pixel, all predicted 0; class 2: 10 pixels, 1 predicted 2
    assert meter.confusion.dtype == torch.int64  # exact counts (float32 stops counting at 2**24 pixels)
    assert meter.confusion.tolist() == [[5, 0, 0], [4, 1, 0], [9, 0, 1]]
    assert meter.compute()["pixel_accuracy"] == pytest.approx(7 / 20)


def test_plot_iou_draws_one_bar_per_class_and_the_mean(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from training import runs

    figures = []
    save = runs.save_figure
    monkeypatch.setattr(runs, "save_figure", lambda fig, path, **kw: (figures.append(fig), save(fig, path, **kw)))
    iou, classes = [0.5, math.nan, 0.25], ["sky", "road", "car"]
    plot_iou(iou, classes, tmp_path / "iou.png", "test split")
    plot_iou([0.1] * 5, list("abcde"), tmp_path / "five.png", "five")
    plot_iou([math.nan] * 2, ["a", "b"], tmp_path / "none.png", "none")
    assert len(figures) == 3 and all(not plt.fignum_exists(f.number) for f in figures)  # each closed when saved
    ax = figures[0].axes[0]
    assert [b.get_width() for b in ax.patches] == [0.5, 0.0, 0.25]  # NaN drawn as an empty bar
    assert [t.get_text() for t in ax.get_yticklabels()] == classes
    assert ax.yaxis_inverted() and ax.get_xlim() == (0.0, 1.0)  # first class on top, IoU axis 0..1
    assert [t.get_text() for t in ax.texts] == ["0.500", "n/a", "0.250"]  # at the end of each bar, centred on it
    assert [t.get_position() for t in ax.texts] == [
        pytest.approx((b.get_width() + 0.01, b.get_y() + b.get_height() / 2)) for b in ax.patches]
    assert {t.get_va() for t in ax.texts} == {"center"}
    mean_line = ax.get_lines()[0]
    assert list(mean_line.get_xdata()) == [0.375, 0.375]  # the mean over defined IoUs
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mIoU 0.375"]
    assert ax.get_title() == "test split" and ax.get_xlabel() == "IoU"
    # no IoU NaN: the plain mean; no IoU at all: the line at 0
    legend = [[t.get_text() for t in f.axes[0].get_legend().get_texts()] for f in figures[1:]]
    assert legend == [["mIoU 0.100"], ["mIoU 0.000"]] and list(figures[2].axes[0].get_lines()[0].get_xdata()) == [0, 0]
    # one row of 0.35 inch per class at 120 dpi, 6 inches wide
    with Image.open(tmp_path / "iou.png") as a, Image.open(tmp_path / "five.png") as b:
        assert a.size[0] == b.size[0] == 720 and b.size[1] - a.size[1] == round(2 * 0.35 * 120)
    assert np.asarray(Image.open(tmp_path / "iou.png")).std() > 0
