"""``scillm demo``: scillm on its embedded model, offline and with no key.

The plain demo (:func:`run_demo`, :mod:`scillm.demo.quick`) shows the main job in seconds;
``--full`` (:func:`run_full_demo`, :mod:`scillm.demo.full`) runs everything end to end: a
resumed batch, structured extraction, CodeWorld, Certainly, an agent and the HTML report.
"""

from scillm.demo.full import DEFAULT_ROWS, run_full_demo
from scillm.demo.quick import run_demo
from scillm.demo.steps import StepResult

__all__ = ["DEFAULT_ROWS", "StepResult", "run_demo", "run_full_demo"]
