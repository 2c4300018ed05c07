"""cvzoo's Gradio app: ``python -m demos.app`` serves it on http://127.0.0.1:7860.

This file only declares components, wires events (each with an explicit ``api_name``, so the
same calls work from ``gradio_client``) and launches; the work is done by the plain functions in
:mod:`demos.callbacks`. Environment: ``CVZOO_DEMO_HOST`` (127.0.0.1), ``CVZOO_DEMO_PORT`` (7860),
``CVZOO_DEMO_THREADS`` (torch threads per request, default 1), ``CVZOO_DATA`` (example images),
``CVZOO_RUNS``/``CVZOO_EMBEDDINGS`` (embeddings files).

Limits: uploads above ``MAX_UPLOAD_BYTES`` (20 MB) are refused by the server, images above
``MAX_IMAGE_PIXELS`` (40 MP) by the loader before decoding; the queue holds at most
``QUEUE_SIZE`` waiting requests and runs at most ``HEAVY_CONCURRENCY`` pb-lite/segmentation and
``LIGHT_CONCURRENCY`` classification requests at once; cached uploads and outputs are deleted
after an hour.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from demos.callbacks import classify as cls
from demos.callbacks import (
    common,
    digits,
    edges,
    embeddings,
    ensemble,
    lab_augment,
    lab_basics,
    lab_network,
    segment,
    zoo_browser,
)
from demos.callbacks.common import DemoError

log = logging.getLogger("cvzoo.demo")

QUEUE_SIZE = 64
LIGHT_CONCURRENCY = 4  # classify, digits, zoo: tens of milliseconds each
HEAVY_CONCURRENCY = 2  # pb-lite and segmentation share this many workers (one per core here)
DELETE_CACHE = (600, 3600)  # every 10 minutes, delete cached files older than an hour

UPLOAD_HINT = "PNG, JPEG, WebP, GIF, BMP or TIFF; at most 20 MB and 40 megapixels"

HOVER_JS = """
() => {
  // t-SNE: show the hovered point's thumbnail (customdata[4], a data URI) next to the cursor.
  const tip = document.createElement('img');
  tip.id = 'cvzoo-thumb';
  tip.style.cssText = 'position:fixed;z-index:10000;width:96px;height:96px;image-rendering:pixelated;' +
    'border:2px solid #333;background:#fff;pointer-events:none;display:none';
  document.body.appendChild(tip);
  const attach = () => {
    document.querySelectorAll('#tsne_plot .js-plotly-plot').forEach((gd) => {
      if (gd._cvzooHover || typeof gd.on !== 'function') return;
      gd._cvzooHover = true;
      gd.on('plotly_hover', (ev) => {
        const p = ev.points && ev.points[0];
        const uri = p && p.customdata && p.customdata[4];
        if (!uri) return;
        tip.src = uri;
        const e = ev.event || {};
        tip.style.left = ((e.clientX || 0) + 16) + 'px';
        tip.style.top = ((e.clientY || 0) + 16) + 'px';
        tip.style.display = 'block';
        tip.dataset.index = p.customdata[0];
      });
      gd.on('plotly_unhover', () => { tip.style.display = 'none'; });
    });
  };
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
  attach();
}
"""


def atomic_image_cache() -> None:
    """Make Gradio write cached output images atomically (temp file + rename), once per process.

    Gradio 6's ``processing_utils.save_pil_to_cache`` rewrites ``<cache>/<content hash>/image.webp``
    in place on every call. When two requests produce the same image (two users clicking the same
    example), one request's rewrite truncates the file while the other's client is downloading it:
    the load benchmark saw "peer closed connection ... received 0 bytes" on 3 of 172 requests. With
    a rename, a reader keeps the complete old copy; an existing copy (same hash, same bytes) is
    reused as is.
    """
    from gradio import processing_utils as pu

    from zoo.weights import atomic_write_bytes

    if getattr(pu.save_pil_to_cache, "_cvzoo_atomic", False):
        return

    def save_pil_to_cache(img: Any, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if not path.exists():
            atomic_write_bytes(path, data)
        return str(path)

    save_pil_to_cache._cvzoo_atomic = True  # type: ignore[attr-defined]
    pu.save_pil_to_cache = save_pil_to_cache


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a callback; a ``DemoError`` becomes a message in the UI, anything else a short one plus a log entry."""
    try:
        return fn(*args, **kwargs)
    except DemoError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("callback %s failed", getattr(fn, "__name__", fn))
        raise gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}). The app is still running; "
                       "try another image or setting.", print_exception=False) from None


# ---- adapters: Gradio values in, callback, Gradio values out ---------------------------------------------------

def run_edges(file: str | None, max_side: float, n_textons: float, max_radius: float, orientations: float,
              w_canny: float, show_maps: bool, preset: str = "default",
              progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    comparison, maps, png, text = _call(edges.edges, file, int(max_side), int(n_textons), int(max_radius),
                                        int(orientations), float(w_canny), bool(show_maps), progress=progress,
                                        preset=preset or "default")
    return comparison, gr.update(value=maps, visible=bool(show_maps)), png, text


def run_classify(file: str | None, models: list[str]) -> tuple[Any, ...]:
    preview = _call(common.read_image, file) if file else None
    fig, results, text = _call(cls.classify, file, models)
    return common.fit_size(preview, 512) if preview is not None else None, fig, results, text


def run_digits(drawing: Any, models: list[str]) -> tuple[Any, ...]:
    return _call(digits.digits, drawing, models)


def run_segment(file: str | None, model: str | None, opacity: float,
                progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    return _call(segment.segment, file, model, float(opacity), progress=progress)


def run_overlay(state: dict[str, Any] | None, opacity: float) -> Any:
    return segment.redraw(state, float(opacity))


def run_tsne(label: str | None, colour_by: str) -> tuple[Any, str]:
    files = embeddings.embedding_files()
    if not label or label not in files:
        raise gr.Error("No embeddings file is selected. Ship one, set CVZOO_EMBEDDINGS, or compute one below "
                       "(or run `python -m training embed RUN_DIR`).", print_exception=False)
    return _call(embeddings.tsne_figure, files[label], colour_by)


def run_generate(model: str | None, limit: float, progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008
    if not model:
        raise gr.Error("Pick a CIFAR-10 model with weights.", print_exception=False)
    progress(0.1, desc=f"features and t-SNE of {int(limit)} test images")
    path = _call(embeddings.generate, model, int(limit))
    files = embeddings.embedding_files()
    label = next((k for k, v in files.items() if v == path), None)
    return gr.update(choices=list(files), value=label)


def run_zoo_table(task: str, pretrained_only: bool) -> list[list[Any]]:
    return _call(zoo_browser.models_table, task, pretrained_only)


def run_zoo_details(name: str | None) -> tuple[str, str]:
    return _call(zoo_browser.model_details, name)


def run_lab_basics(file: str | None, kernel: str, custom: str, method: str, value: float, block: float, c: float,
                   gamma: float, pool_size: float, pool_mode: str) -> tuple[Any, ...]:
    return _call(lab_basics.image_basics, file, kernel, custom, method, float(value), int(block), float(c),
                 float(gamma), int(pool_size), pool_mode)


def run_lab_kernel_text(kernel: str, custom: str) -> str:
    return lab_basics.kernel_text(lab_basics.KERNELS[kernel]) if kernel in lab_basics.KERNELS else custom


def run_lab_model(name: str | None) -> tuple[Any, ...]:
    layers, layer, grid, caption, info, table = _call(lab_network.model_card, name)
    return gr.update(choices=layers, value=layer), grid, f"First layer: {caption}.\n\n{info}", table


def run_lab_network(file: str | None, name: str | None, layer: str | None) -> tuple[Any, ...]:
    grid, maps_caption, cam, cam_caption, text = _call(lab_network.inside_network, file, name, layer or None)
    return grid, cam, f"{text}\n\n- feature maps: {maps_caption}\n- {cam_caption}"


def run_lab_augment(file: str | None, recipe: str | None, source: str, index: float, n: float, seed: float,
                    model: str | None) -> tuple[Any, ...]:
    return _call(lab_augment.augment_preview, file, recipe, source, int(index or 0), int(n), int(seed or 0),
                 model or None)


def run_lab_recipe_models(recipe: str | None) -> Any:
    names = _call(lab_augment.recipe_models, recipe)
    return gr.update(choices=names, value=names[0])


def run_lab_digit_photo(file: str | None, models: list[str]) -> tuple[Any, ...]:
    steps, fig, _results, text = _call(digits.digit_photo, file, models)
    return steps, fig, text


def run_lab_ensemble(file: str | None) -> tuple[Any, ...]:
    fig, results, text = _call(cls.ensemble_members, file)
    return fig, results, text


def warm_up(jobs: list[Callable[[], Any]]) -> threading.Thread:
    """Run ``jobs`` one after another in a background thread, so that the first users do not wait for the
    registry table or a lab model's torchinfo summary (seconds each for the larger models).

    The thread is a daemon (it never keeps the server up), and at interpreter exit the job in progress is
    waited for and the rest skipped: a thread stopped inside a torch call aborts the whole process
    ("terminate called without an active exception", exit status 134)."""
    stop = threading.Event()

    def run() -> None:
        for job in jobs:
            if stop.is_set():
                return
            try:
                job()
            except Exception:  # a model that cannot be summarised says so when picked
                log.debug("warm-up job %r failed", job, exc_info=True)

    thread = threading.Thread(target=run, name="warm-up", daemon=True)

    def finish() -> None:
        stop.set()
        thread.join(timeout=120)

    atexit.register(finish)
    thread.start()
    return thread


# ---- the app -------------------------------------------------------------------------------------------------

def build() -> gr.Blocks:
    """Declare the app (no model is loaded until a request needs it)."""
    examples = list(common.example_images())
    classify_models = cls.classify_choices()
    mnist = digits.mnist_models()
    seg_models = segment.segmentation_models()
    emb_files = list(embeddings.embedding_files())
    cifar_models = ensemble.members()
    all_models = zoo_browser.zoo.list_models()
    net_models = lab_network.network_models()
    net_default = next((m for m in ("efficientnet_lite0", "lenet5") if m in net_models), None) or \
        (net_models[0] if net_models else None)
    recipes = lab_augment.augment_recipes()

    atomic_image_cache()
    with gr.Blocks(title="cvzoo: classic computer vision, measured", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# cvzoo\nClassic computer vision from one model zoo: pb-lite edges, LeNet to EfficientNet "
                    "classifiers, segmentation, embeddings. Everything runs on this machine, offline.")
        with gr.Tabs():
            with gr.Tab("Edges", id="edges"):
                with gr.Row():
                    with gr.Column(scale=1):
                        e_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath", elem_id="edges_in")
                        s = edges.SLIDERS
                        e_side = gr.Slider(*s["max_side"][:2], step=s["max_side"][2], value=s["max_side"][3],
                                           label="working size (longer side, px)")
                        e_tex = gr.Slider(*s["n_textons"][:2], step=s["n_textons"][2], value=s["n_textons"][3],
                                          label="textons (k-means clusters)")
                        e_rad = gr.Slider(*s["max_radius"][:2], step=s["max_radius"][2], value=s["max_radius"][3],
                                          label="largest half-disc radius (px)")
                        e_ori = gr.Slider(*s["orientations"][:2], step=s["orientations"][2],
                                          value=s["orientations"][3], label="half-disc orientations")
                        e_wc = gr.Slider(*s["w_canny"][:2], step=s["w_canny"][2], value=s["w_canny"][3],
                                         label="Canny weight (Sobel weight = 1 - this)")
                        e_preset = gr.Radio([("the assignment's formula", "default"),
                                             ("tuned on BSDS500 (better ODS, ~3x faster; ignores the Canny "
                                              "weight and textons)", "bsds")],
                                            value="default", label="pb-lite combination", elem_id="edges_preset")
                        e_maps = gr.Checkbox(label="show intermediate maps and gradients", value=False,
                                             elem_id="edges_maps")
                        e_btn = gr.Button("Detect edges", variant="primary", elem_id="edges_run")
                        if examples:
                            gr.Examples(examples=[[p] for p in examples], inputs=[e_file], label="examples")
                    with gr.Column(scale=2):
                        e_gallery = gr.Gallery(label="input, Sobel, Canny, pb-lite", columns=4, height="auto",
                                               format="png", elem_id="edges_out")
                        e_text = gr.Markdown(elem_id="edges_text")
                        e_png = gr.File(label="pb map (PNG, full size)", elem_id="edges_png")
                        e_inter = gr.Gallery(label="intermediate maps", columns=4, visible=False, format="png",
                                             elem_id="edges_maps_out")
                e_btn.click(run_edges, [e_file, e_side, e_tex, e_rad, e_ori, e_wc, e_maps, e_preset],
                            [e_gallery, e_inter, e_png, e_text], api_name="edges",
                            concurrency_id="heavy", concurrency_limit=HEAVY_CONCURRENCY)

            with gr.Tab("Classify", id="classify"):
                with gr.Row():
                    with gr.Column(scale=1):
                        c_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath", elem_id="classify_in")
                        preferred = [m for m in ("efficientnet_lite0", "cifar_speedrun") if m in classify_models]
                        c_models = gr.CheckboxGroup(classify_models, value=preferred or classify_models[:1],
                                                    label="models",
                                                    elem_id="classify_models")
                        if not classify_models:
                            gr.Markdown("No classifier has trained weights yet.")
                        c_btn = gr.Button("Classify", variant="primary", elem_id="classify_run")
                        if examples:
                            gr.Examples(examples=[[p] for p in examples], inputs=[c_file], label="examples")
                    with gr.Column(scale=2):
                        c_prev = gr.Image(label="input", interactive=False, height=240, format="jpeg",
                                          elem_id="classify_preview")
                        c_plot = gr.Plot(label="top-5 per model", elem_id="classify_plot")
                        c_text = gr.Markdown(elem_id="classify_text")
                        c_json = gr.JSON(label="results", visible=False)
                c_btn.click(run_classify, [c_file, c_models], [c_prev, c_plot, c_json, c_text], api_name="classify",
                            concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

            with gr.Tab("Digits", id="digits"):
                with gr.Row():
                    with gr.Column(scale=1):
                        d_pad = gr.Sketchpad(label="draw a digit", type="numpy", image_mode="RGBA",
                                             canvas_size=(280, 280), elem_id="digits_pad")
                        d_models = gr.CheckboxGroup(mnist, value=mnist, label="MNIST models", elem_id="digits_models")
                        if not mnist:
                            gr.Markdown("No MNIST model has trained weights yet (lenet5, mnist_cnn).")
                        d_btn = gr.Button("Predict", variant="primary", elem_id="digits_run")
                    with gr.Column(scale=2):
                        d_pre = gr.Image(label="preprocessed (28x28: threshold, invert, centre)", interactive=False,
                                         height=140, format="png", elem_id="digits_pre")
                        d_plot = gr.Plot(label="predictions", elem_id="digits_plot")
                        d_text = gr.Markdown(elem_id="digits_text")
                        d_maps = gr.Gallery(label="first layers' feature maps", columns=2, format="png",
                                            elem_id="digits_maps")
                d_btn.click(run_digits, [d_pad, d_models], [d_pre, d_plot, d_maps, d_text], api_name="digits",
                            concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

            with gr.Tab("Segment", id="segment"):
                with gr.Row():
                    with gr.Column(scale=1):
                        g_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath", elem_id="segment_in")
                        g_model = gr.Dropdown(seg_models, value=seg_models[0] if seg_models else None,
                                              label="segmentation model", elem_id="segment_model")
                        if not seg_models:
                            gr.Markdown("**No trained segmentation model is available yet**: `fcn8s_effnet_lite0` "
                                        "(CamVid) appears here once its weights are published.",
                                        elem_id="segment_none")
                        g_opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="mask opacity",
                                              elem_id="segment_opacity")
                        g_btn = gr.Button("Segment", variant="primary", elem_id="segment_run")
                        if examples:
                            gr.Examples(examples=[[p] for p in examples], inputs=[g_file], label="examples")
                    with gr.Column(scale=2):
                        g_out = gr.Image(label="mask over the photo", interactive=False, format="png",
                                         elem_id="segment_out")
                        g_legend = gr.HTML(elem_id="segment_legend")
                        g_plot = gr.Plot(label="pixel share per class", elem_id="segment_plot")
                        g_text = gr.Markdown(elem_id="segment_text")
                        g_state = gr.State()
                g_btn.click(run_segment, [g_file, g_model, g_opacity], [g_out, g_legend, g_plot, g_state, g_text],
                            api_name="segment", concurrency_id="heavy", concurrency_limit=HEAVY_CONCURRENCY)
                g_opacity.release(run_overlay, [g_state, g_opacity], [g_out], api_name="segment_opacity",
                                  concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

            with gr.Tab("Embeddings", id="embeddings"):
                with gr.Row():
                    m_file = gr.Dropdown(emb_files, value=emb_files[0] if emb_files else None,
                                         label="embeddings file (model / split)", elem_id="tsne_file", scale=3)
                    m_colour = gr.Radio(["true", "predicted"], value="true", label="colour by", elem_id="tsne_colour",
                                        scale=1)
                    m_btn = gr.Button("Show", variant="primary", elem_id="tsne_run", scale=1)
                m_plot = gr.Plot(label="t-SNE (hover a point to see its image)", elem_id="tsne_plot")
                m_text = gr.Markdown(elem_id="tsne_text")
                with gr.Accordion("compute embeddings for a trained CIFAR-10 model", open=not emb_files):
                    with gr.Row():
                        m_model = gr.Dropdown(cifar_models, value=cifar_models[0] if cifar_models else None,
                                              label="model with weights", elem_id="tsne_gen_model")
                        m_limit = gr.Slider(200, 10000, value=1000, step=100, label="test images")
                        m_gen = gr.Button("Compute", elem_id="tsne_gen")
                    if not cifar_models:
                        gr.Markdown("No CIFAR-10 model has weights yet; `python -m training embed RUN_DIR` writes "
                                    "an embeddings file from a run folder.")
                m_btn.click(run_tsne, [m_file, m_colour], [m_plot, m_text], api_name="tsne",
                            concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)
                for trig in (m_colour.change, m_file.change):
                    trig(run_tsne, [m_file, m_colour], [m_plot, m_text], api_name=False,
                         concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)
                m_gen.click(run_generate, [m_model, m_limit], [m_file], api_name="tsne_generate",
                            concurrency_id="heavy", concurrency_limit=1)

            with gr.Tab("Zoo", id="zoo"):
                with gr.Row():
                    z_task = gr.Radio(["all", "classification", "segmentation"], value="all", label="task")
                    z_pre = gr.Checkbox(label="with weights only", value=False)
                z_table = gr.Dataframe(headers=zoo_browser.COLUMNS, interactive=False, wrap=True,
                                       elem_id="zoo_table")
                with gr.Row():
                    z_model = gr.Dropdown(all_models, value=None, label="model", elem_id="zoo_model")
                    z_btn = gr.Button("Show layers", elem_id="zoo_run")
                z_info = gr.Markdown(elem_id="zoo_info")
                z_sum = gr.Code(label="layer summary (torchinfo)", language=None, elem_id="zoo_summary")
                for trig in (z_task.change, z_pre.change):
                    trig(run_zoo_table, [z_task, z_pre], [z_table], api_name=False)
                z_btn.click(run_zoo_details, [z_model], [z_info, z_sum], api_name="zoo_model",
                            concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

            with gr.Tab("Lab", id="lab"):
                gr.Markdown("The course's lab (notebooks \"Images and CNNs\" and \"CNN 2\"), on your images. "
                            f"Uploads are downscaled to at most {lab_basics.MAX_SIDE} px on the longer side.",
                            elem_id="lab_intro")
                with gr.Tabs():
                    with gr.Tab("Image basics", id="lab_basics"):
                        with gr.Row():
                            with gr.Column(scale=1):
                                b_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath",
                                                 elem_id="lab_basics_in")
                                b_kernel = gr.Dropdown(list(lab_basics.KERNEL_CHOICES), value="sharpen", label="kernel",
                                                       elem_id="lab_basics_kernel")
                                b_custom = gr.Textbox(lab_basics.kernel_text(lab_basics.KERNELS["sharpen"]), lines=3,
                                                      label=f"kernel weights (rows: new lines or ';'; numbers: spaces "
                                                            f"or commas; odd size up to {lab_basics.MAX_KERNEL}x"
                                                            f"{lab_basics.MAX_KERNEL}; edit and pick 'custom')",
                                                      elem_id="lab_basics_custom")
                                b_method = gr.Radio(list(lab_basics.THRESHOLDS), value="Otsu", label="threshold",
                                                    elem_id="lab_basics_method")
                                with gr.Row():
                                    b_value = gr.Slider(0, 255, value=127, step=1, label="fixed threshold",
                                                        elem_id="lab_basics_value")
                                    b_block = gr.Slider(3, 101, value=31, step=2, label="adaptive block (px)",
                                                        elem_id="lab_basics_block")
                                    b_c = gr.Slider(-20, 20, value=5, step=1, label="adaptive C",
                                                    elem_id="lab_basics_c")
                                b_gamma = gr.Slider(0.1, 3, value=0.5, step=0.05, label="gamma (< 1 brightens)",
                                                    elem_id="lab_basics_gamma")
                                with gr.Row():
                                    b_pool = gr.Slider(2, 32, value=8, step=1, label="pooling size (window = stride)",
                                                       elem_id="lab_basics_pool")
                                    b_pmode = gr.Radio(list(lab_basics.POOLS), value="max", label="pooling",
                                                       elem_id="lab_basics_pool_mode")
                                b_btn = gr.Button("Apply", variant="primary", elem_id="lab_basics_run")
                                if examples:
                                    gr.Examples(examples=[[p] for p in examples], inputs=[b_file], label="examples")
                            with gr.Column(scale=2):
                                b_gallery = gr.Gallery(label="input, kernel, threshold, gamma, pooling", columns=5,
                                                       height="auto", format="png", elem_id="lab_basics_out")
                                b_hist = gr.Plot(label="grey-level histogram", elem_id="lab_basics_hist")
                                b_files = gr.File(label="results (PNG)", file_count="multiple",
                                                  elem_id="lab_basics_files")
                                b_text = gr.Markdown(elem_id="lab_basics_text")
                        b_kernel.change(run_lab_kernel_text, [b_kernel, b_custom], [b_custom], api_name=False,
                                        concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)
                        b_btn.click(run_lab_basics, [b_file, b_kernel, b_custom, b_method, b_value, b_block, b_c,
                                                     b_gamma, b_pool, b_pmode], [b_gallery, b_hist, b_files, b_text],
                                    api_name="lab_basics", concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

                    with gr.Tab("Inside a network", id="lab_network"):
                        with gr.Row():
                            with gr.Column(scale=1):
                                n_model = gr.Dropdown(net_models, value=net_default, label="model with weights",
                                                      elem_id="lab_network_model")
                                n_layer = gr.Dropdown([], value=None, label="layer for feature maps",
                                                      allow_custom_value=True, elem_id="lab_network_layer")
                                n_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath",
                                                 elem_id="lab_network_in")
                                n_btn = gr.Button("Look inside", variant="primary", elem_id="lab_network_run")
                                if examples:
                                    gr.Examples(examples=[[p] for p in examples], inputs=[n_file], label="examples")
                                n_kernels = gr.Image(label="first-layer kernels", interactive=False, format="png",
                                                     elem_id="lab_network_kernels")
                            with gr.Column(scale=2):
                                n_text = gr.Markdown(elem_id="lab_network_text")
                                with gr.Row():
                                    n_maps = gr.Image(label="feature maps of the chosen layer", interactive=False,
                                                      format="png", elem_id="lab_network_maps")
                                    n_cam = gr.Image(label="Grad-CAM (Captum) for the predicted class",
                                                     interactive=False, format="png", elem_id="lab_network_cam")
                                n_info = gr.Markdown(elem_id="lab_network_info")
                                n_sum = gr.Code(label="layer summary with output shapes (torchinfo)", language=None,
                                                elem_id="lab_network_summary")
                        n_model.change(run_lab_model, [n_model], [n_layer, n_kernels, n_info, n_sum],
                                       api_name="lab_model", concurrency_id="light",
                                       concurrency_limit=LIGHT_CONCURRENCY)
                        n_btn.click(run_lab_network, [n_file, n_model, n_layer], [n_maps, n_cam, n_text],
                                    api_name="lab_network", concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)

                    with gr.Tab("Augmentation", id="lab_augment"):
                        with gr.Row():
                            with gr.Column(scale=1):
                                a_recipe = gr.Dropdown(recipes, value=recipes[0] if recipes else None,
                                                       label="training recipe (training/recipes.py)",
                                                       elem_id="lab_augment_recipe")
                                a_source = gr.Radio(["upload", "data set"], value="upload", label="image",
                                                    elem_id="lab_augment_source")
                                a_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath",
                                                 elem_id="lab_augment_in")
                                a_index = gr.Number(0, precision=0, minimum=0, label="data set test image number",
                                                    elem_id="lab_augment_index")
                                with gr.Row():
                                    a_n = gr.Slider(4, lab_augment.MAX_N, value=15, step=1, label="draws",
                                                    elem_id="lab_augment_n")
                                    a_seed = gr.Number(0, precision=0, label="seed", elem_id="lab_augment_seed")
                                a_model = gr.Dropdown(lab_augment.recipe_models(recipes[0]) if recipes else [],
                                                      label="network (a recipe shared by several)",
                                                      elem_id="lab_augment_model")
                                a_btn = gr.Button("Preview", variant="primary", elem_id="lab_augment_run")
                                if examples:
                                    gr.Examples(examples=[[p] for p in examples], inputs=[a_file], label="examples")
                            with gr.Column(scale=2):
                                a_grid = gr.Image(label="what the network is trained on", interactive=False,
                                                  format="png", elem_id="lab_augment_out")
                                a_text = gr.Markdown(elem_id="lab_augment_text")
                                a_code = gr.Code(label="the recipe's transforms", language="python",
                                                 elem_id="lab_augment_code")
                        a_recipe.change(run_lab_recipe_models, [a_recipe], [a_model], api_name=False)
                        a_btn.click(run_lab_augment, [a_file, a_recipe, a_source, a_index, a_n, a_seed, a_model],
                                    [a_grid, a_code, a_text], api_name="lab_augment", concurrency_id="light",
                                    concurrency_limit=LIGHT_CONCURRENCY)

                    with gr.Tab("Digit photo", id="lab_digit"):
                        with gr.Row():
                            with gr.Column(scale=1):
                                p_file = gr.File(label=f"Photo of a handwritten digit ({UPLOAD_HINT})", type="filepath",
                                                 elem_id="lab_digit_in")
                                p_models = gr.CheckboxGroup(mnist, value=mnist, label="MNIST models",
                                                            elem_id="lab_digit_models")
                                p_btn = gr.Button("Read the digit", variant="primary", elem_id="lab_digit_run")
                            with gr.Column(scale=2):
                                p_steps = gr.Gallery(label="each step: grayscale, Otsu, invert, crop, resize, "
                                                     "28x28, normalised", columns=7, height="auto", format="png",
                                                     elem_id="lab_digit_steps")
                                p_plot = gr.Plot(label="predictions", elem_id="lab_digit_plot")
                                p_text = gr.Markdown(elem_id="lab_digit_text")
                        p_btn.click(run_lab_digit_photo, [p_file, p_models], [p_steps, p_plot, p_text],
                                    api_name="lab_digit_photo", concurrency_id="light",
                                    concurrency_limit=LIGHT_CONCURRENCY)

                    with gr.Tab("Ensemble", id="lab_ensemble"):
                        with gr.Row():
                            with gr.Column(scale=1):
                                s_file = gr.File(label=f"Image ({UPLOAD_HINT})", type="filepath",
                                                 elem_id="lab_ensemble_in")
                                gr.Markdown(f"Members: the CIFAR-10 classifiers with weights "
                                            f"({', '.join(cifar_models) or 'none yet'}), averaged by "
                                            "`zoo.models.ensemble.Ensemble`.", elem_id="lab_ensemble_members")
                                s_btn = gr.Button("Compare", variant="primary", elem_id="lab_ensemble_run")
                                if examples:
                                    gr.Examples(examples=[[p] for p in examples], inputs=[s_file], label="examples")
                            with gr.Column(scale=2):
                                s_plot = gr.Plot(label="top-3 per member and the ensemble's average",
                                                 elem_id="lab_ensemble_plot")
                                s_text = gr.Markdown(elem_id="lab_ensemble_text")
                                s_json = gr.JSON(label="probabilities", visible=False, elem_id="lab_ensemble_json")
                        s_btn.click(run_lab_ensemble, [s_file], [s_plot, s_json, s_text], api_name="lab_ensemble",
                                    concurrency_id="light", concurrency_limit=LIGHT_CONCURRENCY)
        # The registry table counts every model's parameters (seconds): filled after the page loads,
        # from a cache that a background thread starts warming when the app is built.
        demo.load(run_zoo_table, [z_task, z_pre], [z_table], api_name=False)
        if net_default:
            demo.load(run_lab_model, [n_model], [n_layer, n_kernels, n_info, n_sum], api_name=False)
    warm_up([zoo_browser.models_table, *(partial(lab_network.model_card, name) for name in net_models)])
    demo.queue(default_concurrency_limit=LIGHT_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch_kwargs() -> dict[str, Any]:
    """How the app is served (host and port from the environment; explicit limits)."""
    allowed = [str(common.data_root() / "pblite-hw0" / "Images")]
    return {
        "server_name": os.environ.get("CVZOO_DEMO_HOST", "127.0.0.1"),
        "server_port": int(os.environ.get("CVZOO_DEMO_PORT", "7860")),
        "max_file_size": common.MAX_UPLOAD_BYTES,
        "allowed_paths": allowed,
        "show_error": True,
        "ssr_mode": False,
        "js": HOVER_JS,
    }


def set_torch_threads() -> int:
    """Torch's intra-op threads for serving: ``$CVZOO_DEMO_THREADS``, default 1. The app runs several
    requests at once (up to ``LIGHT_CONCURRENCY + HEAVY_CONCURRENCY``); with 2 threads each they
    oversubscribe a 2-core machine, and one EfficientNet-Lite0 pass went from 50 ms to 2.2 s under load."""
    import torch

    n = int(os.environ.get("CVZOO_DEMO_THREADS", "1"))
    torch.set_num_threads(n)
    return n


def main() -> None:
    set_torch_threads()
    logging.basicConfig(level=logging.INFO)
    build().launch(**launch_kwargs())


if __name__ == "__main__":
    main()
