"""Finding data files that ship inside installed packages (read directly, never imported)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def packaged_path(distribution_name: str, relative_path: str, what: str) -> Path:
    """`relative_path` inside the installed distribution `distribution_name`, with an error saying
    how to get it when the package or the file is missing (`what` names the data in the message)."""
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"{what} is read from the {distribution_name} package, which is not installed: pip install {distribution_name}"
        ) from error
    path = Path(distribution.locate_file(relative_path))
    if not path.exists():
        raise FileNotFoundError(f"{distribution_name} is installed but {path} is missing; reinstall {distribution_name}.")
    return path
