"""Test helper: the shipped data catalog with storage roots added, written to a file of its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parents[1] / "data_catalog.yaml"


def write_catalog(
    path: Path,
    *,
    roots: Mapping[str, str] | None = None,
    root_of: Mapping[str, str] | None = None,
    uri_of: Mapping[str, str] | None = None,
) -> Path:
    """Write the shipped catalog to ``path`` with ``roots:`` set and datasets moved.

    ``root_of`` gives datasets a ``root:`` (dataset → root name); ``uri_of`` replaces their
    ``uri``. Select the file with ``HOLO_CATALOG``.
    """
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["roots"] = dict(roots or {})
    for name, root in (root_of or {}).items():
        raw["datasets"][name]["root"] = root
    for name, uri in (uri_of or {}).items():
        raw["datasets"][name]["uri"] = uri
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
