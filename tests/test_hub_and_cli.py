import ast
import importlib.util
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

import zoo
from tests.conftest import ROOT
from zoo.cli import main


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """A torch.hub cache holding this checkout as 'cvzoo/cvzoo:main', as a user with a cached copy has."""
    hub_dir = tmp_path_factory.mktemp("hub")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub_dir))
    shutil.copytree(ROOT, hub_dir / "cvzoo_cvzoo_main",
                    ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".*cache"))
    yield "cvzoo/cvzoo:main"
    torch.hub.set_dir(old)


HUB_NAMES = sorted([*zoo.list_models(), *zoo.list_aliases()])


def test_hubconf_names_every_model_explicitly():
    """hubconf.py holds one `name = _entrypoint("name")` line per registered name and former name."""
    tree = ast.parse((ROOT / "hubconf.py").read_text())
    lines = {node.targets[0].id: node.value.args[0].value for node in tree.body
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
             and getattr(node.value.func, "id", None) == "_entrypoint"}
    assert all(target == arg for target, arg in lines.items())
    missing = [f'{n} = _entrypoint("{n}")' for n in HUB_NAMES if n not in lines]
    assert missing == [], "add these lines to hubconf.py"
    assert sorted(lines) == HUB_NAMES


def test_hub_list_shows_every_registered_model(hub_cache):
    entries = torch.hub.list(hub_cache, skip_validation=True, trust_repo=True)
    assert sorted(entries) == HUB_NAMES


def test_hub_help_gives_docstrings(hub_cache):
    doc = torch.hub.help(hub_cache, "fcn8s", skip_validation=True, trust_repo=True)
    assert "FCN-8s" in doc and "num_classes" in doc and "zoo.models.fcn" in doc
    doc = torch.hub.help(hub_cache, "resnext_cifar", skip_validation=True, trust_repo=True)
    assert doc.startswith("Former name of resnext29_8x16d")


def test_hub_load_from_cache(hub_cache):
    model = torch.hub.load(hub_cache, "lenet5", skip_validation=True, trust_repo=True)
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name", HUB_NAMES)
def test_hub_load_local_every_entrypoint(name):
    former = name in zoo.list_aliases()
    with torch.device("meta"), warnings.catch_warnings(record=True) as caught:  # the forward pass is in test_zoo
        warnings.simplefilter("always")
        model = torch.hub.load(str(ROOT), name, source="local")
    assert isinstance(model, torch.nn.Module)
    assert any(f"{name!r} is deprecated" in str(w.message) for w in caught) == former


def test_hub_dependencies_are_importable():
    import hubconf

    assert {"torch", "timm"} <= set(hubconf.dependencies)
    assert [m for m in hubconf.dependencies if importlib.util.find_spec(m) is None] == []


def test_hub_load_local_fcn8s_with_classes():
    model = torch.hub.load(str(ROOT), "fcn8s", source="local", num_classes=12).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 80)).shape == (1, 12, 64, 80)


def test_hubconf_import_is_light():
    heavy = "{'timm', 'huggingface_hub', 'torchvision', 'gradio'}"
    code = f"import sys, hubconf; print({heavy} & set(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "set()"


def test_cli_models(capsys):
    assert main(["models", "--task", "segmentation"]) == 0
    out = capsys.readouterr().out
    assert "fcn8s" in out and "134,489,759" in out and "lenet5" not in out


def test_cli_summary(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out and "[1, 6, 28, 28]" in out


def test_cli_unknown_model(capsys):
    assert main(["summary", "lenet6"]) == 2
    assert "Did you mean: lenet5" in capsys.readouterr().err


def test_console_script_installed():
    exe = shutil.which("cvzoo", path=str(ROOT / ".venv" / "bin")) or shutil.which("cvzoo")
    if exe is None:
        pytest.skip("cvzoo console script not installed (run `make test` to install the project)")
    out = subprocess.run([exe, "models", "lenet*"], capture_output=True, text=True, check=True).stdout
    assert "lenet5" in out and "61,706" in out


def test_readme_model_table_is_in_sync_with_the_registry():
    from zoo.cli import models_table

    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- models:start -->\n", "\n<!-- models:end -->"
    assert start in readme and end in readme
    block = readme.split(start)[1].split(end)[0]
    assert block == models_table(markdown=True), "regenerate it: cvzoo models --markdown"
