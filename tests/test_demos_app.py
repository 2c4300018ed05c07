"""The Gradio app served on 127.0.0.1 and called through its API with ``gradio_client``, as a script
would: every tab's endpoint, every kind of bad upload (shown as a message, the app keeps serving)
and the upload size limit."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demos.callbacks import common
from tests.test_demos_callbacks import (
    _drawn_seven,
    bad_uploads,
    good_odd_uploads,
    install_stand_ins,
    write_embeddings,
)
from zoo.models.ensemble import TRAINED_MEMBERS

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
gradio_client = pytest.importorskip("gradio_client")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with stand-in CIFAR-10, MNIST and segmentation weights and a small embeddings file."""
    tmp = tmp_path_factory.mktemp("app")
    write_embeddings(tmp / "embeddings_test.npz")
    with pytest.MonkeyPatch.context() as mp:
        install_stand_ins(mp)
        mp.setenv("CVZOO_EMBEDDINGS", str(tmp))
        from demos import app

        demo = app.build()
        kw = app.launch_kwargs() | {"server_port": free_port(), "prevent_thread_lock": True, "quiet": True}
        demo.launch(**kw)
        try:
            client = gradio_client.Client(f"http://127.0.0.1:{kw['server_port']}", verbose=False)
            yield client, tmp
        finally:
            demo.close()
            common.clear_model_cache()


def test_exit_while_warming_up_is_clean():
    """A process that ends while the app warms up exits 0: the job in progress finishes, the rest is
    skipped (a daemon thread stopped inside a torch call aborted the process, exit status 134)."""
    import subprocess
    import sys

    code = ("import torch\nfrom demos.warm_up import warm_up\n"
            "def job():\n    for _ in range(400):\n        torch.randn(200, 200) @ torch.randn(200, 200)\n"
            "warm_up([job, lambda: print('second job ran')])\n")
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "second job ran" not in run.stdout


def _photo_file(tmp: Path) -> str:
    import skimage.data

    path = tmp / "chelsea.jpg"
    if not path.is_file():
        Image.fromarray(skimage.data.chelsea()).save(path, quality=92)
    return str(path)


def test_api_lists_named_endpoints(served):
    client, _ = served
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/edges", "/classify", "/digits", "/segment", "/segment_opacity", "/tsne", "/tsne_generate",
            "/zoo_model"} <= names


def test_classify_endpoint(served):
    client, tmp = served
    from gradio_client import handle_file

    preview, _fig, results, text = client.predict(handle_file(_photo_file(tmp)),
                                                 ["efficientnet_lite0", "cifar_cnn", "ensemble"],
                                                 api_name="/classify")
    assert [r["model"] for r in results] == ["efficientnet_lite0", "cifar_cnn", "ensemble"]
    assert results[0]["top"][0][0] in ("Egyptian cat", "tabby", "tiger cat")
    assert "ms" in text and Path(preview).is_file()


def test_edges_endpoint_and_download(served):
    client, tmp = served
    from gradio_client import handle_file

    small = tmp / "small.png"
    Image.open(_photo_file(tmp)).resize((120, 80)).save(small)
    gallery, maps, png, text = client.predict(handle_file(str(small)), 128, 16, 6, 4, 0.5, True, api_name="/edges")
    assert [g["caption"] for g in gallery] == ["input", "Sobel", "Canny (soft)", "pb-lite"]
    assert len(maps["value"]) == 7 and maps["visible"] is True
    assert np.asarray(Image.open(png)).shape == (80, 120)
    assert "pb-lite took" in text
    *_, text = client.predict(handle_file(str(small)), 128, 16, 6, 4, 0.5, False, "bsds", api_name="/edges")
    assert "texton cue skipped" in text


def test_digits_segment_tsne_zoo_endpoints(served):
    client, tmp = served
    from gradio_client import handle_file

    sketch = tmp / "seven.png"
    Image.fromarray(_drawn_seven()).save(sketch)
    pre, _fig, maps, text = client.predict({"background": None, "layers": [], "composite": handle_file(str(sketch))},
                                           ["lenet5", "mnist_cnn"], api_name="/digits")
    assert np.asarray(Image.open(pre)).shape[:2] == (28, 28) and len(maps) == 4 and "lenet5" in text

    over, legend, _fig, text = client.predict(handle_file(_photo_file(tmp)), "fcn8s", 0.5, api_name="/segment")
    assert np.asarray(Image.open(over)).shape == (300, 451, 3) and "Sky" in legend

    _fig, text = client.predict(f"{tmp.name}/embeddings_test.npz", "predicted", api_name="/tsne")
    assert "misclassified" in text

    info, table = client.predict("resnet18_cifar", api_name="/zoo_model")
    assert "resnet18_cifar" in info and "Total params" in table


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_uploads_are_messages_and_the_app_keeps_serving(served):
    client, tmp = served
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    expected = {"empty": "0 bytes", "text": "not an image", "truncated": "truncated or corrupt",
                "huge": "above the limit", "bomb": "decompression bomb"}
    for kind, path in bad_uploads(tmp).items():
        for api, args in (("/classify", [["cifar_cnn"]]), ("/segment", ["fcn8s", 0.5])):
            with pytest.raises(AppError, match=expected[kind]):
                client.predict(handle_file(str(path)), *args, api_name=api)
    for kind, path in good_odd_uploads(tmp).items():
        _, _, results, _ = client.predict(handle_file(str(path)), ["cifar_cnn"], api_name="/classify")
        assert results[0]["model"] == "cifar_cnn", kind
    with pytest.raises(AppError, match="No image"):
        client.predict(None, ["cifar_cnn"], api_name="/classify")
    _, _, results, _ = client.predict(handle_file(_photo_file(tmp)), ["cifar_cnn"], api_name="/classify")
    assert results  # still serving


def test_upload_size_limit(served):
    client, tmp = served
    from gradio_client import handle_file

    big = tmp / "big.png"
    big.write_bytes(b"\x89PNG" + os.urandom(common.MAX_UPLOAD_BYTES + 1024))
    with pytest.raises(Exception, match=r"(?i)size|large|413"):
        client.predict(handle_file(str(big)), ["cifar_cnn"], api_name="/classify")


def test_cached_output_images_are_written_atomically(tmp_path):
    """A second identical output must not truncate the copy a client may be downloading."""
    from gradio import processing_utils as pu

    from demos.gradio_patch import atomic_image_cache

    atomic_image_cache()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    first = pu.save_pil_to_cache(img, str(tmp_path))
    size = os.path.getsize(first)
    with open(first, "rb") as reader:  # a download in progress
        assert pu.save_pil_to_cache(img, str(tmp_path)) == first
        assert len(reader.read()) == size > 0
    assert not list(Path(first).parent.glob("*.part"))


# ---- the Lab's endpoints ----------------------------------------------------------------------------------------

LAB_ENDPOINTS = {  # endpoint: the arguments after the upload
    "/lab_basics": ["Sobel x", "", "Otsu", 127, 31, 5, 0.5, 8, "max"],
    "/lab_network": ["lenet5", "features.0"],
    "/lab_augment": ["course", "upload", 0, 4, 0, "course_resnet18_32"],
    "/lab_digit_photo": [["lenet5", "mnist_cnn"]],
    "/lab_ensemble": [],
}


def test_lab_endpoints(served):
    client, tmp = served
    from gradio_client import handle_file

    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert set(LAB_ENDPOINTS) | {"/lab_model"} <= names
    photo = handle_file(_photo_file(tmp))
    gallery, _fig, files, text = client.predict(photo, *LAB_ENDPOINTS["/lab_basics"], api_name="/lab_basics")
    assert [g["caption"].split(" ")[0] for g in gallery] == ["input", "Sobel", "Otsu", "gamma", "max"]
    assert len(files) == 4 and all(Path(f).is_file() for f in files) and "Working image 451x300" in text
    layers, _kernels, info, table = client.predict("lenet5", api_name="/lab_model")
    assert "features.0" in str(layers) and "6 kernels" in info and "Total params" in table
    _maps, cam, text = client.predict(photo, *LAB_ENDPOINTS["/lab_network"], api_name="/lab_network")
    assert np.asarray(Image.open(cam)).shape == (320, 320, 3) and "Grad-CAM at" in text
    grid, code, text = client.predict(photo, *LAB_ENDPOINTS["/lab_augment"], api_name="/lab_augment")
    assert "RandomRotation" in code and np.asarray(Image.open(grid)).shape[0] == 96
    sketch = tmp / "seven_photo.png"
    Image.fromarray(255 - _drawn_seven()[..., 3]).save(sketch)  # black ink on white paper
    steps, _fig, text = client.predict(handle_file(str(sketch)), *LAB_ENDPOINTS["/lab_digit_photo"],
                                       api_name="/lab_digit_photo")
    assert len(steps) == 7 and "lenet5" in text
    _fig, results, text = client.predict(photo, api_name="/lab_ensemble")
    assert [r["model"] for r in results][:3] == list(TRAINED_MEMBERS) and "ensemble" in text


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_lab_bad_uploads_are_messages(served):
    client, tmp = served
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    expected = {"empty": "0 bytes", "text": "not an image", "truncated": "truncated or corrupt",
                "huge": "above the limit", "bomb": "decompression bomb"}
    for kind, path in bad_uploads(tmp).items():  # every kind in every view: tests/test_demos_lab.py
        for api, args in LAB_ENDPOINTS.items():
            if api == "/lab_basics" or kind in ("empty", "bomb"):
                with pytest.raises(AppError, match=expected[kind]):
                    client.predict(handle_file(str(path)), *args, api_name=api)
    with pytest.raises(AppError, match="odd size"):
        client.predict(handle_file(_photo_file(tmp)), "custom (type below)", "1 2; 3 4", "Otsu", 127, 31, 5, 0.5, 8,
                       "max", api_name="/lab_basics")
    _, _, _, text = client.predict(handle_file(_photo_file(tmp)), *LAB_ENDPOINTS["/lab_basics"], api_name="/lab_basics")
    assert "Working image" in text  # still serving
