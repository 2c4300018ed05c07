"""cvzoo's Streamlit dashboard for training runs on disk.

    streamlit run demos/dashboard.py --server.address 127.0.0.1 --browser.gatherUsageStats false \
        --server.fileWatcherType none

Pick run folders (under ``$CVZOO_RUNS``, default ``./runs``) and compare loss/accuracy curves,
confusion matrices, per-class accuracy, misclassified test images and the t-SNE of their
embeddings; browse pb-lite's BSDS precision-recall curves, the course's runs beside ours
(Experiments) and the model zoo. With no runs it
says how to make one. Heavy loads are cached with ``st.cache_data`` keyed by strings (paths and
modification times), never by torch objects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run demos/dashboard.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demos.callbacks import embeddings as emb_cb
from demos.callbacks import runs as runs_cb
from demos.callbacks import zoo_browser
from demos.callbacks.common import DemoError
from zoo.paths import runs_root


def _stamp(path: str) -> float:
    """A cache key part that changes when a run is written to."""
    p = Path(path)
    try:
        return max([p.stat().st_mtime] + [q.stat().st_mtime for q in p.iterdir()])
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, ttl=30)
def find_runs(root: str) -> list[str]:
    """The run folders under ``root``, then the training records shipped with the package's weights."""
    return runs_cb.find_runs(root) + runs_cb.shipped_records()


@st.cache_data(show_spinner=False, ttl=30)
def find_pb(root: str) -> list[str]:
    """pb-lite benchmarks under ``root``, then the one shipped with the demos."""
    return runs_cb.find_pb_results(root) + runs_cb.shipped_pb_results()


@st.cache_data(show_spinner="Reading runs ...", max_entries=32)
def curves(runs: tuple[str, ...], root: str, stamps: tuple[float, ...]):
    return runs_cb.curves_figure(list(runs), root), runs_cb.summary_rows(list(runs), root)


@st.cache_data(show_spinner=False, max_entries=64)
def evaluation(run: str, split: str, stamp: float) -> dict:
    return runs_cb.read_eval(run, split)


@st.cache_data(show_spinner="Loading embeddings ...", max_entries=8)
def tsne(path: str, colour_by: str, stamp: float):
    return emb_cb.tsne_figure(path, colour_by, thumbnails=False)


@st.cache_data(show_spinner=False, max_entries=8)
def mistakes(path: str, stamp: float, n: int):
    return emb_cb.misclassified(path, n)


@st.cache_data(show_spinner="Reading the registry ...")
def zoo_table(task: str, pretrained_only: bool) -> list[list]:
    return zoo_browser.models_table(task, pretrained_only)


@st.cache_resource(show_spinner="Building the layer table ...", max_entries=16)
def zoo_details(name: str) -> tuple[str, str]:
    return zoo_browser.model_details(name)


def pick_runs(root: str) -> list[str]:
    """Sidebar: the runs folder and the runs to compare (returns the chosen run folders)."""
    runs = find_runs(root)
    labels = {runs_cb.label(r, root): r for r in runs}
    shipped = set(runs_cb.shipped_records())
    default = [k for k, r in labels.items() if r not in shipped][:3] or list(labels)[:3]  # the user's runs first
    chosen = st.sidebar.multiselect("runs", list(labels), default=default, key="runs")
    return [labels[c] for c in chosen]


def show_curves(runs: list[str], root: str) -> None:
    fig, rows = curves(tuple(runs), root, tuple(_stamp(r) for r in runs))
    st.dataframe(rows, hide_index=True, width="stretch")
    st.plotly_chart(fig, width="stretch", key="curves")


def show_confusion(runs: list[str], root: str) -> None:
    cols = st.columns(min(2, len(runs)) or 1)
    for i, r in enumerate(runs):
        with cols[i % len(cols)]:
            splits = runs_cb.eval_splits(r)
            if not splits:
                st.info(f"{runs_cb.label(r, root)}: not evaluated yet; run `python -m training eval {r}`.")
                continue
            split = splits[0] if len(splits) == 1 else st.selectbox("split", splits, key=f"split_{r}")
            ev = evaluation(r, split, _stamp(str(Path(r) / "eval" / split)))
            if "confusion" not in ev:
                st.info(f"{runs_cb.label(r, root)}: no confusion matrix in eval/{split}.")
                continue
            names = runs_cb.class_names_of(r, ev, len(ev["confusion"]))
            title = f"{runs_cb.label(r, root)} ({split}, {100 * ev.get('accuracy', 0):.2f}%)"
            st.plotly_chart(runs_cb.confusion_figure(ev["confusion"], names, title), width="stretch",
                            key=f"confusion_{r}")


def show_per_class(runs: list[str], root: str) -> None:
    splits = sorted({s for r in runs for s in runs_cb.eval_splits(r)})
    if not splits:
        st.info("None of the chosen runs is evaluated yet: `python -m training eval RUN_DIR`.")
        return
    split = st.selectbox("split", splits, key="per_class_split")
    st.plotly_chart(runs_cb.per_class_figure(runs, split, root), width="stretch", key="per_class")


def _embedding_choice(runs: list[str], root: str, key: str) -> str | None:
    files = {f"{runs_cb.label(r, root)}/{Path(p).name}": p for r in runs for p in runs_cb.run_embeddings(r)}
    files.update({k: v for k, v in emb_cb.embedding_files().items() if v not in files.values()})
    if not files:
        st.info("No embeddings file yet: `python -m training embed RUN_DIR` writes RUN_DIR/embeddings_test.npz "
                "(features, t-SNE, predictions and thumbnails).")
        return None
    return files[st.selectbox("embeddings", list(files), key=key)]


def show_misclassified(runs: list[str], root: str) -> None:
    for r in runs:
        items = runs_cb.record_mistakes(r)
        if items:
            st.caption(f"{runs_cb.label(r, root)}: its most confident test mistakes, true class → predicted "
                       "(confidence).")
            st.image([im for im, _ in items], caption=[c for _, c in items], width=96)
    path = _embedding_choice(runs, root, "mis_file")
    if not path:
        return
    n = st.slider("images", 8, 96, 32, step=8, key="mis_n")
    items = mistakes(path, os.path.getmtime(path), n)
    if not items:
        st.success("No misclassified image in this file.")
        return
    st.caption("The most confident mistakes: true class → predicted (confidence).")
    st.image([im for im, _ in items], caption=[c for _, c in items], width=96)


def show_tsne(runs: list[str], root: str) -> None:
    path = _embedding_choice(runs, root, "tsne_file")
    if not path:
        return
    colour_by = st.radio("colour by", ["true", "predicted"], horizontal=True, key="tsne_colour")
    try:
        fig, text = tsne(path, colour_by, os.path.getmtime(path))
    except DemoError as exc:
        st.error(str(exc))
        return
    st.caption(text.replace("Hover a point to see its image.", "Select points (box or lasso) to see their images."))
    event = st.plotly_chart(fig, width="stretch", key="tsne", on_select="rerun", selection_mode=("box", "lasso"))
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", []) or []
    idx = [int(p["customdata"][0]) for p in points if p.get("customdata")][:64]
    if idx:
        e = emb_cb.load(path)
        st.image([e.thumbnails[i] for i in idx], width=64,
                 caption=[f"{e.classes[e.labels[i]]}→{e.classes[e.predictions[i]]}" for i in idx])


def show_pb(root: str) -> None:
    paths = find_pb(root)
    if not paths:
        st.info(f"No pb-lite benchmark under `{root}`: `python -m pblite bench-bsds --split val --limit 10 "
                f"--thresholds 19 --out {root}/pblite-bsds` writes one (results.json with PR curves).")
        return
    labels = {runs_cb.label(Path(p).parent, root): p for p in paths}
    chosen = st.multiselect("benchmarks", list(labels), default=list(labels)[:2], key="pb_runs")
    fig, table = runs_cb.pr_figure([labels[c] for c in chosen], root)
    st.plotly_chart(fig, width="stretch", key="pr")
    st.dataframe(table, hide_index=True, width="stretch")


def show_experiments(root: str) -> None:
    """The course experiments' tables (``python -m training experiment``) with their rows' curves, then
    the course's runs beside ours (same model and data), table then curves side by side."""
    he = runs_cb.he_records()
    if he:
        st.subheader("Plain vs residual (He et al. 2016, the lecture's figure), from the shipped weights' records")
        st.caption("The same recipe (he_cifar10_cpu) for each network; their model cards give the budget.")
        st.plotly_chart(runs_cb.train_error_figure(he), width="stretch", key="he_figure")
    experiments = runs_cb.find_experiments(root)
    for path in experiments:
        header, rows, folders = runs_cb.experiment_table(path)
        st.subheader(f"{header['experiment']}: {header['question']}")
        st.caption(f"{header['notes']} Budget per row: {header['budget_epochs']} epochs over "
                   f"{header['train_limit'] or 'all'} training images, {header['test_limit'] or 'all'} test images "
                   f"of {header['data']}. Accuracies and majority-class shares in %.")
        st.dataframe(rows, hide_index=True, width="stretch")
        if folders:
            fig, _ = curves(tuple(folders), root, tuple(_stamp(r) for r in folders))
            st.plotly_chart(fig, width="stretch", key=f"experiment_{header['experiment']}")
    course, ours = runs_cb.experiment_runs(root)
    if not course:
        if not experiments and not he:
            st.info(runs_cb.NO_EXPERIMENTS.format(root=root))
        return
    st.caption("Course side: runs whose recipe's name contains \"course\"; ours: the other runs of the same model "
               "and data. \"course reported\": the accuracy the course material printed.")
    st.dataframe(runs_cb.experiment_rows(course, ours, root), hide_index=True, width="stretch")
    left, right = st.columns(2)
    for col, side, runs in ((left, "course", course), (right, "ours", ours)):
        with col:
            st.subheader(f"{side} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
            if runs:
                fig, _ = curves(tuple(runs), root, tuple(_stamp(r) for r in runs))
                st.plotly_chart(fig, width="stretch", key=f"experiments_{side}")
            else:
                st.info("No run of ours for these models yet: `python -m training fit MODEL --data DATA`.")


def show_zoo() -> None:
    if not st.toggle("show the model registry (builds every model once to count parameters: seconds the first "
                     "time)", key="zoo_on"):
        return
    c1, c2 = st.columns([3, 1])
    task = c1.radio("task", ["all", "classification", "segmentation"], horizontal=True, key="zoo_task")
    pre = c2.checkbox("with weights only", key="zoo_pre")
    rows = zoo_table(task, pre)
    st.dataframe([dict(zip(zoo_browser.COLUMNS, r, strict=True)) for r in rows], hide_index=True, width="stretch")
    name = st.selectbox("layer summary of", [r[0] for r in rows], index=None, key="zoo_model")
    if name:
        info, table = zoo_details(name)
        st.markdown(info)
        st.code(table, language=None)


def main() -> None:
    st.set_page_config(page_title="cvzoo dashboard", layout="wide")
    st.title("cvzoo dashboard")
    root = st.sidebar.text_input("runs folder", value=str(runs_root()), key="root")
    runs = pick_runs(root)
    tabs = st.tabs(["Curves", "Confusion", "Per class", "Misclassified", "t-SNE", "pb-lite PR", "Experiments", "Zoo"])
    with tabs[0]:
        if not find_runs(root):
            st.info(runs_cb.HOW_TO_TRAIN.format(root=root))
        elif not runs:
            st.info("Pick one or more runs in the sidebar.")
        else:
            show_curves(runs, root)
    with tabs[1]:
        if runs:
            show_confusion(runs, root)
        else:
            st.info("Pick runs to see their confusion matrices.")
    with tabs[2]:
        if runs:
            show_per_class(runs, root)
        else:
            st.info("Pick runs to compare per-class accuracy.")
    with tabs[3]:
        show_misclassified(runs, root)
    with tabs[4]:
        show_tsne(runs, root)
    with tabs[5]:
        show_pb(root)
    with tabs[6]:
        show_experiments(root)
    with tabs[7]:
        show_zoo()


if __name__ == "__main__":
    main()
