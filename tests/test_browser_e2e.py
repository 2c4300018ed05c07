"""End to end in headless Chromium: the Gradio app and the Streamlit dashboard are started as a
user would start them (``python -m demos.app``, ``streamlit run demos/dashboard.py``) on
127.0.0.1, driven with Playwright's Python API through Debian's ``chromium``; each tab is used
with a real image and asserted on what appears; screenshots go to ``$CVZOO_SCREENSHOTS`` (the
README's come from ``CVZOO_SCREENSHOTS=docs/screenshots CVZOO_E2E_RUNS=<real run folders>``) or the
test's temporary folder.

Skips with a reason where Playwright or a Chromium binary (``$CVZOO_CHROMIUM``, ``chromium``,
``chromium-browser``) is missing: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_demos_callbacks import make_run, write_embeddings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CVZOO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

playwright_api = pytest.importorskip("playwright.sync_api", reason="no playwright: pip install playwright")
if not CHROMIUM:
    pytest.skip("no Chromium binary: apt-get install -y chromium (or set CVZOO_CHROMIUM)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CVZOO_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory) -> Path:
    """A runs folder with one evaluated run, its embeddings, and a pb-lite benchmark; a photo."""
    import json

    import skimage.data

    tmp = tmp_path_factory.mktemp("e2e")
    run = make_run(tmp / "runs", "cifar_cnn_cifar10")
    make_run(tmp / "runs", "cifar_speedrun_cifar10", epochs=6)
    write_embeddings(run / "embeddings_test.npz", n=800)
    pb = tmp / "runs" / "pblite-bsds"
    pb.mkdir()
    res = {}
    for m, s in (("sobel", 0.9), ("canny", 0.95), ("pblite", 1.0)):
        rec = np.linspace(0.95, 0.05, 19)
        prec = np.clip(s * (1 - 0.6 * rec), 0, 1)
        f = 2 * rec * prec / (rec + prec)
        k = int(np.argmax(f))
        res[m] = {"ODS": float(f[k]), "OIS": float(f[k]) + 0.01, "AP": float(prec.mean()), "ODS_recall": float(rec[k]),
                  "ODS_precision": float(prec[k]), "n_images": 10,
                  "pr_curve": {"recall": rec.tolist(), "precision": prec.tolist()},
                  "protocol": {"thresholds": 19, "max_dist": 0.0075, "apply_thinning": True}}
    (pb / "results.json").write_text(json.dumps({"meta": {"note": "synthetic, for the screenshot"}, "results": res}))
    Image.fromarray(skimage.data.chelsea()).save(tmp / "chelsea.jpg", quality=92)
    Image.fromarray(skimage.data.coffee()).save(tmp / "coffee.jpg", quality=92)
    (tmp / "notes.txt").write_text("this is not an image\n")
    import cv2  # a photographed-looking handwritten 3: dark ink on unevenly lit paper

    paper = (200 + np.linspace(-30, 30, 640)[None, :, None] + np.zeros((480, 1, 3))).clip(0, 255).astype(np.uint8)
    cv2.putText(paper, "3", (230, 380), cv2.FONT_HERSHEY_SIMPLEX, 10, (40, 40, 50), 28, cv2.LINE_AA)
    Image.fromarray(paper).save(tmp / "digit3.jpg", quality=90)
    return tmp


@pytest.fixture(scope="module")
def runs_dir(fixtures_dir) -> Path:
    """The dashboard's runs: the synthetic ones, or real run folders from ``$CVZOO_E2E_RUNS`` (the README's
    screenshots: it must hold an evaluated ``cifar_cnn_cifar10`` run and a pb-lite ``results.json``)."""
    return Path(os.environ.get("CVZOO_E2E_RUNS") or fixtures_dir / "runs")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def gradio_url(fixtures_dir):
    port = free_port()
    # with real runs, the Embeddings tab shows the shipped t-SNE; else the synthetic run's
    emb = {} if os.environ.get("CVZOO_E2E_RUNS") else {"CVZOO_EMBEDDINGS": str(fixtures_dir / "runs" /
                                                                              "cifar_cnn_cifar10")}
    proc = subprocess.Popen([sys.executable, "-m", "demos.app"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(CVZOO_DEMO_PORT=str(port), **emb))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/gradio_api/info", proc)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def streamlit_url(runs_dir):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "demos/dashboard.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=_env(CVZOO_RUNS=str(runs_dir)))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_stcore/health", proc)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_gradio_app_every_tab(browser, gradio_url, fixtures_dir, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(gradio_url)
    page.get_by_text("cvzoo").first.wait_for()

    # Edges: upload, run, the four panels and the download appear
    _tab(page, "Edges")
    page.locator("#edges_in input[type=file]").set_input_files(str(fixtures_dir / "coffee.jpg"))
    page.locator("#edges_maps input").check()
    page.locator("#edges_run").click()
    page.wait_for_function("document.querySelector('#edges_text') && "
                           "document.querySelector('#edges_text').innerText.includes('pb-lite took')")
    page.wait_for_function("[...document.querySelectorAll('#edges_out img')].filter(i => i.naturalWidth > 0)"
                           ".length >= 4")
    assert "pb_" in page.locator("#edges_png").inner_text()
    page.screenshot(path=str(shots / "gradio_edges.png"), full_page=True)

    # Classify: the real ImageNet model says cat; a text file is a clear message, and the app keeps serving
    _tab(page, "Classify")
    page.locator("#classify_in input[type=file]").set_input_files(str(fixtures_dir / "notes.txt"))
    page.locator("#classify_run").click()
    page.get_by_text("is not an image file").first.wait_for()
    page.locator("#classify_in button[aria-label='Clear']").first.click()
    page.locator("#classify_in input[type=file]").set_input_files(str(fixtures_dir / "chelsea.jpg"))
    page.locator("#classify_run").click()
    page.wait_for_function("document.querySelector('#classify_text').innerText.match(/cat/i)")
    page.locator("#classify_plot .js-plotly-plot").wait_for()
    assert "efficientnet_lite0" in page.locator("#classify_text").inner_text()
    page.screenshot(path=str(shots / "gradio_classify.png"), full_page=True)

    # Digits: draw a 7 with the mouse, predictions and feature maps appear
    _tab(page, "Digits")
    page.locator("#digits_pad button[aria-label='Brush']").first.click()
    canvas = page.locator("#digits_pad canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + 0.3 * w, y0 + 0.25 * h)
    page.mouse.down()
    for t in np.linspace(0, 1, 12):
        page.mouse.move(x0 + (0.3 + 0.4 * t) * w, y0 + 0.25 * h)
    for t in np.linspace(0, 1, 16):
        page.mouse.move(x0 + (0.7 - 0.25 * t) * w, y0 + (0.25 + 0.55 * t) * h)
    page.mouse.up()
    page.locator("#digits_run").click()
    page.wait_for_function("document.querySelector('#digits_text').innerText.includes('lenet5')")
    assert "7" in page.locator("#digits_text").inner_text()
    page.wait_for_function("[...document.querySelectorAll('#digits_maps img')].filter(i => i.naturalWidth > 0)"
                           ".length >= 1")
    page.screenshot(path=str(shots / "gradio_digits.png"), full_page=True)

    # Segment: a model if one has weights, otherwise the clear "none yet" message
    _tab(page, "Segment")
    if page.locator("#segment_none").count():
        assert "No trained segmentation model" in page.locator("#segment_none").inner_text()
    else:
        page.locator("#segment_in input[type=file]").set_input_files(str(fixtures_dir / "coffee.jpg"))
        page.locator("#segment_run").click()
        page.wait_for_function("document.querySelector('#segment_text').innerText.includes(' ms')")
    page.screenshot(path=str(shots / "gradio_segment.png"), full_page=True)

    # Embeddings: the t-SNE appears; hovering a point shows its thumbnail
    _tab(page, "Embeddings")
    page.locator("#tsne_run").click()
    page.locator("#tsne_plot .js-plotly-plot").wait_for()
    page.wait_for_function("document.querySelector('#tsne_text').innerText.includes('misclassified')")
    page.wait_for_function("document.querySelector('#tsne_plot .js-plotly-plot')._cvzooHover === true")
    page.evaluate("""() => { const gd = document.querySelector('#tsne_plot .js-plotly-plot');
        const p = gd.data[0];
        gd.emit('plotly_hover', {points: [{customdata: p.customdata[0]}], event: {clientX: 300, clientY: 300}}); }""")
    assert page.locator("#cvzoo-thumb").is_visible()
    assert page.locator("#cvzoo-thumb").get_attribute("src").startswith("data:image/jpeg")
    page.screenshot(path=str(shots / "gradio_embeddings.png"), full_page=True)

    # Zoo: the registry table and a layer summary
    _tab(page, "Zoo")
    # the table counts every model's parameters once per process: slow on a busy 2-core machine
    page.locator("#zoo_table").get_by_text("alexnet").first.wait_for(timeout=180_000)
    page.screenshot(path=str(shots / "gradio_zoo.png"), full_page=True)
    page.close()


def _lab_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_gradio_lab_tabs(browser, gradio_url, fixtures_dir, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(60_000)
    page.goto(gradio_url)
    page.get_by_text("cvzoo").first.wait_for()
    _tab(page, "Lab")
    imgs = "[...document.querySelectorAll('{}')].filter(i => i.naturalWidth > 0).length >= {}"

    # Image basics: a text file is a clear message; a photo gives five panels, a histogram and four PNGs
    _lab_tab(page, "Image basics")
    page.locator("#lab_basics_in input[type=file]").set_input_files(str(fixtures_dir / "notes.txt"))
    page.locator("#lab_basics_run").click()
    page.get_by_text("is not an image file").first.wait_for()
    page.locator("#lab_basics_in button[aria-label='Clear']").first.click()
    page.locator("#lab_basics_in input[type=file]").set_input_files(str(fixtures_dir / "coffee.jpg"))
    page.locator("#lab_basics_run").click()
    page.wait_for_function("document.querySelector('#lab_basics_text').innerText.includes('Working image 600x400')")
    page.wait_for_function(imgs.format("#lab_basics_out img", 5))
    page.locator("#lab_basics_hist .js-plotly-plot").wait_for()
    assert page.locator("#lab_basics_files").inner_text().count(".png") >= 4
    page.screenshot(path=str(shots / "gradio_lab_basics.png"), full_page=True)

    # Inside a network: kernels and the layer table on load, then feature maps and Grad-CAM for the cat
    _lab_tab(page, "Inside a network")
    page.wait_for_function("document.querySelector('#lab_network_info').innerText.includes('First layer')",
                           timeout=180_000)
    page.wait_for_function(imgs.format("#lab_network_kernels img", 1))
    assert "[1, " in page.locator("#lab_network_summary").text_content()  # output shapes (CodeMirror shows a window)
    page.locator("#lab_network_in input[type=file]").set_input_files(str(fixtures_dir / "chelsea.jpg"))
    page.locator("#lab_network_run").click()
    page.wait_for_function("document.querySelector('#lab_network_text').innerText.includes('Grad-CAM at')")
    assert "cat" in page.locator("#lab_network_text").inner_text().lower()
    page.wait_for_function(imgs.format("#lab_network_cam img", 1))
    page.wait_for_function(imgs.format("#lab_network_maps img", 1))
    page.screenshot(path=str(shots / "gradio_lab_network.png"), full_page=True)

    # Augmentation: the course recipe is preselected; its rotation appears in the code
    _lab_tab(page, "Augmentation")
    page.locator("#lab_augment_in input[type=file]").set_input_files(str(fixtures_dir / "chelsea.jpg"))
    page.locator("#lab_augment_run").click()
    page.wait_for_function("document.querySelector('#lab_augment_text').innerText.includes('course_resnet18')")
    page.wait_for_function(imgs.format("#lab_augment_out img", 1))
    assert "RandomRotation" in page.locator("#lab_augment_code").inner_text()
    page.screenshot(path=str(shots / "gradio_lab_augment.png"), full_page=True)

    # Digit photo: seven panels (the steps) and both MNIST models read a 3
    _lab_tab(page, "Digit photo")
    page.locator("#lab_digit_in input[type=file]").set_input_files(str(fixtures_dir / "digit3.jpg"))
    page.locator("#lab_digit_run").click()
    page.wait_for_function("document.querySelector('#lab_digit_text').innerText.includes('mnist_cnn')")
    assert page.locator("#lab_digit_text").inner_text().count(": 3 (") == 2
    page.wait_for_function(imgs.format("#lab_digit_steps img", 7))
    page.screenshot(path=str(shots / "gradio_lab_digit.png"), full_page=True)

    # Ensemble: the members' and the average's top classes, or the clear "needs two models" message
    _lab_tab(page, "Ensemble")
    page.locator("#lab_ensemble_in input[type=file]").set_input_files(str(fixtures_dir / "chelsea.jpg"))
    page.locator("#lab_ensemble_run").click()
    page.wait_for_function("document.querySelector('#lab_ensemble_text').innerText.includes('ensemble (') || "
                           "document.body.innerText.includes('needs at least two trained CIFAR-10 models')")
    if "ensemble (" in page.locator("#lab_ensemble_text").inner_text():
        page.locator("#lab_ensemble_plot .js-plotly-plot").wait_for()
    else:  # fewer than two CIFAR-10 models with weights here: the message names them
        assert "cifar_speedrun" in page.get_by_text("needs at least two trained CIFAR-10").first.inner_text()
    page.screenshot(path=str(shots / "gradio_lab_ensemble.png"), full_page=True)
    page.close()


def test_streamlit_dashboard(browser, streamlit_url, shots):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(streamlit_url)
    page.get_by_text("cvzoo dashboard").first.wait_for()
    page.locator("[data-testid='stPlotlyChart']").first.wait_for()
    assert page.get_by_text("cifar_cnn_cifar10").count() >= 1
    page.screenshot(path=str(shots / "streamlit_curves.png"), full_page=True)
    page.get_by_role("tab", name="Confusion").click()
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for()
    page.screenshot(path=str(shots / "streamlit_confusion.png"), full_page=True)
    page.get_by_role("tab", name="Misclassified").click()
    page.locator("[data-testid='stImage'] img").first.wait_for()
    page.screenshot(path=str(shots / "streamlit_misclassified.png"), full_page=True)
    page.get_by_role("tab", name="pb-lite PR").click()
    page.get_by_text("pblite (ODS").first.wait_for(state="attached")
    page.screenshot(path=str(shots / "streamlit_pr.png"), full_page=True)
    page.get_by_role("tab", name="Experiments").click()
    if not os.environ.get("CVZOO_E2E_RUNS"):  # the fixture has no course run: the shipped figure or the message
        page.get_by_text("Plain vs residual").or_(page.get_by_text("No experiment runs yet")).first.wait_for(
            state="attached")
    page.close()
