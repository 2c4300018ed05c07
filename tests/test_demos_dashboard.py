"""The Streamlit dashboard, run headlessly with ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zoo
from tests.test_demos_callbacks import make_run, write_embeddings

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

DASHBOARD = str(Path(__file__).resolve().parents[1] / "demos" / "dashboard.py")


def _app(root: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("CVZOO_RUNS", str(root))
    monkeypatch.setenv("CVZOO_EMBEDDINGS", str(root / "no-such-folder"))
    return AppTest.from_file(DASHBOARD, default_timeout=120)


def test_fresh_clone_shows_the_shipped_training_records(tmp_path, monkeypatch):
    """With no runs of one's own, the weights' shipped records are the runs: curves, confusion matrices,
    per-class accuracy and their most confident mistakes, with no training."""
    from demos.callbacks import runs as runs_cb

    records = runs_cb.shipped_records()
    assert any(r.endswith("cifar_speedrun.cifar10/record") for r in records)
    at = _app(tmp_path / "empty", monkeypatch).run()
    assert not at.exception
    chosen = at.multiselect(key="runs").value
    assert len(chosen) == min(3, len(records)) and all(c.endswith("(shipped)") for c in chosen)
    infos = " ".join(i.value for i in at.info)
    # every tab has real content: the shipped pb-lite benchmark, He et al.'s figure from the shipped records
    assert "No training runs found" not in infos and "No pb-lite benchmark" not in infos
    assert "No experiment runs yet" not in infos and "No embeddings file yet" not in infos
    assert any(s.value.startswith("Plain vs residual") for s in at.subheader)
    summary = at.dataframe[0].value
    assert all(e > 0 for e in summary["epochs"])
    for run, accuracy in zip(summary["run"], summary["eval acc"], strict=True):  # each record is its weight's
        name, tag = run.removesuffix(" (shipped)").split(".")
        declared = next(w for w in zoo.get_spec(name).weights if w.tag == tag).metrics["test_accuracy"]
        assert abs(accuracy - declared) <= 0.002, run  # the record's fp32 evaluation, the card's fp16 file
    assert len(at.get("image")) == len(chosen) + 1  # each record's mistakes, then the shipped embeddings'


def test_no_runs_says_how_to_make_one(tmp_path, monkeypatch):
    from demos.callbacks import runs as runs_cb

    for shipped in ("shipped_records", "shipped_pb_results"):
        monkeypatch.setattr(runs_cb, shipped, list)
    monkeypatch.setattr(runs_cb, "he_records", dict)
    at = _app(tmp_path / "empty", monkeypatch).run()
    assert not at.exception
    text = " ".join(i.value for i in at.info)
    assert "No training runs found" in text and "python -m training fit" in text
    assert "python -m pblite bench-bsds" in text  # the PR tab says how to make a benchmark


def test_runs_curves_confusion_gallery_tsne_pr(tmp_path, monkeypatch):
    from demos.callbacks import runs as runs_cb

    monkeypatch.setattr(runs_cb, "he_records", dict)  # the figure from shipped records: another test
    a = make_run(tmp_path, "cifar_a")
    make_run(tmp_path, "cifar_b", epochs=5, evaluated=False)
    write_embeddings(a / "embeddings_test.npz")
    pb = tmp_path / "pblite-bsds"
    pb.mkdir()
    curve = {"recall": [0.9, 0.5], "precision": [0.4, 0.7]}
    (pb / "results.json").write_text(json.dumps({"results": {"pblite": {
        "ODS": 0.6, "OIS": 0.6, "AP": 0.5, "ODS_recall": 0.6, "ODS_precision": 0.6, "pr_curve": curve}}}))
    at = _app(tmp_path, monkeypatch).run()
    assert not at.exception
    assert at.multiselect(key="runs").value == ["cifar_a", "cifar_b"]
    charts = at.get("plotly_chart")
    # curves, one confusion matrix (cifar_b is not evaluated), per class, t-SNE, PR
    assert len(charts) == 5
    infos = " ".join(i.value for i in at.info)
    assert "cifar_b: not evaluated yet" in infos
    assert len(at.get("image")) >= 1  # the misclassified gallery
    summary = at.dataframe[0].value
    assert list(summary["run"]) == ["cifar_a", "cifar_b"] and summary["epochs"].tolist() == [3, 5]

    at.multiselect(key="runs").set_value(["cifar_b"]).run()
    assert not at.exception
    at.radio(key="tsne_colour").set_value("predicted").run()
    assert not at.exception


def test_zoo_browser_layer_summary(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch).run()
    at.toggle(key="zoo_on").set_value(True).run()
    assert not at.exception
    import zoo

    assert len(at.dataframe[-1].value) == len(zoo.list_models())
    at.selectbox(key="zoo_model").set_value("lenet5").run()
    assert not at.exception
    assert any("Total params" in c.value for c in at.code)
    at.radio(key="zoo_task").set_value("segmentation").run()
    assert all(r == "segmentation" for r in at.dataframe[-1].value["task"])


def test_experiments_course_beside_ours(tmp_path, monkeypatch):
    from demos.callbacks import runs as runs_cb

    with monkeypatch.context() as m:
        m.setattr(runs_cb, "he_records", dict)  # no shipped records of He et al.'s networks
        at = _app(tmp_path / "empty", monkeypatch).run()
    assert "No experiment runs yet" in " ".join(i.value for i in at.info)
    course = make_run(tmp_path / "runs", "course")
    cfg = json.loads((course / "config.json").read_text())
    (course / "config.json").write_text(json.dumps(cfg | {"recipe": "course"}))
    make_run(tmp_path / "runs", "ours", epochs=5)
    at = _app(tmp_path / "runs", monkeypatch).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "side" in d.value.columns)
    assert list(table["side"]) == ["course", "ours"] and list(table["run"]) == ["course", "ours"]
    sides = [s.value for s in at.subheader if s.value.startswith(("course", "ours"))]
    assert sides == ["course (1 run)", "ours (1 run)"]
    assert len(at.get("plotly_chart")) >= 2 + 1  # the two sides' curves and the Curves tab
