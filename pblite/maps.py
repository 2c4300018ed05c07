"""Texton, brightness and colour maps: per-pixel features clustered by a seeded k-means in torch.

* Texton map: every pixel's vector of filter-bank responses (the grey image correlated with
  every kernel, ``cv2.filter2D`` semantics: reflect-101 borders) clustered into ``K = 64`` textons.
* Brightness map: CIE L* (0..100) clustered into ``K = 16`` levels.
* Colour map: CIE a*, b* (chroma, about -128..127) clustered into ``K = 16`` colours.  CIELAB is
  used because its Euclidean distances approximate perceived colour differences (so k-means
  in it groups colours a person would group) and because it separates lightness from chroma:
  brightness changes go to Bg and are not counted a second time by Cg.

K-means: a seeded k-means++ initialisation (on ``30 K`` of the sampled pixels), at most 10
Lloyd iterations on ``n_fit`` pixels drawn with a seeded generator, then one pass assigns
every pixel to its nearest centre.  All random draws use
a CPU ``torch.Generator``, so the same seed gives the same centres on CPU and GPU (up to
floating-point rounding of the distances).  Cluster indices are sorted by the first centre
coordinate, so brightness labels grow with L*.
"""

from __future__ import annotations

import torch

__all__ = [
    "assign",
    "brightness_features",
    "colour_features",
    "filter_responses",
    "kmeans",
    "pad_reflect101",
    "rgb_to_lab",
]


def _reflect101_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * n - 2
    m = torch.remainder(idx, period)
    return torch.where(m >= n, period - m, m)


def pad_reflect101(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two axes by ``pad`` pixels with OpenCV's ``BORDER_REFLECT_101`` (any ``pad``)."""
    h, w = x.shape[-2:]
    iy = _reflect101_index(h, pad, x.device)
    ix = _reflect101_index(w, pad, x.device)
    return x[..., iy[:, None], ix[None, :]]


def _fft_size(n: int) -> int:
    """Smallest ``m >= n`` whose prime factors are 2, 3 and 5 (fast FFT lengths)."""
    m = n
    while True:
        k = m
        for f in (2, 3, 5):
            while k % f == 0:
                k //= f
        if k == 1:
            return m
        m += 1


_SPECTRA: dict[tuple, torch.Tensor] = {}


def _kernel_spectra(kernels: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Conjugate ``rfft2`` of the kernels at ``shape``; the last few are kept (same bank, same size)."""
    key = (shape, str(kernels.device), tuple(kernels.shape), hash(kernels.cpu().numpy().tobytes()))
    spec = _SPECTRA.get(key)
    if spec is None:
        # rows first on the S non-zero rows only, then columns: half the work of a padded rfft2
        spec = torch.fft.fft(torch.fft.rfft(kernels.to(torch.float32), n=shape[1], dim=-1), n=shape[0], dim=-2)
        spec = spec.conj_physical().contiguous()
        if len(_SPECTRA) >= 4:
            _SPECTRA.pop(next(iter(_SPECTRA)))
        _SPECTRA[key] = spec
    return spec


def filter_responses(gray: torch.Tensor, kernels: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Correlate a grey image with every kernel (FFT, reflect-101 borders, like ``cv2.filter2D``).

    The image is reflect-padded by ``S // 2`` and zero-padded further to FFT-friendly sizes
    (factors 2, 3, 5; the extra zeros only touch discarded outputs).  The kernels' spectra are
    cached per bank and size, so a series of same-sized images transforms them once.

    Args:
        gray: ``(H, W)`` float32 image (any units; the responses are linear in it).
        kernels: ``(N, S, S)`` float32, S odd.
        chunk: kernels per inverse FFT batch (bounds memory at ``chunk * (H+S) * (W+S)`` floats).

    Returns:
        ``(N, H, W)`` float32 responses.
    """
    n, s, s2 = kernels.shape
    if s != s2 or s % 2 == 0:
        raise ValueError(f"kernels must be square with odd size, got {tuple(kernels.shape)}")
    r = s // 2
    h, w = gray.shape
    padded = pad_reflect101(gray.to(torch.float32), r)
    fh, fw = _fft_size(padded.shape[0]), _fft_size(padded.shape[1])
    img_f = torch.fft.rfft2(padded, s=(fh, fw))
    k_f = _kernel_spectra(kernels, (fh, fw))
    out = torch.empty((n, h, w), dtype=torch.float32, device=gray.device)
    for i in range(0, n, chunk):
        resp = torch.fft.irfft2(img_f * k_f[i: i + chunk], s=(fh, fw))
        out[i: i + chunk] = resp[:, :h, :w]
    return out


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB ``(3, H, W)`` float in [0, 1] -> CIELAB ``(3, H, W)`` (L* 0..100, a*, b*), D65 white.

    Same constants as ``skimage.color.rgb2lab`` (illuminant D65, 2-degree observer).
    """
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
        dtype=rgb.dtype,
        device=rgb.device,
    )
    xyz = torch.einsum("ij,jhw->ihw", m, lin)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype, device=rgb.device)[:, None, None]
    t = xyz / white
    f = torch.where(t > 0.008856, t.clamp_min(0.008856) ** (1 / 3), 7.787 * t + 16 / 116)
    l_star = 116 * f[1] - 16
    a_star = 500 * (f[0] - f[1])
    b_star = 200 * (f[1] - f[2])
    return torch.stack([l_star, a_star, b_star])


def brightness_features(lab: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` Lab -> ``(H*W, 1)`` L* features."""
    return lab[0].reshape(-1, 1)


def colour_features(lab: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` Lab -> ``(H*W, 2)`` (a*, b*) features."""
    return lab[1:].reshape(2, -1).T.contiguous()


def _centre_scores(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``|c|^2 - 2 x.c``: the squared distance minus ``|x|^2``, which does not change the argmin."""
    return torch.addmm((c * c).sum(1)[None, :], x, c.T, alpha=-2.0)


def assign(x: torch.Tensor, centres: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Index of the nearest centre (squared Euclidean) for every row of ``x``: ``(N, D), (K, D) -> (N,)`` int64.

    ``x`` may be a transposed view (e.g. ``(D, N)`` responses ``.T``); it is not copied.
    """
    out = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    c = centres.to(x.dtype)
    for i in range(0, x.shape[0], chunk):
        out[i: i + chunk] = _centre_scores(x[i: i + chunk], c).argmin(1)
    return out


def kmeans(
    x: torch.Tensor,
    k: int,
    seed: int = 0,
    n_fit: int = 10000,
    iters: int = 10,
    tol: float = 1e-4,
    n_init_per_centre: int = 30,
) -> torch.Tensor:
    """Seeded k-means++ then Lloyd iterations on a seeded subsample of ``x``.

    Args:
        x: ``(N, D)`` float features (a transposed view is fine: only the subsample is copied).
        k: number of clusters (at most the number of distinct rows used; fewer distinct
            values give duplicated centres, which is harmless).
        seed: seed of the CPU generator used for the subsample and the initialisation.
        n_fit: rows drawn (without replacement) to fit on; ``N`` if ``N <= n_fit``.
        iters: maximum Lloyd iterations; stops early when no centre moves more than ``tol``
            times the data's standard deviation.
        n_init_per_centre: k-means++ runs on the first ``max(n_init_per_centre k, 1000)`` rows
            of the subsample (it is sequential in ``k``; Lloyd then uses all ``n_fit`` rows).

    Returns:
        ``(k, D)`` float32 centres sorted by their first coordinate.
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"expected (N, D) features with N > 0, got {tuple(x.shape)}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n = x.shape[0]
    if n > n_fit:
        idx = torch.randperm(n, generator=gen)[:n_fit].to(x.device)
        data = x[idx].float().contiguous()
    else:
        data = x.float().contiguous()
    # k-means++ on the first n_init rows of the (random) subsample; inverse-CDF sampling with
    # CPU uniforms, so the choices are identical on any device
    m = min(data.shape[0], max(n_init_per_centre * k, 1000))
    pp = data[:m]
    sq = (pp * pp).sum(1)
    u = torch.rand(k, generator=gen, dtype=torch.float64)
    first = int(torch.randint(m, (1,), generator=gen))
    chosen = [first]
    d2 = (sq - 2 * pp @ pp[first] + sq[first]).clamp_min_(0)
    for i in range(1, k):
        cdf = torch.cumsum(d2.double(), 0)
        total = float(cdf[-1])
        if total > 0:
            j = min(int(torch.searchsorted(cdf, cdf.new_tensor([float(u[i]) * total]))), m - 1)
        else:
            j = int(u[i] * m) % m
        chosen.append(j)
        d2 = torch.minimum(d2, (sq - 2 * pp @ pp[j] + sq[j]).clamp_min_(0))
    c = data[chosen].clone()
    scale = float(data.std()) + 1e-12
    for _ in range(iters):
        lab = _centre_scores(data, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, lab, data)
        counts = torch.bincount(lab, minlength=k).to(c.dtype)
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], c)
        shift = float((new - c).abs().max())
        c = new
        if shift <= tol * scale:
            break
    order = torch.argsort(c[:, 0], stable=True)
    return c[order].contiguous()
