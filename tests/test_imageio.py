"""zoo.imageio.load_image: every source type, mode and failure a user can upload."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.imageio import DEFAULT_MAX_PIXELS, ImageLoadError, load_image


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _rgb(h: int = 20, w: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width``x``height`` grey pixels, with a tiny (incomplete) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "fileobj", "pil", "array"])
def test_sources_give_the_same_rgb(tmp_path: Path, kind: str) -> None:
    arr = _rgb()
    p = tmp_path / "a.png"
    Image.fromarray(arr).save(p)
    source = {"path": p, "str": str(p), "bytes": p.read_bytes(), "fileobj": io.BytesIO(p.read_bytes()),
              "pil": Image.open(p), "array": arr}[kind]
    out = load_image(source)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3) and out.flags.c_contiguous and out.flags.writeable
    assert out is not arr
    np.testing.assert_array_equal(out, arr)


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((10, 40, 3), np.uint8)  # stored 40 wide, 10 high
    arr[:, :20] = 255  # left half white
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    notes: list[str] = []
    out = load_image(buf.getvalue(), notes=notes)
    assert out.shape == (40, 10, 3)  # displayed upright: 10 wide, 40 high
    assert out[:15].mean() > 200 and out[25:].mean() < 50  # the white half is now on top
    assert notes == ["EXIF orientation applied"]


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_modes_convert_to_rgb(mode: str) -> None:
    base = Image.fromarray(_rgb())
    if mode == "I;16":
        im = Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100)
    elif mode == "I":
        im = Image.fromarray(np.full((20, 30), 65535, np.int32), mode="I")
    elif mode == "F":
        im = Image.fromarray(np.full((20, 30), 0.5, np.float32), mode="F")
    else:
        im = base.convert(mode)
    out = load_image(im)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    if mode == "I;16":
        assert out[-1, -1, 0] == round(599 * 100 / 257)
    if mode == "I":
        assert (out == 255).all()
    if mode == "F":
        assert (out == 128).all()


def test_sixteen_bit_png_file_scaled() -> None:
    arr = np.full((8, 8), 65535, np.uint16)
    arr[0, 0] = 257 * 10
    notes: list[str] = []
    out = load_image(_png_bytes(Image.fromarray(arr)), notes=notes)
    assert out[0, 0, 0] == 10 and out[1, 1, 2] == 255
    assert any("16-bit" in n for n in notes)


def test_cmyk_jpeg() -> None:
    buf = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(buf, format="JPEG")  # pure red in CMYK
    notes: list[str] = []
    out = load_image(buf.getvalue(), notes=notes)
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in notes)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_composited_on_white(mode: str) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)  # black, fully transparent
    rgba[:5, :, 3] = 255  # top half opaque black
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    out = load_image(_png_bytes(im))
    assert (out[:5] == 0).all() and (out[5:] == 255).all()


def test_palette_with_transparency() -> None:
    idx = np.zeros((10, 10), np.uint8)
    idx[5:] = 1  # bottom half: the transparent index
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    out = load_image(_png_bytes(im, transparency=1))
    assert (out[:5] == [255, 0, 0]).all() and (out[5:] == 255).all()
    assert (load_image(_png_bytes(im))[5:] == 0).all()  # without transparency: black


def test_array_with_alpha_and_dtypes() -> None:
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 3] = 0
    assert (load_image(a) == 255).all()  # fully transparent -> white
    assert (load_image(np.ones((4, 4), bool)) == 255).all()
    assert (load_image(np.full((4, 4, 1), 1.0, np.float32)) == 255).all()
    assert (load_image(np.full((4, 4, 3), 65535, np.uint16)) == 255).all()
    with pytest.raises(ImageLoadError, match="NaN"):
        load_image(np.full((4, 4), np.nan))
    with pytest.raises(ImageLoadError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageLoadError, match="pixel type"):
        load_image(np.zeros((4, 4), np.int64))
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(np.zeros((0, 4, 3), np.uint8))


def test_animated_gif_first_frame_with_note() -> None:
    frames = [Image.new("RGB", (12, 12), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    notes: list[str] = []
    out = load_image(buf.getvalue(), notes=notes)
    assert out.shape == (12, 12, 3) and out[0, 0, 0] > 200 and out[0, 0, 1] < 50
    assert any("frame 1 of 3" in n for n in notes)


def test_empty_file_and_bytes(tmp_path: Path) -> None:
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    for src in (p, b""):
        with pytest.raises(ImageLoadError, match="0 bytes"):
            load_image(src)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, I am text\n" * 10)
    with pytest.raises(ImageLoadError, match="not an image file"):
        load_image(p)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageLoadError, match="cannot read an image from a int"):
        load_image(42)


def test_truncated_jpeg_and_png() -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, format="JPEG")
    with pytest.raises(ImageLoadError, match=r"^the upload is truncated or corrupt and cannot be decoded"):
        load_image(buf.getvalue()[: len(buf.getvalue()) // 2])
    png = _png_bytes(Image.fromarray(_rgb(64, 64)))
    with pytest.raises(ImageLoadError, match=r"^the upload is truncated or corrupt"):
        load_image(png[: len(png) // 2])
    lazy = Image.open(io.BytesIO(png[: len(png) // 2]))  # a PIL image whose pixels cannot be read
    with pytest.raises(ImageLoadError, match=r"^the image is truncated or corrupt .*; re-export or re-download it$"):
        load_image(lazy)
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(buf.getvalue()[:200])  # cut inside the JPEG header


def test_byte_limit() -> None:
    png = _png_bytes(Image.fromarray(_rgb(64, 64)))
    with pytest.raises(ImageLoadError, match="above the limit of"):
        load_image(png, max_bytes=1000)
    with pytest.raises(ImageLoadError, match="above the limit of"):
        load_image(io.BytesIO(png), max_bytes=1000)
    assert load_image(png, max_bytes=None).shape == (64, 64, 3)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit_before_decoding() -> None:
    # 10000 x 10000 declared in the header: refused before a single pixel is decoded
    with pytest.raises(ImageLoadError, match=r"10000x10000 = 100.0 MP, above the limit of 40.0 MP"):
        load_image(_png_header_only(10000, 10000))
    assert DEFAULT_MAX_PIXELS < 10000 * 10000
    with pytest.raises(ImageLoadError, match="above the limit"):
        load_image(np.zeros((100, 100), np.uint8), max_pixels=5000)
    with pytest.raises(ImageLoadError, match="above the limit"):
        load_image(Image.new("L", (100, 100)), max_pixels=5000)


def test_decompression_bomb_guard_becomes_clear_error() -> None:
    # With our limit switched off, PIL's own guard (> 2 x MAX_IMAGE_PIXELS) still refuses a 30000^2 bomb.
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(_png_header_only(30000, 30000), max_pixels=None)


def test_limits_are_inclusive_and_messages_name_the_source(tmp_path: Path) -> None:
    png = _png_bytes(Image.fromarray(_rgb(64, 64)))
    n = len(png)
    assert load_image(png, max_bytes=n).shape == (64, 64, 3)  # exactly at the limit: allowed
    p = tmp_path / "big.png"
    p.write_bytes(png)
    with pytest.raises(ImageLoadError, match=rf"^the file big\.png is {n / 1e6:.1f} MB, above the limit of "
                                             rf"{(n - 1) / 1e6:.1f} MB; save it as a smaller JPEG or PNG"):
        load_image(p, max_bytes=n - 1)
    with pytest.raises(ImageLoadError, match=r"^the upload is .* MB, above the limit"):
        load_image(bytearray(png), max_bytes=n - 1)
    named = io.BytesIO(png)
    named.name = "camera.png"
    with pytest.raises(ImageLoadError, match=r"^the upload is .* MB, above the limit"):
        load_image(named, max_bytes=n - 1)
    named = io.BytesIO(b"GIF89a" + b"\0" * 50)  # a broken header: the message names the file object
    named.name = "camera.gif"
    with pytest.raises(ImageLoadError, match=r"^camera\.gif is (not an image|truncated or corrupt)"):
        load_image(named)
    assert load_image(io.BytesIO(png), max_bytes=None).shape == (64, 64, 3)  # a file object read whole
    assert load_image(memoryview(png)).shape == (64, 64, 3)
    # pixels: 64 x 64 = 4096 allowed at 4096, refused at 4095, for files, PIL images and arrays alike
    assert load_image(png, max_pixels=4096).shape == (64, 64, 3)
    for src in (png, Image.fromarray(_rgb(64, 64)), _rgb(64, 64)):
        with pytest.raises(ImageLoadError, match=r"^the image is 64x64 = 0\.0 MP, above the limit of 0\.0 MP"):
            load_image(src, max_pixels=4095)
    with pytest.raises(ImageLoadError, match=r"^the image is empty \(0x4 pixels\)"):
        load_image(np.zeros((4, 0, 3), np.uint8))
    with pytest.raises(ImageLoadError, match=r"is not an image file that can be read; use PNG, JPEG, WebP"):
        load_image(b"\x00" * 100)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path)  # a folder is not a file


def test_alpha_is_blended_with_white_in_proportion() -> None:
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, :3] = [[0, 0, 0], [200, 100, 0], [10, 20, 30]]
    rgba[0, :, 3] = [128, 128, 255]
    out = load_image(rgba)
    # rgb * a + 255 * (1 - a), a = 128/255, rounded; an opaque pixel keeps its colour
    np.testing.assert_array_equal(out[0], [[127, 127, 127], [227, 177, 127], [10, 20, 30]])
    np.testing.assert_array_equal(load_image(_png_bytes(Image.fromarray(rgba, "RGBA"))), out)


def test_arrays_are_converted_and_copied() -> None:
    notes: list[str] = []
    out = load_image(np.array([[0.0, 0.5, -1.0, 2.0]]), notes=notes)  # floats clipped to [0, 1]
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 0, 255])
    assert notes == []
    np.testing.assert_array_equal(load_image(np.array([[0, 257 * 3, 65535]], np.uint16), notes=notes)[0, :, 1],
                                  [0, 3, 255])
    assert notes == ["16-bit image scaled to 8 bits"]
    frozen = np.broadcast_to(np.full((1, 1, 3), 7, np.uint8), (4, 5, 3))  # read-only, not contiguous
    out = load_image(frozen)
    assert out.flags.writeable and out.flags.c_contiguous and (out == 7).all()
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert (load_image(grey) == grey).all() and load_image(grey).shape == (2, 3, 3)
    from zoo.imageio import to_rgb_u8

    with pytest.raises(ImageLoadError, match=r"^expected a numpy array, got list$"):
        to_rgb_u8([[0]])
    with pytest.raises(ImageLoadError, match=r"^unsupported pixel type int64; use uint8, uint16, bool or float"):
        load_image(np.zeros((2, 2), np.int64))


def test_float_and_wide_integer_modes() -> None:
    # F images with values above 1 are taken as 0..255; I images are clipped to 0..65535 and scaled
    out = load_image(Image.fromarray(np.array([[0.0, 100.4, 300.0]], np.float32), mode="F"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 100, 255])
    with pytest.raises(ImageLoadError, match="holds NaN or infinite values"):
        load_image(Image.fromarray(np.array([[0.0, np.inf]], np.float32), mode="F"))
    notes: list[str] = []
    out = load_image(Image.fromarray(np.array([[-5, 257 * 9, 70000]], np.int32), mode="I"), notes=notes)
    np.testing.assert_array_equal(out[0, :, 0], [0, 9, 255])
    assert notes == ["16-bit image scaled to 8 bits"]
    cmyk: list[str] = []
    load_image(Image.new("CMYK", (2, 2)), notes=cmyk)
    assert cmyk == ["CMYK image converted to RGB"]


def test_message_numbers_and_endings() -> None:
    # 1750 x 1400 = 2.45 MP and 2,450,000 bytes: shown to one decimal, in millions
    with pytest.raises(ImageLoadError, match=r"^the image is 1750x1400 = 2\.5 MP, above the limit of 2\.0 MP; "
                                             r"downscale it \(for example to 4000 pixels on the long side\) and "
                                             r"try again$"):
        load_image(_png_header_only(1750, 1400), max_pixels=2_000_000)
    with pytest.raises(ImageLoadError, match=r"^the upload is 2\.5 MB, above the limit of 1\.6 MB; "):
        load_image(b"\0" * 2_450_000, max_bytes=1_550_000)
    with pytest.raises(ImageLoadError, match=r"^the image array contains NaN or infinite values; give values "
                                             r"in \[0, 1\]$"):
        load_image(np.full((2, 2), np.inf))
    with pytest.raises(ImageLoadError, match=r"^the image holds NaN or infinite values; save it as an 8-bit "
                                             r"PNG or JPEG$"):
        load_image(Image.fromarray(np.full((2, 2), np.nan, np.float32), mode="F"))
    with pytest.raises(ImageLoadError, match=r"^the upload is not an image file that can be read"):
        load_image(io.BytesIO(b"plain text, no image"))  # a file object without a name
    assert load_image(np.zeros((4, 1, 3), np.uint8)).shape == (4, 1, 3)  # one pixel wide is an image


def test_every_array_type_gives_uint8_rgb() -> None:
    arrays = [np.ones((3, 4), bool), np.full((3, 4), 65535, np.uint16), np.full((3, 4), 0.5, np.float32),
              np.full((3, 4, 4), 255, np.uint8)]  # the last: opaque RGBA, so just its RGB
    for a in arrays:
        out = load_image(a)
        assert out.dtype == np.uint8 and out.shape == (3, 4, 3), a.dtype
    rgba = np.dstack([_rgb(3, 4), np.full((3, 4), 255, np.uint8)])
    np.testing.assert_array_equal(load_image(rgba), rgba[:, :, :3])


def test_float_image_scale_is_decided_by_its_maximum() -> None:
    def load_f(values):
        return load_image(Image.fromarray(np.array([values], np.float32), mode="F"))[0, :, 0].tolist()

    assert load_f([0.0, 0.3, 1.0]) == [0, 76, 255]  # maximum 1: values in [0, 1], x 255
    assert load_f([-5.0, 1.5, 2.0]) == [0, 2, 2]  # above 1: already 0..255, clipped
    out = load_image(Image.fromarray(np.array([[-1000, 0]], np.int32), mode="I"))  # negative: clipped to 0
    assert out[0, :, 0].tolist() == [0, 0]


@pytest.mark.parametrize("mode", ["RGBa", "PA"])  # "La" is listed too, but Pillow cannot convert it to RGBA
def test_other_alpha_modes_are_composited(mode: str) -> None:
    im = Image.new(mode, (2, 2))  # fully transparent black
    assert (load_image(im) == 255).all()


def test_two_frame_animation_is_noted() -> None:
    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    notes: list[str] = []
    load_image(buf.getvalue(), notes=notes)
    assert notes == ["animated or multi-page image: using frame 1 of 2"]
