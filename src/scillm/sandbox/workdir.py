"""The private work dir: a fresh host directory per run, owned by the sandbox, then deleted."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["workdir"]


@contextmanager
def workdir(files: Mapping[str, bytes], owner: int | None) -> Iterator[str]:
    """A new directory holding ``files``, chowned to ``owner`` (the sandbox uid) if given.

    It sits in a private (0700) parent, so it can be 0711 itself: the sandbox's waiter, root
    without CAP_DAC_OVERRIDE, must be able to enter it.
    """
    parent = tempfile.mkdtemp(prefix="scillm-sandbox-")
    path = os.path.join(parent, "work")
    try:
        os.mkdir(path)
        os.chmod(path, 0o711)
        for name, data in files.items():
            target = os.path.join(path, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
        if owner is not None:
            for root, _, names in os.walk(path):
                os.chown(root, owner, owner)
                for name in names:
                    os.chown(os.path.join(root, name), owner, owner)
        yield path
    finally:
        _remove_tree(parent)


def _remove_tree(path: str) -> None:
    """Delete ``path``, even where the program took our permissions away (non-root callers)."""
    try:
        shutil.rmtree(path)
    except OSError:
        os.chmod(path, 0o700)
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                if not os.path.islink(os.path.join(root, name)):  # never chmod outside
                    os.chmod(os.path.join(root, name), 0o700)
        shutil.rmtree(path, ignore_errors=True)
