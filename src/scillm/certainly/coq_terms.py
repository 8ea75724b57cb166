"""Parse the terms Coq prints under ``Set Printing All`` into a small syntax tree.

Printing All shows the kernel term: no notations, every argument explicit, every ``match`` flat
(one constructor and its variables per branch), every ``fix`` with its ``{struct}`` argument
when it has more than one. This parser reads exactly that language and raises
:class:`TermError` on anything else, so a caller that needs a verdict can fail closed. Unary
numerals (``S (S O)``) become one :class:`Numeral` so a large number does not nest deeply.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "App",
    "Binder",
    "Case",
    "Cast",
    "Fix",
    "FixDecl",
    "Lam",
    "Let",
    "Numeral",
    "Other",
    "Term",
    "TermError",
    "Var",
    "parse_term",
]

# Nesting a term may have before parsing gives up (each level costs a few Python frames).
MAX_RECURSION = 60_000
_TOKEN = re.compile(
    r"\s*(?:(?P<string>\"(?:[^\"]|\"\")*\")|(?P<word>[\w'][\w'.]*(?:%\w+)?)"
    r"|(?P<punct>:=|=>|<<:|<:|@\{|[():{}|,@]))",
    re.UNICODE,
)
_KEYWORDS = frozenset(
    {"fun", "forall", "let", "in", "fix", "cofix", "with", "for", "match", "as", "return", "end"}
)
# Tokens that end a term: the parser stops there and lets the enclosing construct read them.
_STOPS = (_KEYWORDS - {"fun", "forall", "let", "fix", "cofix", "match"}) | frozenset(
    (")", "}", "|", ",", ":=", "=>", ":", "<:", "<<:")
)


class TermError(ValueError):
    """The text is not a term in the Printing All language this parser reads."""


@dataclass(frozen=True)
class Var:
    """A variable or a global name (``n``, ``Top.double``, ``nat``)."""

    name: str


@dataclass(frozen=True)
class Numeral:
    """A unary numeral ``S (… (S O))`` or a primitive literal: no names inside."""

    text: str


@dataclass(frozen=True)
class Other:
    """A sort, a string, or ``_``: nothing a recursion check looks into."""

    text: str


@dataclass(frozen=True)
class App:
    head: Term
    args: tuple[Term, ...]


@dataclass(frozen=True)
class Binder:
    """One bound name and its type."""

    name: str
    type: Term


@dataclass(frozen=True)
class Lam:
    """``fun`` (``product=False``) or ``forall`` (``product=True``)."""

    binders: tuple[Binder, ...]
    body: Term
    product: bool


@dataclass(frozen=True)
class Let:
    name: str
    type: Term | None
    value: Term
    body: Term


@dataclass(frozen=True)
class Cast:
    term: Term
    type: Term


@dataclass(frozen=True)
class Case:
    """``match scrutinee as/in … return … with | C x y => body … end``.

    ``bound`` are the names the ``as``/``in`` clauses bind in ``returns``; ``in_clause`` is the
    ``in`` clause's term, kept so a check can see which names it mentions.
    """

    scrutinee: Term
    bound: tuple[str, ...]
    in_clause: Term | None
    returns: Term | None
    branches: tuple[tuple[str, tuple[str, ...], Term], ...]


@dataclass(frozen=True)
class FixDecl:
    """One function of a ``fix``/``cofix`` block; ``struct`` names its decreasing binder."""

    name: str
    binders: tuple[Binder, ...]
    struct: str | None
    type: Term | None
    body: Term


@dataclass(frozen=True)
class Fix:
    """A ``fix`` (``co=False``) or ``cofix`` block, and the function it stands for."""

    decls: tuple[FixDecl, ...]
    chosen: str
    co: bool


Term = Var | Numeral | Other | App | Lam | Let | Cast | Case | Fix


def parse_term(text: str) -> tuple[Term, str]:
    """The term at the start of ``text``, and the text after it."""
    parser = _Parser(text)
    with _deep_recursion():
        try:
            term = parser.term()
        except RecursionError:
            raise TermError("the term is nested too deeply to analyse") from None
    return term, text[parser.offset() :]


@contextmanager
def _deep_recursion() -> Iterator[None]:
    # Python 3.11 runs Python-to-Python calls without growing the C stack, so a higher limit
    # for the parse is safe; it is restored afterwards.
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, MAX_RECURSION))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens: list[tuple[str, int]] = []  # (token, end offset)
        pos = 0
        while True:
            found = _TOKEN.match(text, pos)
            if found is None or found.end() == pos:
                break
            token = found.group("string") or found.group("word") or found.group("punct")
            self._tokens.append((token, found.end()))
            pos = found.end()
        self._tokens = _numerals(self._tokens)
        self._i = 0

    def offset(self) -> int:
        return self._tokens[self._i - 1][1] if self._i else 0

    def peek(self) -> str | None:
        return self._tokens[self._i][0] if self._i < len(self._tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise TermError(f"expected {expected or 'a token'}, found {token!r}")
        self._i += 1
        return token

    def name(self) -> str:
        token = self.take()
        if not (token == "_" or _is_word(token)) or token in _KEYWORDS:
            raise TermError(f"expected a name, found {token!r}")
        return token

    def term(self) -> Term:
        token = self.peek()
        if token in ("fun", "forall"):
            self.take()
            binders = self.binders("=>" if token == "fun" else ",")
            if not binders:
                raise TermError(f"{token} without a binder")
            self.take("=>" if token == "fun" else ",")
            return Lam(binders, self.term(), token == "forall")
        if token == "let":
            self.take()
            if self.peek() in ("fix", "cofix"):  # "let fix f … in b" is "let f := fix f … in b"
                block = self.fix(self.take() == "cofix")
                self.take("in")
                return Let(block.chosen, None, block, self.term())
            name = self.name()
            typ = None
            if self.peek() == ":":
                self.take()
                typ = self.term()
            self.take(":=")
            value = self.term()
            self.take("in")
            return Let(name, typ, value, self.term())
        if token in ("fix", "cofix"):
            self.take()
            return self.fix(token == "cofix")
        term = self.application()
        if self.peek() in (":", "<:", "<<:"):
            self.take()
            return Cast(term, self.term())
        return term

    def application(self) -> Term:
        head = self.atom()
        args: list[Term] = []
        while self.peek() is not None and self.peek() not in _STOPS:
            args.append(self.atom())
        return App(head, tuple(args)) if args else head

    def atom(self) -> Term:
        token = self.take()
        if token == "(":
            inner = self.term()
            self.take(")")
            return inner
        if token == "@":
            return Var(self.name())
        if token == "match":
            return self.case()
        if token.startswith('"') or token == "_":
            return Other(token)
        if token.startswith("#"):
            return Numeral(token[1:])
        if token[0].isdigit():
            return Numeral(token)
        if not _is_word(token) or token in _KEYWORDS:
            raise TermError(f"unexpected {token!r}")
        if self.peek() == "@{":  # a universe instance: Type@{u}, Top.c@{u v}
            while self.take() != "}":
                pass
        return Var(token)

    def binders(self, end: str) -> tuple[Binder, ...]:
        """Binder groups up to ``end``: ``(x y : T) {A : Type}`` or bare ``x y : T``."""
        found: list[Binder] = []
        while self.peek() != end:
            if self.peek() in ("(", "{"):
                close = ")" if self.take() == "(" else "}"
                found += self.group(close)
                self.take(close)
            else:
                found += self.group(end)
        return tuple(found)

    def group(self, end: str) -> list[Binder]:
        names = []
        while self.peek() != ":":
            names.append(self.name())
        self.take(":")
        typ = self.term()
        if self.peek() != end:
            raise TermError(f"expected {end!r} after a binder")
        return [Binder(name, typ) for name in names]

    def fix(self, co: bool) -> Fix:
        decls = [self.fix_decl()]
        while self.peek() == "with":
            self.take()
            decls.append(self.fix_decl())
        chosen = decls[0].name
        if self.peek() == "for":
            self.take()
            chosen = self.name()
        return Fix(tuple(decls), chosen, co)

    def fix_decl(self) -> FixDecl:
        name = self.name()
        binders: list[Binder] = []
        struct = None
        while self.peek() not in (":", ":="):
            opener = self.take()
            if opener == "{" and self.peek() == "struct":
                self.take()
                struct = self.name()
                self.take("}")
            elif opener in ("(", "{"):
                close = ")" if opener == "(" else "}"
                binders += self.group(close)
                self.take(close)
            else:
                raise TermError(f"unexpected {opener!r} in a fix binder")
        typ = None
        if self.peek() == ":":
            self.take()
            typ = self.term()
        self.take(":=")
        return FixDecl(name, tuple(binders), struct, typ, self.term())

    def case(self) -> Case:
        scrutinee = self.term()
        bound: list[str] = []
        in_clause = returns = None
        if self.peek() == "as":
            self.take()
            bound.append(self.name())
        if self.peek() == "in":
            self.take()
            in_clause = self.application()
            bound += [n.name for n in _args(in_clause) if isinstance(n, Var)]
        if self.peek() == "return":
            self.take()
            returns = self.term()
        self.take("with")
        branches = []
        while self.peek() != "end":
            if self.peek() == "|":
                self.take()
            if self.peek() == "@":
                self.take()
            constructor = self.name()
            names = []
            while self.peek() != "=>":
                names.append(self.name())
            self.take("=>")
            branches.append((constructor, tuple(names), self.term()))
        self.take("end")
        return Case(scrutinee, tuple(bound), in_clause, returns, tuple(branches))


def _args(term: Term) -> tuple[Term, ...]:
    return term.args if isinstance(term, App) else ()


def _is_word(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_" or token[0] == "'"


def _numerals(tokens: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Fold each parenthesised ``(S (S … (S O)))`` into one ``#<n>`` token."""
    words = [token for token, _ in tokens]
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(tokens):
        depth, j = 0, i + 1
        while words[i] == "(" and words[j : j + 2] == ["S", "("]:
            depth, j = depth + 1, j + 2
        end = j + 2 + depth
        if (
            words[i] == "("
            and words[j : j + 2] == ["S", "O"]
            and words[j + 2 : end + 1] == [")"] * (depth + 1)
        ):
            out.append((f"#{depth + 1}", tokens[end][1]))
            i = end + 1
        else:
            out.append(tokens[i])
            i += 1
    return out
