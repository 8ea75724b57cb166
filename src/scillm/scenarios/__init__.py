"""Live scenarios: end-to-end checks of the local stack, one module each.

    scillm scenarios list
    scillm scenarios run codeworld_bridge [--json]
    scillm scenarios run-all [--json] [--stop-on-first-failure]
    python -m scillm.scenarios.run_all          # the same as run-all
    python -m scillm.scenarios.mcts_codeworld   # one scenario; exit 0 pass, 77 skip, 1 fail

Each scenario asserts real outcomes (a wrong program fails, a false lemma is not proved, a
resumed batch holds every row once); it skips (77) only when something it needs is missing,
and says what. Services that do not answer are started for the run (see
:mod:`scillm.scenarios.stack`); see ``docs/scenarios.md``.
"""
