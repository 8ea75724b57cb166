"""``scillm.extras.batch``: the original's ``litellm.extras.batch`` import path.

The helper lives with the other fan-out helpers in :mod:`scillm.router_utils`.
"""

from scillm.router_utils import acompletion_as_completed

__all__ = ["acompletion_as_completed"]
