"""Published weights: what a weight is, where ``pretrained=...`` finds it, and how it is checked.

A published weight is a folder in the layout of huggingface_hub's ``PyTorchModelHubMixin``:

- ``model.safetensors``: the state_dict (no pickles; fp16 storage allowed, loaded as fp32);
- ``config.json``: registry name, tag, constructor arguments, num_classes, class names, input
  size, preprocessing, metrics, recipe and the weights file's sha256, in the schema of
  :mod:`zoo.artifacts` (shared with training run folders);
- ``README.md``: the model card.

``pretrained`` is resolved in this order:

1. an explicit path: ``pretrained="path/to/folder"`` (or a ``.safetensors`` file);
2. ``pretrained="torchvision"``: torchvision's own ImageNet weights (cached or downloadable);
3. a registered weight (``True`` = the model's first one, or its tag), looked up in
   ``$CVZOO_WEIGHTS/<model>.<tag>/``, then in the package (``zoo/weights/<model>.<tag>/``), then
   on the Hugging Face Hub with ``hf_hub_download(repo_id, file, revision=<pinned commit>)``,
   which uses the user's HF cache and honours ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT``.

Every file's sha256 is checked before loading; a mismatch names the file and both hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from zoo._registry import ModelSpec, canonical_name, get_spec, list_models
from zoo.artifacts import CONFIG_VERSION, migrate_config
from zoo.preprocessing import Preprocessing

HUB_ORG = "cvzoo"  # the default Hugging Face organisation, named once
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
SHIPPED_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class WeightSpec:
    """One published weight of a registered model, declared once next to its builder.

    ``sha256`` is the hash of ``model.safetensors``; ``revision`` pins the Hub commit.
    ``preprocessing`` and ``class_names`` are what the weight was trained with and predicts; the
    weights folder's ``config.json`` carries the same values (:func:`declared_config`).
    """

    tag: str  # e.g. "mnist", so the weight's id is "<model>.<tag>"
    dataset: str
    recipe: str  # the training recipe that reproduces it (a name in training.recipes)
    sha256: str
    metrics: dict[str, float] = field(default_factory=dict)
    repo_id: str | None = None  # on the Hub, e.g. "cvzoo/lenet5.mnist"
    revision: str | None = None  # pinned commit on the Hub
    shipped: bool = False  # also inside the package
    license: str = "MIT"
    preprocessing: Preprocessing | None = None
    class_names: tuple[str, ...] = ()
    # For weights that come from elsewhere than a weights folder (e.g. a pip package): a function
    # (model, sha256) -> model that loads them, and the config a folder would hold.
    loader: Callable[[nn.Module, str], nn.Module] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("loader", "config", "preprocessing")}
        d["preprocessing"] = self.preprocessing.to_dict() if self.preprocessing else None
        d["class_names"] = list(self.class_names)
        return d


def declared_config(model: str, weight: WeightSpec) -> dict[str, Any]:
    """The fields of a weights folder's ``config.json`` that its :class:`WeightSpec` declares."""
    out: dict[str, Any] = {"model": model, "tag": weight.tag, "dataset": weight.dataset, "recipe": weight.recipe,
                           "metrics": dict(weight.metrics)}
    if weight.repo_id:
        out["repo_id"] = weight.repo_id
    if weight.class_names:
        out["class_names"] = list(weight.class_names)
        out["num_classes"] = len(weight.class_names)
    if weight.preprocessing:
        out["preprocessing"] = weight.preprocessing.to_dict()
    return out


def write_declared_config(folder: str | Path, model: str, weight: WeightSpec) -> dict[str, Any]:
    """Rewrite ``folder``'s ``config.json`` in the current schema with ``weight``'s declared fields
    (the weights file and its sha256 are untouched); returns the config written."""
    config = {**read_config(folder), **declared_config(model, weight), "config_version": CONFIG_VERSION}
    atomic_write_bytes(Path(folder) / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
    return config


class WeightsNotFoundError(LookupError):
    """A model has no published weights, or the requested weights cannot be found."""


class WeightsIntegrityError(ValueError):
    """A weights file does not match its declared sha256, or cannot be read."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise :class:`WeightsIntegrityError` naming the file and both hashes on a mismatch."""
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}. The file is corrupt, truncated "
            "or was modified; delete it (or the HF cache entry) and load again."
        )


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` atomically: ``write(f)`` fills a temp file in the same folder, which is
    flushed, fsynced, given the umask's permissions and renamed over ``path``. On any error the temp
    file is removed and ``path`` is untouched, so a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL with a random name, like mkstemp, but mode 0666 so that the kernel applies the umask (mkstemp
    # makes 0600 files; reading the umask means setting it, which races with other threads of a server).
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(data))


def save_weights_folder(model: nn.Module, folder: str | Path, config: dict[str, Any], card: str,
                        half: bool = False) -> dict[str, Any]:
    """Write a weights folder (model.safetensors, config.json, README.md) atomically.

    ``config`` must hold at least ``model`` (registry name) and ``tag``; the sha256 of the weights
    file is added to it and ``{sha256}`` in ``card`` is filled in. ``half`` stores floating-point
    tensors as fp16. Returns the written config.
    """
    from safetensors.torch import save

    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    blob = save(state, metadata={"format": "pt"})
    atomic_write_bytes(folder / WEIGHTS_FILE, blob)
    config = {**config, "config_version": CONFIG_VERSION, "sha256": hashlib.sha256(blob).hexdigest(),
              "dtype": "float16" if half else "float32"}
    atomic_write_bytes(folder / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode())
    atomic_write_bytes(folder / CARD_FILE, card.replace("{sha256}", config["sha256"]).encode())
    return config


def read_config(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a weights folder in the current schema (:func:`zoo.artifacts.migrate_config`),
    with a clear error when it is missing or broken."""
    path = Path(folder) / CONFIG_FILE
    try:
        return migrate_config(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise WeightsNotFoundError(f"{path} is missing: a weights folder holds {WEIGHTS_FILE}, "
                                   f"{CONFIG_FILE} and {CARD_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise WeightsIntegrityError(f"{path} is not valid JSON ({err})") from None


def _load_state(path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} does not exist")
    if expected_sha256:
        verify_sha256(path, expected_sha256)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsIntegrityError(f"cannot read {path} as safetensors ({err}); the file is damaged") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise WeightsIntegrityError(
            f"weights from {source} do not fit {type(model).__name__}: {str(err).splitlines()[0]} "
            f"{' '.join(str(err).split())[:600]}"
        ) from None
    return model


def _merge_kwargs(name: str, saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments of the weight, refusing user arguments that contradict them."""
    for key, value in given.items():
        if key in saved and saved[key] != value:
            raise ValueError(f"{name}: {key}={value!r} contradicts the weights ({key}={saved[key]!r}); "
                             f"load without {key} or with pretrained=False")
    return {**saved, **given}


def load_folder(folder: str | Path, expected_sha256: str | None = None, **kwargs: Any) -> nn.Module:
    """Build the model a weights folder describes and load it (sha256 from its config is checked)."""
    folder = Path(folder)
    config = read_config(folder)
    spec = get_spec(config["model"])
    model = spec.builder(**_merge_kwargs(spec.name, config.get("model_kwargs", {}), kwargs))
    state = _load_state(folder / WEIGHTS_FILE, expected_sha256 or config.get("sha256"))
    return _load_into(model, state, str(folder)).eval()


def find_weight(spec: ModelSpec, tag: str | bool) -> WeightSpec:
    """The registered weight of ``spec`` with ``tag`` (``True``: the first one)."""
    if not spec.weights:
        have = list_models(pretrained=True)
        raise WeightsNotFoundError(
            f"{spec.name} has no published weights yet; models with weights: "
            f"{', '.join(have) if have else 'none yet (train one with `python -m training fit`)'}"
        )
    if tag is True:
        return spec.weights[0]
    for weight in spec.weights:
        if weight.tag == tag:
            return weight
    raise WeightsNotFoundError(
        f"{spec.name} has no weights tagged {tag!r}; available: {', '.join(w.tag for w in spec.weights)}, "
        "or pass a path to a weights folder"
    )


def resolve_folder(spec: ModelSpec, weight: WeightSpec) -> Path:
    """A local folder holding ``weight``: $CVZOO_WEIGHTS, the package, or the Hub (via the HF cache)."""
    key = f"{spec.name}.{weight.tag}"
    candidates = []
    if env := os.environ.get("CVZOO_WEIGHTS"):
        candidates.append(Path(env) / key)
    if weight.shipped:
        candidates.append(SHIPPED_DIR / key)
    for folder in candidates:
        if (folder / WEIGHTS_FILE).is_file():
            return folder
    if weight.repo_id is None:
        raise WeightsNotFoundError(f"{key} is not in {', '.join(map(str, candidates)) or 'any local folder'} "
                                   "and has no Hub repository")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        files = [hf_hub_download(weight.repo_id, name, revision=weight.revision)
                 for name in (CONFIG_FILE, WEIGHTS_FILE)]
    except LocalEntryNotFoundError as err:
        raise WeightsNotFoundError(
            f"{key}: not in the HF cache and the Hub cannot be reached ({err}). Connect once, or set "
            f"CVZOO_WEIGHTS to a folder holding {key}/"
        ) from None
    except HfHubHTTPError as err:
        raise WeightsNotFoundError(f"{key}: the Hub refused {weight.repo_id}@{weight.revision}: {err}") from None
    return Path(files[1]).parent


def load_pretrained(spec: ModelSpec, pretrained: bool | str, **kwargs: Any) -> nn.Module:
    """Build ``spec``'s model with the weights ``pretrained`` names (see the module docstring)."""
    if isinstance(pretrained, str) and pretrained == "torchvision":
        return load_torchvision(spec, **kwargs)
    if isinstance(pretrained, str | os.PathLike) and (Path(pretrained).exists() or os.sep in str(pretrained)):
        path = Path(pretrained)
        if path.suffix == ".safetensors":
            return _load_into(spec.builder(**kwargs), _load_state(path, None), str(path)).eval()
        model = load_folder(path, **kwargs)
        return model
    weight = find_weight(spec, pretrained)
    if weight.loader is not None:
        kwargs = _merge_kwargs(spec.name, weight.config.get("model_kwargs", {}), kwargs)
        return weight.loader(spec.builder(**kwargs), weight.sha256).eval()
    folder = resolve_folder(spec, weight)
    config = read_config(folder)
    if canonical_name(str(config.get("model"))) != spec.name:  # a weight saved under a former name still fits
        raise WeightsIntegrityError(f"{folder} holds weights for {config.get('model')!r}, not {spec.name!r}")
    return load_folder(folder, expected_sha256=weight.sha256, **kwargs)


def load_torchvision(spec: ModelSpec, **kwargs: Any) -> nn.Module:
    """torchvision's default ImageNet weights for the same architecture (keys already match)."""
    import torchvision

    builder = getattr(torchvision.models, spec.name, None)
    if builder is None or spec.input_size != (3, 224, 224):
        raise WeightsNotFoundError(f"torchvision has no ImageNet weights for {spec.name}")
    if kwargs.get("num_classes", 1000) != 1000:
        raise ValueError("torchvision's ImageNet weights have 1000 classes; replace the head after loading")
    weights = torchvision.models.get_model_weights(spec.name).DEFAULT
    try:
        state = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as err:  # urllib/OSError/RuntimeError: offline and not cached
        raise WeightsNotFoundError(
            f"torchvision weights {weights} are not in the torch cache ({torch.hub.get_dir()}) and cannot be "
            f"downloaded: {err}"
        ) from None
    model = spec.builder(**{k: v for k, v in kwargs.items() if k != "num_classes"})
    if spec.name == "googlenet":
        state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    return _load_into(model, state, str(weights)).eval()


def weight_config(name: str, pretrained: bool | str = True) -> dict[str, Any]:
    """The ``config.json`` of a model's published weight (resolved as for loading)."""
    spec = get_spec(name)
    weight = find_weight(spec, pretrained)
    if weight.loader is not None:
        return migrate_config({**weight.config, **declared_config(spec.name, weight)})
    return read_config(resolve_folder(spec, weight))


def get_preprocessing(name: str) -> Preprocessing:
    """The preprocessing a model's default weight was trained with (the registry's otherwise); read from
    the weight's declaration, so no file is fetched."""
    spec = get_spec(name)
    if not spec.weights:
        return spec.preprocessing
    if spec.weights[0].preprocessing is not None:
        return spec.weights[0].preprocessing
    pre = weight_config(name).get("preprocessing")  # an undeclared weight: its folder says
    return Preprocessing.from_dict(pre) if pre else spec.preprocessing


def get_class_names(name: str) -> list[str]:
    """Class names of a model's default weight, in output order (from its declaration)."""
    spec = get_spec(name)
    if not spec.weights:
        raise WeightsNotFoundError(f"{name} has no published weights, so no class names")
    return list(spec.weights[0].class_names or weight_config(name)["class_names"])
