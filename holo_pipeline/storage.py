"""Storage locations: which ones are on the local filesystem, and joining paths under a root.

A location is a plain path or an fsspec URI. fsspec decides what is local: a location whose
filesystem class is ``LocalFileSystem`` (plain paths, ``file://…``, ``local://…``) is local, and
:func:`storage_location` turns it into an absolute local path, so that every writer (atomic
temporary-and-rename, Zarr, TIFF, Keras) and reader gets a path it can open. Any other protocol
(``s3://``, ``gs://``, ``memory://`` …) stays a URI. Deciding needs only the filesystem *class*: no
remote filesystem is instantiated (which could try credentials or the network).
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem


def has_protocol(location: str | os.PathLike[str]) -> bool:
    """Return whether ``location`` names a protocol (``file://…``, ``s3://…``), not a plain path."""
    return fsspec.core.split_protocol(os.fspath(location))[0] is not None


def local_path(location: str | os.PathLike[str]) -> str | None:
    """Return the absolute local path of ``location``, or ``None`` if it is not on a local disk.

    Plain paths are made absolute against the working directory (``~`` expanded), as fsspec's
    ``LocalFileSystem`` does. A protocol that fsspec does not know, or whose package is not
    installed (``s3fs`` for ``s3://``), is not local either.
    """
    text = os.fspath(location)
    protocol = fsspec.core.split_protocol(text)[0]
    try:
        cls = fsspec.get_filesystem_class(protocol or "file")
    except (ImportError, ValueError):
        return None
    if not issubclass(cls, LocalFileSystem):
        return None
    _, path = fsspec.core.url_to_fs(text)
    return path


def storage_location(location: str | os.PathLike[str]) -> str:
    """Return a local ``location`` as an absolute local path and any other one as it is."""
    local = local_path(location)
    return local if local is not None else os.fspath(location)


def join_location(base: str | os.PathLike[str], relative: str) -> str:
    """Return ``relative`` under ``base``: a local path if ``base`` is local, else a URI."""
    local = local_path(base)
    if local is not None:
        return str(Path(local) / relative)
    return os.fspath(base).rstrip("/") + "/" + relative
