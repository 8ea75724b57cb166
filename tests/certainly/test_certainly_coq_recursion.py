"""scillm's own recursion rule on terms as coqc 8.16.1 prints them (``Set Printing All``).

The outputs below were recorded from the real coqc (``Print`` after ``PRINT_SETUP``; long lines
rewrapped, which the parser ignores); the ones marked "written" are in the same language but
were written by hand for shapes coqc refuses.
The live path (compile, audit, recursion rounds) runs in the truth suite (``coq_cases``).
"""

from __future__ import annotations

import pytest

from scillm.certainly.coq_recursion import read_printed
from scillm.certainly.coq_source import CoqSource, unseal
from scillm.certainly.coq_terms import App, Cast, Fix, Let, Numeral, TermError, Var, parse_term

ACCEPTED = {
    "double": """Top.double = fix double (n : nat) : nat := match n return nat with
                                           | O => O
                                           | S m => S (S (double m))
                                           end
     : forall _ : nat, nat

Arguments Top.double n%nat_scope""",
    "ev": """Top.ev = fix ev (n : nat) : bool := match n return bool with
                                    | O => true
                                    | S n' => od n'
                                    end
         with od (n : nat) : bool := match n return bool with
                                     | O => false
                                     | S n' => ev n'
                                     end
         for ev
     : forall _ : nat, bool""",
    "nth'": """Top.nth' = fix nth' (A : Type) (l : list A) (n : nat) (d : A) {struct l} : A
    := match l return A with
    | nil => d
    | cons x xs => match n return A with
                   | O => x
                   | S k => nth' A xs k d
                   end
    end
     : forall (A : Type) (_ : list A) (_ : nat) (_ : A), A""",
    "two_down": """Top.two_down = fix two_down (n m : nat) {struct n} : nat := match n
    return nat with
    | O => m
    | S p => match p return nat with
             | O => m
             | S q => two_down q m
             end
    end
     : forall (_ : nat) (_ : nat), nat""",
    "tree_rect": """Top.tree_rect = fun (P : forall _ : Top.tree, Type) (f : P Top.leaf)
    (f0 : forall (l : Top.tree) (_ : P l) (x : nat) (r : Top.tree) (_ : P r), P (Top.node l
    x r)) => fix F (t : Top.tree) : P t := match t as t0 return (P t0) with
    | Top.leaf => f
    | Top.node l x r => f0 l (F l) x r (F r)
    end
     : forall (P : forall _ : Top.tree, Type) (_ : P Top.leaf) (_ : forall (l : Top.tree)
    (_ : P l) (x : nat) (r : Top.tree) (_ : P r), P (Top.node l x r)) (t : Top.tree), P t""",
    "in_clause": """Top.in_clause = fix f (n : nat) : forall _ : @eq nat n n, nat := match
    n as k return (forall _ : @eq nat k k, nat) with
    | O => fun _ : @eq nat O O => O
    | S m => fun _ : @eq nat (S m) (S m) => f m (@eq_refl nat m)
    end
     : forall (n : nat) (_ : @eq nat n n), nat""",
    "rose_size": """Top.size = fix size (t : Top.rose) : nat := match t return nat with
    | Top.Node _ l => S ((fix size_list (l0 : list Top.rose) : nat := match l0 return nat with
        | nil => O
        | cons x xs => Nat.add (size x) (size_list xs)
        end) l)
    end
     : forall _ : Top.rose, nat""",
    # written, in the shape of the standard library's Fix_F (what a "measure" compiles to)
    "fix_f": "Top.fix_f = fun (A : Type) (R : forall (_ : A) (_ : A), Prop) "
    "(P : forall _ : A, Type) "
    "(F : forall (x : A) (_ : forall (y : A) (_ : R y x), P y), P x) => "
    "fix Fix_F (x : A) (a : @Acc A R x) {struct a} : P x := F x (fun (y : A) (h : R y x) => "
    "Fix_F y (@Acc_inv A R x a y h)) : forall _ : nat, nat",
    "tree": "Inductive tree : Set :=  leaf : Top.tree "
    "| node : forall (_ : Top.tree) (_ : nat) (_ : Top.tree), Top.tree.",
    "big": "Top.big = @eq_refl nat (" + "S (" * 3000 + "S O" + ")" * 3001 + "\n     : nat",
}

REFUSED = {
    # rocq#20413 (recorded): F calls itself on k, a fun's argument
    "F": (
        """Top.F = fix F (sz c : nat) (f : forall _ : nat, nat) {struct sz} : nat := match
    sz return nat with
    | O => S (f c)
    | S sz0 => F sz0 (S c) (fun k : nat => F k O f)
    end
     : forall (_ : nat) (_ : nat) (_ : forall _ : nat, nat), nat""",
        "decreasing argument k",
    ),
    # coqc 8.16.1 accepts these two; scillm's rule is stricter on purpose
    "as_value": (
        """Top.as_value = fix as_value (n : nat) : nat := match n return nat with
    | O => O
    | S m => Top.app_to as_value m
    end
     : forall _ : nat, nat""",
        "used without its decreasing argument",
    ),
    "let_bound": (
        """Top.let_bound = fix let_bound (n : nat) : nat := match n return nat with
    | O => O
    | S m => let k : nat := m in let_bound k
    end
     : forall _ : nat, nat""",
        "decreasing argument k",
    ),
    # rocq#20455's shape (written): the argument is a match on a match
    "match_on_match": (
        "Top.m = fix bad (n : nat) : nat := match n return nat with | O => O "
        "| S m => bad (match (match m return nat with | O => m | S k => k end) return nat with "
        "| O => m | S j => j end) end : forall _ : nat, nat",
        "decreasing argument (match …)",
    ),
    "partial": (
        "Top.p = fix p (a n : nat) {struct n} : nat := match n return nat with | O => a "
        "| S m => Top.app_to (p a) m end : forall (_ : nat) (_ : nat), nat",
        "partially applied",
    ),
    "shadowed": (
        "Top.s = fix s (n : nat) : nat := match n return nat with | O => O "
        "| S m => (fun m : nat => s m) O end : forall _ : nat, nat",
        "decreasing argument m",
    ),
    "not_the_decreasing": (
        "Top.d = fix d (a n : nat) {struct n} : nat := match a return nat with | O => O "
        "| S b => d b b end : forall (_ : nat) (_ : nat), nat",
        "decreasing argument b",
    ),
    "no_struct": (
        "Top.q = fix q (a n : nat) : nat := O : forall (_ : nat) (_ : nat), nat",
        "cannot tell which argument decreases",
    ),
    "cofix": (
        "Top.ones = cofix ones : Top.stream := Top.Cons (S O) ones\n     : Top.stream",
        "cofixpoints",
    ),
    "in_mentions": (
        "Top.i = fix f (n : nat) : nat := match n in f return nat with | O => O "
        "| S m => f m end : forall _ : nat, nat",
        "'in' clause",
    ),
    "fix_in_inductive": (
        "Inductive t : Set :=  C : forall _ : @eq nat ((fix f (n : nat) : nat := f n) O) O, Top.t.",
        "a fixpoint in its type",
    ),
    "acc_inv_shadowed": (
        "Top.a = fun Acc_inv : forall _ : nat, nat => fix f (x : nat) (a : nat) {struct a} : nat "
        ":= f x (Acc_inv nat nat x a x x) : nat",
        "decreasing argument (Acc_inv",
    ),
    "acc_inv_of_other": (
        "Top.b = fix f (x : nat) (a : @Acc nat R x) (b : @Acc nat R x) {struct a} : nat "
        ":= f x (@Acc_inv nat R x b x x) b : nat",
        "decreasing argument (Acc_inv",
    ),
    # nested fixes that are not applied to a strict subterm give the outer nothing
    "nested_on_itself": (
        "Top.n = fix f (t : Top.rose) : nat := match t return nat with | Top.Node _ l => "
        "(fix g (l0 : list Top.rose) : nat := match l0 return nat with | nil => f t "
        "| cons x xs => g xs end) l end : forall _ : Top.rose, nat",
        "decreasing argument t",
    ),
    "nested_not_applied": (
        "Top.m = fix f (t : Top.rose) : nat := match t return nat with | Top.Node _ l => "
        "Top.app_to (fix g (l0 : list Top.rose) : nat := match l0 return nat with | nil => O "
        "| cons x xs => f x end) l end : forall _ : Top.rose, nat",
        "decreasing argument x",
    ),
    "numeral_with_local_s": (
        "Top.n = fun S : forall _ : nat, nat => S (S (S O)) : nat",
        "numerals ambiguous",
    ),
    # only "Arguments" paragraphs are dropped: anything else after a blank line is checked
    "trailer": (
        "Top.d = O\n     : nat\n\nArguments Top.d\n\nSomething (fix f (n : nat) : nat := f n)",
        "decreasing argument n",
    ),
    "elided": ("Top.e = @eq_refl nat (S (S (...)))\n     : nat", "could not analyse its term"),
    "sealed": ("*** [ Top.M.bad : @eq nat (S O) (S (S O)) ]", "body is hidden"),
    "unknown": ("Top.u : nat", "could not read how Coq prints it"),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_structural_recursion_passes(name: str) -> None:
    assert read_printed(f"Top.{name}", ACCEPTED[name]).problems == ()


def test_an_axiom_the_item_declares_has_no_body_to_check() -> None:
    # The audit judges the item's axioms against the allow-list.
    assert read_printed("Top.ax", "*** [ Top.ax : @eq nat O O ]", axiom=True).problems == ()


@pytest.mark.parametrize("name", REFUSED)
def test_recursion_outside_the_rule_is_refused(name: str) -> None:
    printed, why = REFUSED[name]
    problems = read_printed(f"Top.{name}", printed).problems
    assert problems and why in problems[0], problems


def test_the_item_names_a_term_mentions_are_followed() -> None:
    reading = read_printed("Top.tree_rect", ACCEPTED["tree_rect"])
    assert reading.references == {"Top.tree", "Top.leaf", "Top.node", "Top.tree_rect"}


def test_terms_parse_into_the_kernel_shapes() -> None:
    term, rest = parse_term("let fix f (n : nat) : nat := O in f (S (S O)) : nat")
    assert isinstance(term, Let) and isinstance(term.value, Fix) and term.name == "f"
    assert term.body == Cast(App(Var("f"), (Numeral("2"),)), Var("nat")) and rest == ""
    with pytest.raises(TermError):
        parse_term("fun => x")


def test_module_sealing_becomes_transparent_ascription() -> None:
    text = (
        "Module Type T. Parameter x : nat. End T.\n"
        "Module M : T. Definition x := 1. End M.\n"
        "Module Import N (X : T) (Y : T) : T := M.\n"
        "Declare Module D : T.\nModule P <: T := M.\nModule Q := M.\n"
        '(* Module C : T. *) Definition s := "Module S : T".'
    )
    unsealed = unseal(CoqSource(text)).text
    assert unsealed.splitlines() == [
        "Module Type T. Parameter x : nat. End T.",
        "Module M <: T. Definition x := 1. End M.",
        "Module Import N (X : T) (Y : T) <: T := M.",
        "Declare Module D : T.",
        "Module P <: T := M.",
        "Module Q := M.",
        '(* Module C : T. *) Definition s := "Module S : T".',
    ]
