"""End to end against a real Hub endpoint: olah serves a git repository from a local folder.

A weights folder is exported, committed to a git repo that olah serves, and a weight entry pinned
to that commit is resolved with ``create_model(..., pretrained=True)``: downloaded, verified by
sha256 and loaded; then served from the HF cache with the server stopped; then refused once the
cached file is tampered with.
"""

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_weights import _export
from zoo.weights import sha256_file

OLAH = shutil.which("olah-cli", path=str(Path(sys.executable).parent)) or shutil.which("olah-cli")
pytestmark = pytest.mark.skipif(OLAH is None, reason="olah-cli not installed (pip install olah)")
REPO = "cvzoo/lenet5-test"

LOAD = textwrap.dedent("""
    import dataclasses, sys, torch, zoo
    from zoo import _registry
    from zoo.weights import WeightSpec
    spec = zoo.get_spec("lenet5")
    weight = WeightSpec(tag="test", dataset="mnist", recipe="none", sha256=sys.argv[1], repo_id=sys.argv[2],
                        revision=sys.argv[3])
    _registry._REGISTRY["lenet5"] = dataclasses.replace(spec, weights=(weight,))
    try:
        model = zoo.create_model("lenet5", pretrained=True)
    except Exception as err:
        print(type(err).__name__, err)
        raise SystemExit(3)
    torch.manual_seed(1)
    with torch.no_grad():
        print("OUTPUT", float(model(torch.randn(1, 1, 32, 32)).sum()))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def olah_server(tmp_path):
    repo = tmp_path / "mirrors" / "models" / REPO
    model = _export(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "weights")
    port = _free_port()
    config = tmp_path / "configs.toml"
    config.write_text(textwrap.dedent(f"""
        [basic]
        host = "127.0.0.1"
        port = {port}
        repos-path = "{tmp_path / 'repos'}"
        mirrors-path = ["{tmp_path / 'mirrors'}"]
        [accessibility]
        offline = true
    """))
    (tmp_path / "logs").mkdir()
    proc = subprocess.Popen([OLAH, "-c", str(config), "--log-path", str(tmp_path / "logs")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/api/models/{REPO}/refs", timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("olah did not start within 30 s")
            time.sleep(0.3)
    yield endpoint, proc, repo, _git(repo, "rev-parse", "HEAD"), model
    proc.kill()
    proc.wait()


def _load(tmp_path: Path, endpoint: str, sha: str, revision: str, offline: bool = False):
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf"), "CVZOO_WEIGHTS": "",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "5"}
    env.pop("HF_HUB_OFFLINE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-c", LOAD, sha, REPO, revision], env=env, capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])


def test_download_verify_cache_and_tamper(olah_server, tmp_path):
    import torch

    endpoint, proc, repo, revision, model = olah_server
    sha = sha256_file(repo / "model.safetensors")
    torch.manual_seed(1)
    with torch.no_grad():
        expected = f"OUTPUT {float(model(torch.randn(1, 1, 32, 32)).sum())}"

    first = _load(tmp_path, endpoint, sha, revision)
    assert first.returncode == 0, first.stdout + first.stderr
    assert expected in first.stdout
    cached = list((tmp_path / "hf").rglob("model.safetensors"))
    assert cached, "the download should be in the HF cache"

    proc.kill()
    proc.wait()
    for offline in (True, False):  # server gone: served from the cache, with or without HF_HUB_OFFLINE
        again = _load(tmp_path, endpoint, sha, revision, offline=offline)
        assert again.returncode == 0, again.stdout + again.stderr
        assert expected in again.stdout

    blob = cached[0].resolve()
    blob.write_bytes(blob.read_bytes()[:-8] + b"tampered")
    tampered = _load(tmp_path, endpoint, sha, revision, offline=True)
    assert tampered.returncode == 3
    assert "WeightsIntegrityError" in tampered.stdout and sha in tampered.stdout


def test_offline_without_cache_is_clear(olah_server, tmp_path):
    endpoint, _, repo, revision, _ = olah_server
    result = _load(tmp_path, endpoint, sha256_file(repo / "model.safetensors"), revision, offline=True)
    assert result.returncode == 3
    assert "WeightsNotFoundError" in result.stdout and "CVZOO_WEIGHTS" in result.stdout
