"""Atomic writes: a reader sees the previous complete output or the new complete one, never a part.

Every writer in the package (raw slides, stores, tables, models) writes under a temporary sibling
name (a dot-name that globbing for partitions ignores) and renames it into place. A killed writer
leaves at most a ``.<name>.tmp-*`` sibling, which :func:`remove_stale_temporaries` clears on the
next write.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_sibling(final: Path, suffix: str = "") -> Path:
    """Return an unused hidden sibling path of ``final`` (ending in ``suffix``) to write into."""
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}{suffix}")


def remove_stale_temporaries(final: Path) -> None:
    """Remove temporaries and replaced copies that a killed writer of ``final`` left behind."""
    for pattern in (f".{final.name}.tmp-*", f".{final.name}.old-*"):
        for stale in final.parent.glob(pattern):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def replace_path(src: Path, dst: Path) -> None:
    """Move ``src`` (file or directory) to ``dst``, replacing a previous ``dst``.

    Files are replaced with one ``os.replace``. A directory cannot be renamed over a non-empty one,
    so the previous directory is first renamed aside (``.<name>.old-*``) and removed afterwards; a
    crash between the two renames leaves no ``dst`` (never a partial one) and the next write clears
    the leftover.
    """
    if src.is_dir() and dst.exists():
        old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


@contextmanager
def atomic_path(final: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write into; on success it is renamed to ``final``.

    On an exception the temporary is removed and ``final`` is left untouched. ``suffix`` ends the
    temporary name, for writers that insist on an extension (Keras's ``.keras``).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = temporary_sibling(final, suffix)
    try:
        yield tmp
        replace_path(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
