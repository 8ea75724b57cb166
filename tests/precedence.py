"""The configuration rule, checked alike for every setting: argument > environment > default.

test_precedence = precedence_test({"port": Setting(from_env, "port", ("X_PORT",), ...)})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Setting:
    """``build(**given)`` resolves settings (an object or a dict) that hold ``field``; ``names``
    are its variables in order; ``env`` a raw value with what it parses to; ``malformed`` a raw
    value that must be a ValueError naming the variable (None: any text is valid)."""

    build: Callable[..., Any]
    field: str
    names: tuple[str, ...]
    env: tuple[str, Any]
    explicit: Any
    malformed: str | None = None

    def value(self, **given: Any) -> Any:
        built = self.build(**given)
        return built.get(self.field) if isinstance(built, Mapping) else getattr(built, self.field)


def check_precedence(monkeypatch: pytest.MonkeyPatch, setting: Setting) -> None:
    raw, parsed = setting.env
    explicit = {setting.field: setting.explicit}
    for name in setting.names:
        monkeypatch.delenv(name, raising=False)
    assert setting.value() != parsed != setting.explicit
    for name in setting.names:
        monkeypatch.setenv(name, raw)
        assert setting.value() == parsed  # the environment beats the default
        assert setting.value(**explicit) == setting.explicit  # an argument beats the environment
        if setting.malformed is not None:
            monkeypatch.setenv(name, setting.malformed)
            with pytest.raises(ValueError, match=name):
                setting.value()
            assert setting.value(**explicit) == setting.explicit  # an unused variable is unread
        monkeypatch.delenv(name)
    if len(setting.names) > 1:  # the first name wins
        monkeypatch.setenv(setting.names[1], str(setting.explicit))
        monkeypatch.setenv(setting.names[0], raw)
        assert setting.value() == parsed


def precedence_test(settings: dict[str, Setting]) -> Callable[..., None]:
    """A test of :func:`check_precedence` for each of ``settings``, named by its key."""

    @pytest.mark.parametrize("setting", settings.values(), ids=settings.keys())
    def test(monkeypatch: pytest.MonkeyPatch, setting: Setting) -> None:
        check_precedence(monkeypatch, setting)

    return test
