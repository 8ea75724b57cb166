"""Parsing coqc's output: messages with lines, .glob declarations, Print Assumptions, Locate."""

from __future__ import annotations

from scillm.certainly.coq_output import (
    Assumptions,
    locate_finds_standard,
    located_messages,
    notation_query,
    parse_assumptions,
    parse_glob,
    strip_comments,
)
from scillm.certainly.verdict import Message

STDERR = """File "./Top.v", line 1, characters 0-41:
Warning: Notation "_ = _" was already used in scope type_scope.
[notation-overridden,parsing]
File "./Top.v", line 2, characters 14-18:
Error:  (in proof t): Attempt to save a proof with given up goals. If this is
really what you want to do, use Admitted in place of Qed.

Error: There are pending proofs in file ./Top.v: t.
"""


def test_messages_keep_their_file_line_and_severity() -> None:
    assert located_messages(STDERR) == [
        (
            "./Top.v",
            Message(
                "warning",
                1,
                'Notation "_ = _" was already used in scope type_scope.\n'
                "[notation-overridden,parsing]",
            ),
        ),
        (
            "./Top.v",
            Message(
                "error",
                2,
                "(in proof t): Attempt to save a proof with given up goals. If this is\n"
                "really what you want to do, use Admitted in place of Qed.",
            ),
        ),
        (None, Message("error", None, "There are pending proofs in file ./Top.v: t.")),
    ]


def test_an_unlocated_error_alone_is_kept() -> None:
    assert located_messages("Error: Can't find file ./X.v\n") == [
        (None, Message("error", None, "Can't find file ./X.v"))
    ]


def test_glob_declarations_are_qualified_by_module() -> None:
    glob = """DIGEST ca58
FTop
R15:17 Coq.Init.Logic <> eq ind
ax 6:15 <> one_eq_two
prf 209:213 M inner
not 533:533 <> :::x_'=='_x
"""
    entries = [(e.kind, e.offset, e.qualified, e.short) for e in parse_glob(glob)]
    assert entries == [
        ("ax", 6, "Top.one_eq_two", "one_eq_two"),
        ("prf", 209, "Top.M.inner", "inner"),
        ("not", 533, "Top.:::x_'=='_x", ":::x_'=='_x"),
    ]


def test_notation_keys_become_locate_strings() -> None:
    assert notation_query("::type_scope:x_'='_x") == "_ = _"
    assert notation_query(":::'IF'_x_'then'_x_'else'_x") == "IF _ then _ else _"
    assert notation_query(":::'['_x_';'_x_']'") == "[ _ ; _ ]"
    assert notation_query("nonsense") is None


def test_locate_tells_standard_from_the_items_own() -> None:
    assert locate_finds_standard('Notation "x = y" := (eq x y) : type_scope\n')
    assert locate_finds_standard("Inductive Coq.Init.Logic.False\nNotation Top.False\n")
    assert not locate_finds_standard("Unknown notation\n")
    assert not locate_finds_standard(
        "Notation Top.False\n  (shorter name to refer to it in current context is Top.False)\n"
    )


def test_print_assumptions_forms() -> None:
    assert parse_assumptions("Closed under the global context\n") == Assumptions((), ())
    long_axiom = """Axioms:
Top.one_eq_two : 1 = 2
Top.long_one
  : forall
      aaaa bbbb : nat,
    aaaa = bbbb
Classical_Prop.classic : forall P : Prop, P \\/ ~ P
"""
    assert parse_assumptions(long_axiom) == Assumptions(
        ("Top.one_eq_two", "Top.long_one", "Classical_Prop.classic"), ()
    )
    unsafe = "Axioms:\nTop.loop is assumed to be guarded.\nTop.h relies on an unsafe hierarchy.\n"
    assert parse_assumptions(unsafe) == Assumptions(
        (), ("Top.loop is assumed to be guarded.", "Top.h relies on an unsafe hierarchy.")
    )
    assert parse_assumptions("") is None
    assert parse_assumptions("something else") is None


def test_comments_are_blanked_but_strings_and_lines_kept() -> None:
    text = 'A (* x (* nested *) y *) "(* not a comment *)" B\n(* two\nlines *)C'
    stripped = strip_comments(text)
    assert stripped.split() == ["A", '"(*', "not", "a", "comment", '*)"', "B", "C"]
    assert stripped.count("\n") == text.count("\n")
