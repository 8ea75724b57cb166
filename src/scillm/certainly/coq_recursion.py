"""Check untrusted recursion without trusting Coq's guard checker.

Coq 8.16's guard checker accepts non-terminating fixpoints (rocq#20413, #20455, and more in
:mod:`scillm.certainly.known_bugs`), and such a fixpoint proves ``False`` "closed under the
global context". So every ``fix`` in a term the input introduced must also pass this
deliberately simple rule, checked on the kernel terms Coq prints (``Set Printing All`` and
``Print``, opaque proofs included), for the checked declarations and every declaration of the
input they reach:

1. Each ``fix`` function has a known decreasing argument: its ``{struct x}`` binder, or its
   only binder.
2. Every occurrence of a function of the block is the head of an application that reaches its
   decreasing argument; it is never passed as a value, partially applied or cast.
3. That argument is a variable bound by a constructor pattern of a ``match`` whose scrutinee
   is the decreasing variable itself, or a variable already so bound (transitively a strict
   subterm). Nothing else counts: not a ``let``, not a ``fun`` argument (commutative cuts such
   as ``match … return T -> _ with … => fun y => f y end x`` are refused), not an application
   (``f (g x)``, a function-typed field applied), not a ``match`` on a ``match`` (#20455), and
   not a variable the fix's body binds any other way (#20413). A variable shadowed by any
   binder loses its status. Two exceptions, both structural: the standard library's
   ``Acc_inv A R x a y h`` with ``a`` the decreasing argument or a subterm of it (recursion on
   accessibility, as in ``Fix_F``: how ``Function``/``Program`` compile a ``measure``); and a
   ``fix`` applied on the spot to a strict subterm (nested recursion, ``match t with Node l =>
   (fix g l := … f x … g xs …) l end``), whose own decreasing variable then only ever holds
   subterms of it, so counts as a strict subterm for the enclosing functions too.
4. A ``match``'s ``in`` clause may not mention a recursive function or such a variable.
5. ``cofix`` is refused outright: checked code has no need for coinduction here.

``Fixpoint``, ``Function`` and ``Program Fixpoint`` by structural recursion or by ``measure``,
recursors, ``decide equality`` and nested recursion through an inner ``fix`` pass. Nested
recursion through ``map f l`` (``f`` passed as a value), recursion on ``f x`` for another
function-typed field, a ``let``-bound argument, and a proof whose term inlines a
standard-library fixpoint that breaks the rule (after ``unfold``/``cbv``) are refused: the
check errs towards ``failed``. A term this module cannot read fails the same way. A local
binder named ``S``, ``O`` or ``Acc_inv`` makes the terms where it matters unreadable (numerals
fail, ``Acc_inv`` is no longer the standard one).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from scillm.certainly.coq_output import LIBRARY
from scillm.certainly.coq_terms import (
    App,
    Case,
    Cast,
    Fix,
    Lam,
    Let,
    Numeral,
    Other,
    Term,
    TermError,
    Var,
    parse_term,
)

__all__ = ["PRINT_SETUP", "Reading", "read_printed"]

# How terms must print for this module: the whole term, flat matches with no default clause.
# Each Print also needs "Set Printing All" (no notations, every argument explicit).
PRINT_SETUP = (
    "Set Printing Width 100000. Set Printing Depth 1000000. "
    "Unset Printing Allow Match Default Clause. Unset Printing Factorizable Match Patterns."
)
_CONSTANT = re.compile(r"(?P<name>\S+?)(?:@\{[^}]*\})? =\s")
_DECLARATION = re.compile(r"(?:\*\*\* \[ |(?:Co)?Inductive |Variant |Record |Structure |Class )")
_NO_BODY = "*** ["
_FIX_WORD = re.compile(r"(?<![\w'.])(?:co)?fix(?![\w'])")
_REFERENCE = re.compile(rf"(?<![\w'.]){LIBRARY}\.[\w'.]*[\w']")


@dataclass(frozen=True)
class Reading:
    """What one ``Print`` showed: the problems found, and the item's names it refers to."""

    problems: tuple[str, ...]
    references: frozenset[str]


def read_printed(name: str, printed: str, axiom: bool = False) -> Reading:
    """Check the ``Print`` output of ``name`` (a ``Top.`` declaration) under :data:`PRINT_SETUP`.

    ``axiom`` says the item declares ``name`` as an axiom (the audit judges those); any other
    declaration shown without a body (sealed, or a module parameter) cannot be checked.
    """
    shown = name.removeprefix(f"{LIBRARY}.")
    text = printed.strip()
    references = frozenset(_REFERENCE.findall(text))
    if text.startswith(_NO_BODY) and not axiom:
        return Reading(
            (f"in {shown}: its body is hidden, so its recursion cannot be checked",), references
        )
    if _DECLARATION.match(text):
        # An inductive type or an axiom: no body to check, and no fixpoint allowed in its types.
        found = _FIX_WORD.search(text)
        problems = (f"in {shown}: a fixpoint in its type",) if found else ()
        return Reading(problems, references)
    header = _CONSTANT.match(text)
    if header is None:
        return Reading((f"in {shown}: could not read how Coq prints it",), references)
    # "Arguments ..." paragraphs follow the term; anything else left over fails the parse.
    paragraphs = text[header.end() :].split("\n\n")
    while len(paragraphs) > 1 and paragraphs[-1].startswith("Arguments "):
        paragraphs.pop()
    term_text = "\n\n".join(paragraphs)
    try:
        term, rest = parse_term(term_text)
        terms = [term]
        if rest.strip().startswith(":"):  # a fixpoint's type, after its "for" clause
            typ, rest = parse_term(rest.strip()[1:])
            terms.append(typ)
        if rest.strip():
            raise TermError(f"unexpected text after the term: {rest.strip()[:40]!r}")
    except TermError as exc:
        return Reading((f"in {shown}: could not analyse its term: {exc}",), references)
    # Print shows "body : type"; the parser reads that as a cast, which is checked the same way.
    checker = _Checker(shown)
    for term in terms:
        checker.walk(term, {})
    return Reading(tuple(dict.fromkeys(checker.problems)), references)


@dataclass(frozen=True)
class _Function:
    """A recursive function in scope: its block and the position of its decreasing argument."""

    block: int
    position: int | None


@dataclass(frozen=True)
class _Size:
    """A variable that is the decreasing argument (``decreasing``) or a strict subterm of it."""

    decreasing: frozenset[int] = frozenset()
    smaller: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Local:
    """A local binder that shadows a global name the rule relies on (``S``, ``O``, ``Acc_inv``)."""


_Info = _Function | _Size | _Local
_Env = dict[str, _Info]
# Acc_inv a h is the subterm H y h of a = Acc_intro H: recursion on it is well-founded, and it
# is how the standard library's Fix_F (Program, Function's "measure") recurses.
_ACC_INV = frozenset({"Acc_inv", "Wf.Acc_inv", "Coq.Init.Wf.Acc_inv"})
_WATCHED = frozenset({"S", "O"}) | _ACC_INV


@dataclass
class _Checker:
    constant: str
    problems: list[str] = field(default_factory=list)
    _blocks: itertools.count[int] = field(default_factory=itertools.count)

    def problem(self, text: str) -> None:
        self.problems.append(f"in {self.constant}: {text}")

    def walk(self, term: Term, env: _Env) -> None:
        if isinstance(term, Var):
            if isinstance(env.get(term.name), _Function):
                self.problem(
                    f"the recursive function {term.name} is used without its decreasing "
                    "argument (passed as a value or partially applied)"
                )
        elif isinstance(term, Numeral):
            if any(name in env for name in ("S", "O")):  # shadowed: see _Local
                self.problem("a local name S or O makes its numerals ambiguous")
        elif isinstance(term, App):
            self._app(term, env)
        elif isinstance(term, Lam):
            for binder in term.binders:
                self.walk(binder.type, env)
                env = _bind(env, binder.name)
            self.walk(term.body, env)
        elif isinstance(term, Let):
            if term.type is not None:
                self.walk(term.type, env)
            self.walk(term.value, env)
            self.walk(term.body, _bind(env, term.name))
        elif isinstance(term, Cast):
            self.walk(term.term, env)
            self.walk(term.type, env)
        elif isinstance(term, Case):
            self._case(term, env)
        elif isinstance(term, Fix):
            self._fix(term, env)
        else:
            assert isinstance(term, Other)

    def _app(self, term: App, env: _Env) -> None:
        head = term.head
        info = env.get(head.name) if isinstance(head, Var) else None
        if isinstance(head, Var) and isinstance(info, _Function):
            self._call(head.name, info, term.args, env)
        elif isinstance(head, Fix):
            self._fix(head, env, term.args)
        else:
            self.walk(head, env)
        for arg in term.args:
            self.walk(arg, env)

    def _call(self, name: str, info: _Function, args: tuple[Term, ...], env: _Env) -> None:
        if info.position is None:
            return  # already reported at the fix: no decreasing argument
        if len(args) <= info.position:
            self.problem(
                f"the recursive function {name} is partially applied (its decreasing argument "
                f"is argument {info.position + 1})"
            )
            return
        arg = args[info.position]
        if info.block in _smaller(arg, env):
            return
        self.problem(
            f"the recursive call to {name} has decreasing argument {_show(arg)}, which is not "
            "a variable bound by a constructor pattern of a match on the decreasing argument "
            "(or on a subterm of it)"
        )

    def _case(self, term: Case, env: _Env) -> None:
        self.walk(term.scrutinee, env)
        if term.in_clause is not None:
            mentioned = (env.get(n.name) for n in _names(term.in_clause))
            if any(isinstance(info, _Function | _Size) for info in mentioned):
                self.problem("a match's 'in' clause mentions a recursive function or argument")
        if term.returns is not None:
            inner = env
            for name in term.bound:
                inner = _bind(inner, name)
            self.walk(term.returns, inner)
        scrutinee = env.get(term.scrutinee.name) if isinstance(term.scrutinee, Var) else None
        smaller = scrutinee.decreasing | scrutinee.smaller if isinstance(scrutinee, _Size) else None
        for _constructor, names, body in term.branches:
            inner = env
            for name in names:
                inner = _bind(inner, name, _Size(smaller=smaller) if smaller else None)
            self.walk(body, inner)

    def _fix(self, term: Fix, env: _Env, args: tuple[Term, ...] = ()) -> None:
        """Check a fix block; ``args`` are what it is applied to, if it is (nested recursion)."""
        names = ", ".join(decl.name for decl in term.decls)
        if term.co:
            self.problem(f"cofix {names}: scillm does not accept cofixpoints in checked code")
            return
        block = next(self._blocks)
        positions = []
        for decl in term.decls:
            binders = [binder.name for binder in decl.binders]
            struct = binders[0] if decl.struct is None and len(binders) == 1 else decl.struct
            position = binders.index(struct) if struct in binders else None
            if position is None:
                self.problem(f"fix {decl.name}: cannot tell which argument decreases")
            positions.append(position)
            scope = env
            for binder in decl.binders:
                self.walk(binder.type, scope)
                scope = _bind(scope, binder.name)
            if decl.type is not None:
                self.walk(decl.type, scope)
        # Applied to a strict subterm of outer decreasing arguments, the block only ever sees
        # subterms of it: its own decreasing variables are smaller than those outer ones too.
        chosen = next(i for i, decl in enumerate(term.decls) if decl.name == term.chosen)
        entry = positions[chosen]
        outer = _smaller(args[entry], env) if entry is not None and entry < len(args) else None
        inner = env
        for decl, position in zip(term.decls, positions, strict=True):
            inner = _bind(inner, decl.name, _Function(block, position))
        for decl, position in zip(term.decls, positions, strict=True):
            scope = inner
            for index, binder in enumerate(decl.binders):
                size = (
                    _Size(frozenset({block}), outer or frozenset()) if index == position else None
                )
                scope = _bind(scope, binder.name, size)
            self.walk(decl.body, scope)


def _smaller(arg: Term, env: _Env) -> frozenset[int]:
    """The blocks whose decreasing argument ``arg`` is a strict subterm of."""
    if isinstance(arg, Var):
        size = env.get(arg.name)
        return size.smaller if isinstance(size, _Size) else frozenset()
    head = arg.head if isinstance(arg, App) else None
    if isinstance(arg, App) and isinstance(head, Var) and head.name in _ACC_INV:
        accessible = arg.args[3] if len(arg.args) == 6 else None  # @Acc_inv A R x a y h
        size = env.get(accessible.name) if isinstance(accessible, Var) else None
        if head.name not in env and isinstance(size, _Size):
            return size.decreasing | size.smaller
    return frozenset()


def _bind(env: _Env, name: str, info: _Info | None = None) -> _Env:
    """``env`` with ``name`` bound afresh: shadowed, or given ``info``."""
    if info is None and name in _WATCHED:
        info = _Local()
    if info is None and name not in env:
        return env
    inner = dict(env)
    if info is None:
        del inner[name]
    else:
        inner[name] = info
    return inner


def _names(term: Term) -> list[Var]:
    if isinstance(term, Var):
        return [term]
    if isinstance(term, App):
        return [name for part in (term.head, *term.args) for name in _names(part)]
    return []


def _show(term: Term) -> str:
    if isinstance(term, Var):
        return term.name
    if isinstance(term, Numeral | Other):
        return term.text
    if isinstance(term, App):
        return "(" + " ".join(_show(t) for t in (term.head, *term.args))[:60] + ")"
    return f"({_KIND.get(type(term).__name__, type(term).__name__.lower())} …)"


_KIND = {"Case": "match", "Lam": "fun", "Cast": "cast"}
