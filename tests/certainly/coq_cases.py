"""The Coq cases every backend test shares: checked once per session in one batch.

``CODE`` and ``STATEMENTS`` exercise the verdict details; ``TRUE`` and ``FALSE`` are the truth
suite. Every FALSE entry states something false (or hides what it states). ``HONEST`` names
every case that must be proved; nothing else may be.
"""

from __future__ import annotations

from typing import Any

from coq_exploits import EXPLOITS

CODE: dict[str, str] = {
    "true": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed.",
    "admitted": "Theorem t : 1 = 2. Proof. Admitted.",
    "axiom": "Axiom one_eq_two : 1 = 2.\nTheorem t : 1 = 2. Proof. exact one_eq_two. Qed.",
    "admit": "Theorem t : 1 = 2.\nProof. admit. Admitted.",
    "admit_qed": "Theorem t : 1 = 2.\nProof. admit. Qed.",
    "abort": "Theorem t : 1 = 2.\nProof. Abort.",
    "helper": (
        "Lemma helper : 1 = 2. Proof. Admitted.\n"
        "Theorem t : 2 = 3. Proof. rewrite <- helper. Abort.\n"
        "Theorem u : 2 = 1. Proof. symmetry. exact helper. Qed."
    ),
    "syntax": (
        "Theorem t : 1 = 1.\nProof.\n  reflexivity.\nQed.\nLemma u : 1 = 1.\nProof. intros [|. Qed."
    ),
    "wrong": "Theorem t : 1 = 2.\nProof. reflexivity. Qed.",
    "notation": (
        'Notation "x = y" := (x = x) : type_scope.\nTheorem t : 1 = 2. Proof. reflexivity. Qed.'
    ),
    "new_notation": 'Infix "=?=" := eq (at level 70).\nTheorem t : 1 =?= 1. Proof. easy. Qed.',
    "abbreviation": "Notation False := True.\nTheorem t : False. Proof. exact I. Qed.",
    "guard": (
        "Unset Guard Checking.\nFixpoint loop (n : nat) : False := loop n.\n"
        "Set Guard Checking.\nTheorem f : False. Proof. exact (loop 0). Qed."
    ),
    "classical": (
        "Require Import Classical.\nTheorem em (P : Prop) : P \\/ ~ P.\nProof. apply classic. Qed."
    ),
    "shadow_def": "Definition False := True.\nTheorem t : False. Proof. exact I. Qed.",
    "shadow_theorem": (
        "Theorem False : Prop. Proof. exact True. Defined.\nTheorem t : False. Proof. exact I. Qed."
    ),
    "shadow_library": (
        "Require Import List.\nDefinition rev (l : list nat) := l.\n"
        "Theorem t : forall l : list nat, rev l = l. Proof. reflexivity. Qed."
    ),
    "shadow_module": (
        "Module Nat. Definition add (a b : nat) := 0. End Nat.\n"
        "Theorem t : Nat.add 2 2 = 0. Proof. reflexivity. Qed."
    ),
    "own_names": (
        "Require Import Arith.\nDefinition double (n : nat) := n + n.\n"
        "Theorem t : double 2 = 4. Proof. reflexivity. Qed.\nLemma add : 1 = 1. Proof. auto. Qed."
    ),
    "redirect": (
        'Redirect "/tmp/scillm-test-redirect" Check nat.\nTheorem t : True. Proof. exact I. Qed.'
    ),
    "nothing": "Definition one := 1.\nCheck one.",
    "no_theorem": "Check 1.",
}

STATEMENTS: dict[str, dict[str, Any]] = {
    "stmt_ok": {
        "statement": "forall n : nat, n + 0 = n",
        "proof": "Proof. induction n; simpl; auto. Qed.",
    },
    "stmt_decl": {
        "statement": "Theorem add_0 (n : nat) : n + 0 = n.",
        "proof": "induction n; simpl; auto.",
        "imports": ["Arith"],
    },
    "stmt_redefined": {
        "statement": "1 = 2",
        "proof": "Abort.\nTheorem scillm_goal : 1 = 1. Proof. reflexivity. Qed.",
    },
    "stmt_weakened": {
        "statement": "forall n : nat, n = n + 1",
        "proof": "Abort.\nTheorem scillm_goal : forall n : nat, n = n + 0. Proof. auto. Qed.",
    },
    "stmt_two_sentences": {"statement": "1 = 2. Proof", "proof": "reflexivity."},
}


def code(text: str) -> dict[str, Any]:
    return {"code": text}


def stated(statement: str, proof: str, *imports: str) -> dict[str, Any]:
    return {"statement": statement, "proof": proof, "imports": list(imports)}


TRUE: dict[str, dict[str, Any]] = {
    "conj": code("Theorem t : True /\\ 1 = 1. Proof. split; reflexivity. Qed."),
    "refl": code("Theorem t : 2 + 2 = 4. Proof. reflexivity. Qed."),
    "comm": stated(
        "forall a b : nat, a + b = b + a", "Proof. intros. apply Nat.add_comm. Qed.", "Arith"
    ),
    "lia": stated("forall n : nat, 2 * n = n + n", "Proof. intros; lia. Qed.", "Lia"),
    "lists": stated(
        "forall (A : Type) (l m : list A), length (l ++ m) = length l + length m",
        "Proof. intros. apply app_length. Qed.",
        "From Coq Require Import List.",
    ),
    "induction": code(
        "Require Import Lia.\n"
        "Fixpoint sum_to (n : nat) : nat := match n with 0 => 0 | S k => n + sum_to k end.\n"
        "Theorem gauss : forall n, 2 * sum_to n = n * (n + 1).\n"
        "Proof. induction n as [|k IH]; simpl; lia. Qed."
    ),
    "sealed_module": code(
        "Module Type T. Parameter one : nat. End T.\n"
        "Module M : T. Definition one := 1. End M.\n"
        "Theorem t : M.one = M.one. Proof. reflexivity. Qed."
    ),
    # structural recursion the item defines passes scillm's own recursion check
    "double": code(
        "Fixpoint double (n : nat) : nat := match n with 0 => 0 | S m => S (S (double m)) end.\n"
        "Theorem double_plus : forall n, double n = n + n.\n"
        "Proof. induction n as [|m IH]; simpl; [reflexivity|]. "
        "rewrite IH, <- plus_n_Sm. reflexivity. Qed."
    ),
    "app_rev": code(
        "Require Import List. Import ListNotations.\n"
        "Fixpoint my_app {A} (l m : list A) : list A :=\n"
        "  match l with [] => m | x :: xs => x :: my_app xs m end.\n"
        "Fixpoint my_rev {A} (l : list A) : list A :=\n"
        "  match l with [] => [] | x :: xs => my_app (my_rev xs) [x] end.\n"
        "Lemma my_app_nil {A} (l : list A) : my_app l [] = l.\n"
        "Proof. induction l; simpl; congruence. Qed.\n"
        "Lemma my_app_assoc {A} (l m k : list A) :\n"
        "  my_app (my_app l m) k = my_app l (my_app m k).\n"
        "Proof. induction l; simpl; congruence. Qed.\n"
        "Theorem my_rev_app {A} (l m : list A) :\n"
        "  my_rev (my_app l m) = my_app (my_rev m) (my_rev l).\n"
        "Proof.\n"
        "  induction l; simpl. - now rewrite my_app_nil. - rewrite IHl. now rewrite my_app_assoc.\n"
        "Qed."
    ),
    "nested_match": code(
        "Fixpoint eqb (n m : nat) : bool :=\n"
        "  match n, m with 0, 0 => true | S a, S b => eqb a b | _, _ => false end.\n"
        "Theorem eqb_same : forall n, eqb n n = true. Proof. induction n; simpl; auto. Qed."
    ),
    "mutual": code(
        "Fixpoint even (n : nat) : bool := match n with 0 => true | S k => odd k end\n"
        "with odd (n : nat) : bool := match n with 0 => false | S k => even k end.\n"
        "Theorem even_4 : even 4 = true. Proof. reflexivity. Qed."
    ),
    "tree": code(
        "Require Import Lia.\n"
        "Inductive tree := leaf | node (l : tree) (x : nat) (r : tree).\n"
        "Fixpoint size (t : tree) : nat :=\n"
        "  match t with leaf => 0 | node l _ r => size l + 1 + size r end.\n"
        "Fixpoint mirror (t : tree) : tree :=\n"
        "  match t with leaf => leaf | node l x r => node (mirror r) x (mirror l) end.\n"
        "Theorem size_mirror : forall t, size (mirror t) = size t.\n"
        "Proof. induction t; simpl; lia. Qed."
    ),
    "function": code(
        "Require Import Recdef.\n"
        "Function half (n : nat) {struct n} : nat :=\n"
        "  match n with S (S k) => S (half k) | _ => 0 end.\n"
        "Theorem half_4 : half 4 = 2. Proof. reflexivity. Qed."
    ),
    "program_measure": code(
        "Require Import Program Arith.\n"
        "Program Fixpoint log2 (n : nat) {measure n} : nat :=\n"
        "  match n with 0 | 1 => 0 | _ => S (log2 (Nat.div2 n)) end.\n"
        "Next Obligation.\n"
        "  apply Nat.lt_div2.\n"
        "  destruct n as [|[|n]]; [contradiction|contradiction|auto with arith].\n"
        "Qed.\n"
        "Theorem log2_total : forall n, log2 n >= 0. Proof. intros; auto with arith. Qed."
    ),
    "rose_tree": code(
        "Require Import List.\n"
        "Inductive rose := Node : nat -> list rose -> rose.\n"
        "Fixpoint size (t : rose) : nat :=\n"
        "  match t with\n"
        "  | Node _ l => S ((fix size_list (l : list rose) : nat :=\n"
        "                    match l with nil => 0 | x :: xs => size x + size_list xs end) l)\n"
        "  end.\n"
        "Theorem size_two : size (Node 1 (Node 2 nil :: nil)) = 2. Proof. reflexivity. Qed."
    ),
    "prop_inductive": code(
        "Inductive even : nat -> Prop := even0 : even 0 | even2 n : even n -> even (S (S n)).\n"
        "Theorem even_double : forall n, even n -> exists k, n = k + k.\n"
        "Proof.\n"
        "  intros n H. induction H as [|n H [k ->]]. - now exists 0.\n"
        "  - exists (S k). simpl. rewrite <- plus_n_Sm. reflexivity.\n"
        "Qed."
    ),
    "functor_inductive": code(
        "Module Type T. End T.\nModule F (X : T). Inductive u := c. End F.\n"
        "Theorem t : 1 = 1. Proof. reflexivity. Qed."
    ),
    "function_measure": code(
        "Require Import Recdef Lia.\n"
        "Function div2 (n : nat) {measure (fun x => x) n} : nat :=\n"
        "  match n with S (S k) => S (div2 k) | _ => 0 end.\n"
        "Proof. intros; lia. Defined.\n"
        "Theorem div2_4 : div2 4 = 2.\n"
        "Proof. rewrite !div2_equation. reflexivity. Qed."
    ),
    "decide_equality": code(
        "Inductive color := R | G | B.\n"
        "Definition color_dec (a b : color) : {a = b} + {a <> b}.\n"
        "Proof. decide equality. Defined.\n"
        "Theorem same : forall a : color, a = a.\n"
        "Proof. intros a. destruct (color_dec a a); auto. Qed."
    ),
    # false negatives that used to be refused
    "one_field_class": code(
        "Class Default (A : Type) := default : A.\n"
        "#[export] Instance default_nat : Default nat := 0.\n"
        "Theorem default_is_zero : default = 0. Proof. reflexivity. Qed."
    ),
    "native_compute": stated("Nat.pow 2 10 = 1024", "Proof. native_compute. reflexivity. Qed."),
    "vm_compute": code("Theorem t : Nat.pow 2 10 = 1024. Proof. vm_compute. reflexivity. Qed."),
    "load_in_string": code(
        "Require Import String. Open Scope string_scope.\n"
        'Definition command := "Load x. Redirect ""y"" Check nat.".\n'
        "Theorem t : String.length command = 31. Proof. reflexivity. Qed."
    ),
    "load_in_comment": code(
        '(* We never Load "x" or Cd "/" here; (* nested "*)" *) *)\n'
        "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."
    ),
}

FALSE: dict[str, dict[str, Any]] = {
    # plain wrong proofs
    "auto": code("Theorem f : 0 = 1. Proof. auto. Qed."),
    "lia": code("Require Import Lia.\nTheorem f : forall n : nat, n < n. Proof. intros; lia. Qed."),
    "borrowed": code(
        "Lemma one : 1 = 1. Proof. reflexivity. Qed.\nTheorem f : 1 = 2. Proof. exact one. Qed."
    ),
    # unfinished proofs
    "admit_defined": code("Theorem f : 1 = 2. Proof. admit. Defined."),
    "give_up": code("Theorem f : 1 = 2. Proof. give_up. Admitted."),
    "ltac_admit": code("Definition f : 1 = 2 := ltac:(admit)."),
    "abort_redeclare": code(
        "Theorem f : 1 = 2. Proof. Abort.\nTheorem f : 1 = 1. Proof. reflexivity. Qed."
    ),
    "reset": code(
        "Definition x := 1.\nTheorem f : x = 2. Proof. Admitted.\nReset x.\n"
        "Definition x := 2.\nTheorem f : x = 2. Proof. reflexivity. Qed."
    ),
    "nested_helper": code(
        "Set Nested Proofs Allowed.\n"
        "Theorem f : 1 = 2. Proof. Lemma helper : 1 = 2. Admitted. exact helper. Qed."
    ),
    "program_obligation": code(
        "Require Import Program.\nProgram Definition x : {n : nat | n = 1} := 2.\n"
        "Next Obligation. Admitted.\nTheorem f : 2 = 1. Proof. exact (proj2_sig x). Qed."
    ),
    "let_in_section": code(
        "Section S. Let ax : 1 = 2. Admitted.\nTheorem f : 1 = 2. Proof. exact ax. Qed. End S."
    ),
    "sealed_admitted": code(
        "Module Type T. Parameter bad : 1 = 2. End T.\n"
        "Module M : T. Definition bad : 1 = 2. Admitted. End M.\n"
        "Theorem f : 1 = 2. Proof. exact M.bad. Qed."
    ),
    # injected axioms
    "parameter": code("Parameter bad : 1 = 2.\nTheorem f : 1 = 2. Proof. exact bad. Qed."),
    "conjecture": code("Conjecture bad : False.\nTheorem f : 1 = 2. Proof. destruct bad. Qed."),
    "context": code("Context (bad : 1 = 2).\nTheorem f : 1 = 2. Proof. exact bad. Qed."),
    "functor_axiom": code(
        "Module Type T. Axiom bad : False. End T.\n"
        "Module F (X : T). Theorem f : False. Proof. exact X.bad. Qed. End F."
    ),
    # switched-off kernel checks
    "bypass_guard": code(
        "#[bypass_check(guard)] Fixpoint loop (n : nat) : False := loop n.\n"
        "Theorem f : False. Proof. exact (loop 0). Qed."
    ),
    "positivity": code(
        "Unset Positivity Checking.\nInductive bad := B : (bad -> False) -> bad.\n"
        "Definition no (b : bad) : False := match b with B g => g b end.\n"
        "Theorem f : False. Proof. exact (no (B no)). Qed."
    ),
    "universes": code("Unset Universe Checking.\nTheorem f : False -> 1 = 2. Proof. easy. Qed."),
    # statements that do not mean what they say
    "shadow_nat": code(
        "Inductive nat := O.\nTheorem f : forall n m : nat, n = m. Proof. intros [] []. auto. Qed."
    ),
    # a statement given separately: the checked theorem must state exactly it
    "section_hypothesis": stated(
        "1 = 2",
        "Abort.\nSection S. Hypothesis H : 1 = 2.\n"
        "Theorem scillm_goal : 1 = 2. Proof. exact H. Qed. End S.",
    ),
    "shadow_after_statement": stated(
        "False",
        "Abort.\nDefinition False := True.\nTheorem scillm_goal : False. Proof. exact I. Qed.",
    ),
    "stated_admitted": stated("1 = 2", "Admitted."),
    "smuggled_sentence": stated("1 = 2. Admitted. Lemma x : True", "exact I."),
    "import_definition": stated("False", "Proof. exact I. Qed.", "Definition False := True."),
    "import_notation": stated(
        "1 = 2", "Proof. reflexivity. Qed.", 'Notation "x = y" := (x = x) (only parsing).'
    ),
    # commands that reach outside the proof
    "load": code('Load "/etc/hostname".\nTheorem f : 1 = 1. Proof. reflexivity. Qed.'),
    # notations and coercions that change what a statement says (coqc proves each one)
    "notation_false_word": code(
        "Notation \"'False'\" := True.\nTheorem f : False. Proof. exact I. Qed."
    ),
    "notation_numeral": code('Notation "2" := 1.\nTheorem f : 1 = 2. Proof. reflexivity. Qed.'),
    "number_notation_zero": code(
        "Definition zero_of (u : Number.uint) : option nat := Some 0.\n"
        "Definition no_print (n : nat) : option Number.uint := None.\n"
        "Number Notation nat zero_of no_print : nat_scope.\n"
        "Theorem f : 1 = 2. Proof. reflexivity. Qed."
    ),
    "notation_forall": code(
        "Notation \"'forall' x , P\" := (exists x, P)\n"
        "  (at level 200, x binder, right associativity).\n"
        "Theorem f : forall n : nat, n = 5. Proof. exists 5. reflexivity. Qed."
    ),
    "delimit_scope": code(
        "Require Import ZArith.\nDelimit Scope Z_scope with nat.\n"
        "Theorem f : (0 - 1 < 0)%nat. Proof. reflexivity. Qed."
    ),
    "coercion_sort": code(
        "Definition holds (b : bool) : Prop := True.\nCoercion holds : bool >-> Sortclass.\n"
        "Theorem f : false. Proof. exact I. Qed."
    ),
    # kernel bugs: the guard checker accepts these non-terminating fixpoints (coq_exploits)
    **EXPLOITS,
}


HONEST = {"true", "nothing", "new_notation", "own_names", "stmt_ok", "stmt_decl"} | {
    f"true/{name}" for name in TRUE
}
CASES: dict[str, dict[str, Any]] = {
    **{name: {"code": text} for name, text in CODE.items()},
    **STATEMENTS,
    **{f"true/{name}": fields for name, fields in TRUE.items()},
    **{f"false/{name}": fields for name, fields in FALSE.items()},
}
