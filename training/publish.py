"""``python -m training publish FOLDER --repo-id ORG/NAME``: upload a weights folder to the Hub.

Creates the model repository if needed and uploads the folder with ``HfApi`` (token from
``HF_TOKEN`` or ``hf auth login``), then prints the commit id to pin in the registry entry.
``--dry-run`` shows what would be uploaded and calls nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.weights import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, read_config, verify_sha256

REQUIRED = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE)


def check_folder(folder: str | Path) -> dict[str, Any]:
    """A weights folder is complete and its weights match the sha256 in its config."""
    folder = Path(folder)
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}; write it with `python -m training export`")
    config = read_config(folder)
    verify_sha256(folder / WEIGHTS_FILE, config["sha256"])
    return config


def publish(folder: str | Path, repo_id: str, *, private: bool = False, notes: str | None = None,
            dry_run: bool = False, api: Any = None) -> dict[str, Any]:
    """Upload ``folder`` to ``repo_id``; returns ``{"repo_id", "files", "commit", "sha256"}``.

    ``api`` is an ``HfApi`` (one is made when None); tests pass a recording double.
    """
    folder = Path(folder)
    config = check_folder(folder)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    plan = {"repo_id": repo_id, "files": files, "sha256": config["sha256"], "commit": None}
    if dry_run:
        return plan
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    message = f"{config['model']}.{config['tag']}: weights sha256 {config['sha256'][:12]}"
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message=message, commit_description=notes or "",
                             allow_patterns=list(files))
    plan["commit"] = info.oid
    return plan
