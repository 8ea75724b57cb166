"""The languages the sandbox runs: one frozen row each, so adding a language is adding a row."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["LANGUAGES", "Language", "Toolchain", "locate", "this_python"]

THIS_PYTHON = "python"  # the ``tool`` name that means "the interpreter running scillm"


@dataclass(frozen=True)
class Language:
    """How one language is built and run inside the sandbox.

    ``run`` and ``compile`` are argv templates: ``{tool}`` becomes the toolchain's absolute path,
    ``{source}`` the source file name, ``{memory_mb}`` the caller's memory limit. ``tool`` is looked
    up on the host PATH (``"python"`` means the interpreter running scillm, whatever its PATH says).
    Ruby would be ``Language("ruby", source="main.rb", tool="ruby", run=("{tool}", "{source}"))``.
    """

    name: str
    source: str
    tool: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    reserve_mb: int = 0  # address space the runtime reserves at start-up, on top of memory_mb


LANGUAGES: Mapping[str, Language] = MappingProxyType(
    {
        lang.name: lang
        for lang in (
            Language(
                "python", source="main.py", tool=THIS_PYTHON, run=("{tool}", "-B", "{source}")
            ),
            # V8 reserves ~700 MiB of address space for its code range before running anything,
            # so node gets that on top of RLIMIT_AS and its heap is capped by the flag instead.
            Language(
                "javascript",
                source="main.js",
                tool="node",
                run=("{tool}", "--max-old-space-size={memory_mb}", "{source}"),
                reserve_mb=1024,
            ),
            Language(
                "c",
                source="main.c",
                tool="gcc",
                compile=("{tool}", "-O2", "-pipe", "-o", "main", "{source}", "-lm"),
                run=("./main",),
            ),
            Language(
                "cpp",
                source="main.cpp",
                tool="g++",
                compile=("{tool}", "-O2", "-pipe", "-o", "main", "{source}"),
                run=("./main",),
            ),
            Language("bash", source="main.sh", tool="bash", run=("{tool}", "{source}")),
        )
    }
)


@dataclass(frozen=True)
class Toolchain:
    """A language's tool as found on this host, and the install trees the sandbox must show."""

    executable: str
    prefixes: tuple[str, ...]


def locate(language: Language) -> Toolchain | None:
    """Find ``language.tool`` on this host; None when it is not installed."""
    if language.tool == THIS_PYTHON:
        return this_python()
    found = shutil.which(language.tool)
    if found is None:
        return None
    executable = os.path.realpath(found)
    return Toolchain(executable, (_install_prefix(executable),))


def this_python() -> Toolchain:
    """The interpreter running scillm (it also runs the sandbox's waiter).

    A venv's python is a symlink to the base interpreter, which needs only its own prefix:
    no project packages leak into the sandbox.
    """
    executable = os.path.realpath(sys.executable)
    prefixes = {os.path.realpath(sys.base_prefix), _install_prefix(executable)}
    return Toolchain(executable, tuple(sorted(prefixes)))


def _install_prefix(executable: str) -> str:
    """``/opt/node/bin/node`` → ``/opt/node``: the tree that holds the tool's libraries too."""
    return os.path.dirname(os.path.dirname(executable))
