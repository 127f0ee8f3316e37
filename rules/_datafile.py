"""Errors and loading shared by the regional and legal data files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DataFileError(ValueError):
    """A regional or legal data file is malformed; names the file and the entry at fault."""

    def __init__(self, path: Path, where: str, problem: str) -> None:
        super().__init__(f"{path.name}: {where}: {problem}")
        self.path = path
        self.where = where
        self.problem = problem


def load_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping at top level."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DataFileError(path, "file", f"cannot read: {error}") from error
    if not isinstance(raw, dict):
        raise DataFileError(path, "top level", "expected a mapping")
    return raw
