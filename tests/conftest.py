"""Suite-wide test policy: a test that needs a system tool says so with ``requires``.

    pytestmark = pytest.mark.requires("coqc", apt="coq")

Where the tool is missing the test is skipped with the install command — except under CI
(``CI`` set): ``.ci/run`` installs every tool, so there the test runs and a gap fails loudly.
The ``mock_llm`` fixture comes from scillm's pytest plugin, opted into here as users do.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = ["scillm.testing.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(tool, apt): needs a system tool on PATH")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers("requires"):
            tool = marker.args[0]
            if shutil.which(tool) is not None:
                continue
            if not os.environ.get("CI"):  # under CI the test runs, and fails for want of it
                apt = marker.kwargs.get("apt", tool)
                item.add_marker(pytest.mark.skip(reason=f"needs {tool}: apt-get install {apt}"))
