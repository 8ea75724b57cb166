"""Session signals: has a session's score stopped improving? (The original's plateau rule.)

Each request with ``options.session_id`` adds its score (the mean of the items' best aggregates)
to that session's history; ``plateau`` is true once the last ``window`` scores lie within
``epsilon`` of each other. Held in memory by whoever serves the requests (bridge or provider).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any

__all__ = ["Sessions"]

WINDOW = 5
EPSILON = 0.005
MAX_SESSIONS = 1024


class Sessions:
    """Recent scores per session id (the least recently used sessions are forgotten)."""

    def __init__(self, window: int = WINDOW, epsilon: float = EPSILON) -> None:
        self.window = window
        self.epsilon = epsilon
        self._history: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, session_id: str, current: float) -> dict[str, Any]:
        with self._lock:
            history = self._history.pop(session_id, None) or deque(maxlen=self.window)
            history.append(current)
            self._history[session_id] = history
            while len(self._history) > MAX_SESSIONS:
                self._history.popitem(last=False)
            full = len(history) == self.window
            plateau = full and max(history) - min(history) <= self.epsilon
        return {
            "session_id": session_id,
            "current": current,
            "plateau": plateau,
            "window": self.window,
            "epsilon": self.epsilon,
            "history": list(history),
        }
