"""pblite.gradients: chi-square half-disc gradients against a per-mask loop, strides, blocks, reductions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pblite import gradients, masks


def test_chi_square_zero_for_uniform_and_positive_at_step():
    flat = torch.zeros((40, 40), dtype=torch.int64)
    assert float(gradients.chi_square_stack(flat, 4, (3, 6)).abs().max()) < 1e-6
    step = torch.zeros((40, 40), dtype=torch.int64)
    step[:, 20:] = 1
    chi = gradients.chi_square_stack(step, 2, (3, 6), orientations=8)
    # vertical edge: the orientation pi/2 pair (index 4) straddles it, orientation 0 does not;
    # the diameter's own column is shared between the halves (one ray each), so chi2 < 1
    assert 0.6 < float(chi[0, 4, 20, 20]) < 1.0
    at = chi[:, :, 20, 20].mean(0)
    assert float(at[4]) > float(at[2]) > float(at[0])
    assert float(chi[:, 0, 20, 20].max()) < 0.1  # only the two rays of the diameter differ
    assert float(chi[:, :, 20, 5].max()) < 1e-6  # far from the edge
    g = gradients.gradient_map(step, 2, (3, 6))
    assert g.shape == (40, 40) and float(g[20, 19:21].min()) > float(g[20, 5]) + 0.2


def test_chi_square_matches_per_mask_loop_and_stride():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (30, 37))
    fast = gradients.chi_square_stack(torch.from_numpy(labels), 5, (2, 4), orientations=4).numpy()
    m = masks.half_disc_masks((2, 4), 4)
    for s, r in enumerate((2, 4)):
        c = 4 - r
        for o in range(4):
            left = m[s, o, 0, c: c + 2 * r + 1, c: c + 2 * r + 1].astype(np.float32)
            right = m[s, o, 1, c: c + 2 * r + 1, c: c + 2 * r + 1].astype(np.float32)
            chi = np.zeros(labels.shape)
            for k in range(5):
                oh = (labels == k).astype(np.float32)
                g = cv2.filter2D(oh, -1, left, borderType=cv2.BORDER_REFLECT_101) / left.sum()
                h = cv2.filter2D(oh, -1, right, borderType=cv2.BORDER_REFLECT_101) / left.sum()
                ok = g + h > 0
                chi[ok] += 0.5 * (g[ok] - h[ok]) ** 2 / (g[ok] + h[ok])
            np.testing.assert_allclose(fast[s, o], chi, atol=1e-5)
    strided = gradients.chi_square_stack(torch.from_numpy(labels), 5, (2, 4), orientations=4, stride=3).numpy()
    np.testing.assert_allclose(strided, fast[:, :, ::3, ::3], atol=1e-6)


def test_upsample_grid_keeps_grid_values():
    grid = torch.rand(2, 5, 7)
    up = gradients.upsample_grid(grid, (10, 14), 2)
    assert up.shape == (2, 10, 14)
    torch.testing.assert_close(up[:, ::2, ::2], grid)


def test_chi_square_refuses_bad_radii_and_shapes():
    labels = torch.zeros((8, 8), dtype=torch.int64)
    for radii in ((5, 3), (3, 3), (0, 3)):
        with pytest.raises(ValueError, match=rf"radii must be increasing positive integers, got \[{radii[0]}, 3\]"):
            gradients.chi_square_stack(labels, 2, radii)
    with pytest.raises(ValueError, match=r"labels must be \(H, W\), got \(2, 8, 8\)"):
        gradients.chi_square_stack(labels[None].expand(2, 8, 8), 2, (1, 2))
    assert gradients.chi_square_stack(labels, 2, (1,)).shape == (1, 8, 8, 8)  # radius 1 is allowed


@pytest.mark.parametrize("stride", [1, 3])
def test_chi_square_is_the_same_in_any_block_size_and_label_dtype(stride):
    rng = np.random.default_rng(2)
    labels = torch.from_numpy(rng.integers(0, 6, (23, 31)))
    full = gradients.chi_square_stack(labels, 6, (2, 5), orientations=4, stride=stride)
    assert full.shape == (2, 4, -(-23 // stride), -(-31 // stride))
    assert float(full.min()) >= 0 and float(full.max()) <= 1 and float(full.max()) > 0.1  # chi2 in [0, 1]
    # one grid row per block (the last block reads past the map), and int32 labels
    rows = gradients.chi_square_stack(labels.to(torch.int32), 6, (2, 5), orientations=4, stride=stride,
                                      block_cells=1)
    torch.testing.assert_close(rows, full, atol=1e-6, rtol=0)


def test_chi_square_of_halves_that_share_only_the_diameter():
    # rows above the centre hold label 0, rows below label 1, the centre row label 2; orientation 0 cuts
    # along that row and gives one ray of it (r pixels) to each half. The halves share only label 2 in
    # equal amounts, so chi2 = 1/2 (sum of the unshared g and h) = (n - r) / n for n pixels per half
    labels = torch.zeros((21, 21), dtype=torch.int64)
    labels[11:] = 1
    labels[10] = 2
    chi = gradients.chi_square_stack(labels, 3, (2, 4), orientations=4)
    half = masks.half_disc_masks((2, 4), 4)[:, 0, 0].sum((1, 2))
    for s, r in enumerate((2, 4)):
        assert float(chi[s, 0, 10, 10]) == pytest.approx((half[s] - r) / half[s])
        # the vertical cut: mirror-image halves apart from the diameter's rays (label 0 up, label 1 down)
        assert 0 < float(chi[s, 2, 10, 10]) < 0.5 * float(chi[s, 0, 10, 10])


@pytest.mark.parametrize("radius", [2, 3, 5])
def test_chi_square_is_one_for_halves_with_no_label_in_common(radius):
    # labels drawn from the masks themselves: one label under the right half-disc, another elsewhere.
    # The sum comes out a hair above 1 at radius 3 (1 + 2.4e-7 before clamping); chi2 stays in [0, 1]
    right = masks.half_disc_masks((radius,), 4)[0, 0, 1]
    labels = np.pad(right.astype(np.int64), 10, mode="edge")
    chi = gradients.chi_square_stack(torch.from_numpy(labels), 2, (radius,), orientations=4)
    assert float(chi[0, 0, 10 + radius, 10 + radius]) == 1.0 and float(chi.max()) == 1.0


def test_upsample_grid_interpolates_and_pads_the_border():
    grid = torch.arange(12, dtype=torch.float32).view(1, 3, 4) ** 2
    assert gradients.upsample_grid(grid, (3, 4), 1) is grid
    up = gradients.upsample_grid(grid, (8, 11), 3)  # grid points at 0, 3, 6 (rows) and 0, 3, 6, 9 (columns)
    assert up.shape == (1, 8, 11)
    torch.testing.assert_close(up[:, ::3, ::3][:, :3, :4], grid)
    # bilinear between grid points, one third of the way
    torch.testing.assert_close(up[0, 1, 0], (2 * grid[0, 0, 0] + grid[0, 1, 0]) / 3)
    torch.testing.assert_close(up[0, 0, 4], (2 * grid[0, 0, 1] + grid[0, 0, 2]) / 3)
    # beyond the last grid row and column: the border repeated
    torch.testing.assert_close(up[0, 7], up[0, 6])
    torch.testing.assert_close(up[0, :, 10], up[0, :, 9])
    # leading dimensions are kept
    assert gradients.upsample_grid(torch.zeros(2, 5, 3, 4), (7, 10), 3).shape == (2, 5, 7, 10)


def test_reduce_stack_and_gradient_map():
    stack = torch.tensor([[1.0, 3.0, 2.0], [0.0, 4.0, 8.0]]).view(2, 3, 1, 1)  # (radii, orientations, H, W)
    assert gradients.reduce_stack(stack, "mean").item() == pytest.approx(3.0)
    assert gradients.reduce_stack(stack, "max").item() == pytest.approx((3.0 + 8.0) / 2)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'max', got 'median'"):
        gradients.reduce_stack(stack, "median")
    rng = np.random.default_rng(4)
    labels = torch.from_numpy(rng.integers(0, 4, (17, 22)))
    # the defaults: 8 orientations, every pixel, the mean
    torch.testing.assert_close(gradients.gradient_map(labels, 4, (2, 4)),
                               gradients.chi_square_stack(labels, 4, (2, 4), orientations=8).mean((0, 1)))
    assert gradients.reduce_stack(stack).item() == pytest.approx(3.0)
    g = gradients.gradient_map(labels, 4, (2, 4), orientations=4, stride=2, reduction="max")
    stack = gradients.chi_square_stack(labels, 4, (2, 4), orientations=4, stride=2)
    torch.testing.assert_close(g, gradients.upsample_grid(stack.amax(1).mean(0), (17, 22), 2))
    assert g.shape == (17, 22) and g.dtype == torch.float32
