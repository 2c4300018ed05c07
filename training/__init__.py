"""cvzoo's training package: a registry name, a data set and a recipe in; a trained, evaluated model out.

>>> from training import fit, evaluate, load_run
>>> res = fit("lenet5", "mnist", "lenet5_mnist", out="runs/lenet5")   # doctest: +SKIP
>>> evaluate(res.run_dir)["accuracy"]                                  # doctest: +SKIP

Modules: ``data`` (data sets as uint8 tensors, the batch loader, ``pack``), ``recipes`` (every
recipe, declared once), ``loop`` (the one training loop) with ``tasks`` (classification,
segmentation, edges; ``seg`` and ``edges`` hold the data and metrics of the last two), ``device``,
``optim`` and ``augment``, ``evaluate`` and ``plots`` (artefacts), ``embed`` (features + t-SNE
file), ``runs`` (the run folder's files), ``speedrun`` (the CPU speed run), ``cli``
(``python -m training``). Imports ``zoo``; ``zoo`` never imports ``training``.
"""

from training.data import ArrayDataset, DatasetNotFoundError, load_dataset, pack
from training.embed import Embeddings, embed, read_embeddings
from training.errors import ConfigError
from training.evaluate import evaluate, evaluate_ensemble
from training.loop import FitResult, fit
from training.recipes import RECIPES, Recipe, get_recipe, list_recipes
from training.runs import load_run, read_config, read_metrics

__all__ = [
    "RECIPES",
    "ArrayDataset",
    "ConfigError",
    "DatasetNotFoundError",
    "Embeddings",
    "FitResult",
    "Recipe",
    "embed",
    "evaluate",
    "evaluate_ensemble",
    "fit",
    "get_recipe",
    "list_recipes",
    "load_dataset",
    "load_run",
    "pack",
    "read_config",
    "read_embeddings",
    "read_metrics",
]
