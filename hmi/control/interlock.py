"""Interlock conditions: a small expression language over tag values, parsed once and evaluated without `eval`.

Grammar (case-sensitive keywords, tag names as in the plant file)::

    expr   := term ('or' term)*
    term   := factor ('and' factor)*
    factor := 'not' factor | '(' expr ')' | compare
    compare:= operand (('==' | '!=' | '<' | '<=' | '>' | '>=') operand)?
    operand:= NUMBER | "text" | 'text' | true | false | TAG

A tag alone means "is true". An interlock on a value that is not of GOOD quality is not met: a write must never
rest on a value nobody can trust (ISA-101 / IEC 61511 practice: a permissive is proven, not assumed).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from hmi.texts import Text, joined

NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|<=|>=|<|>|\(|\))|(?P<str>"[^"\\]*"|'[^'\\]*')|(?P<word>[A-Za-z0-9_.\-]+))""")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
MAX_LENGTH = 500


class InterlockSyntaxError(ValueError):
    """The expression cannot be read; the message says where and what was expected."""


class Reading(Protocol):
    """What an interlock needs of a tag's current state (a TagState satisfies it)."""

    @property
    def value(self) -> Any: ...

    @property
    def good(self) -> bool: ...

    @property
    def quality(self) -> Any: ...


Lookup = Callable[[str], Reading | None]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the interlock is met and, when not, why in words an operator understands."""

    met: bool
    why: str = ""
    """A `Text`: shown in the reader's language."""


@dataclass(frozen=True, slots=True)
class _Const:
    value: bool | float | str

    def text(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        if isinstance(self.value, str):
            return repr(self.value)
        return f"{self.value:g}"


@dataclass(frozen=True, slots=True)
class _TagRef:
    name: str

    def text(self) -> str:
        return self.name


_Operand = _Const | _TagRef


@dataclass(frozen=True, slots=True)
class _Compare:
    left: _Operand
    op: str
    right: _Operand

    def text(self) -> str:
        return f"{self.left.text()} {self.op} {self.right.text()}"


@dataclass(frozen=True, slots=True)
class _Not:
    inner: _Node

    def text(self) -> str:
        return f"not ({self.inner.text()})"


@dataclass(frozen=True, slots=True)
class _Bool:
    op: str  # "and" | "or"
    parts: tuple[_Node, ...]

    def text(self) -> str:
        return f" {self.op} ".join(f"({p.text()})" if isinstance(p, _Bool) else p.text() for p in self.parts)


_Node = _Compare | _Not | _Bool


class _Untrusted(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise InterlockSyntaxError(f"cannot read {text[pos:].strip()[:20]!r} at character {pos + 1}")
        out.append(match.group(match.lastgroup or "word"))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise InterlockSyntaxError("the expression ends too early; something is missing at the end")
        self.pos += 1
        return token

    def expr(self) -> _Node:
        parts = [self.term()]
        while self.peek() == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else _Bool("or", tuple(parts))

    def term(self) -> _Node:
        parts = [self.factor()]
        while self.peek() == "and":
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else _Bool("and", tuple(parts))

    def factor(self) -> _Node:
        token = self.peek()
        if token == "not":
            self.take()
            return _Not(self.factor())
        if token == "(":
            self.take()
            inner = self.expr()
            if self.peek() != ")":
                raise InterlockSyntaxError("a '(' is not closed; add ')'")
            self.take()
            return inner
        left = self.operand()
        if self.peek() in _OPS:
            op = self.take()
            return _Compare(left, op, self.operand())
        if isinstance(left, _TagRef):
            return _Compare(left, "==", _Const(True))
        raise InterlockSyntaxError(f"{left.text()} alone is not a condition; compare it with a tag")

    def operand(self) -> _Operand:
        token = self.take()
        if token[0] in "\"'":
            return _Const(token[1:-1])
        if token in ("true", "false"):
            return _Const(token == "true")
        if token in KEYWORDS or token in _OPS or token in "()":
            raise InterlockSyntaxError(f"expected a tag name or a value, found {token!r}")
        if NUMBER.match(token):
            return _Const(float(token))
        return _TagRef(token)


@dataclass(frozen=True, slots=True)
class Interlock:
    """A parsed interlock: `Interlock.parse("Line1.State != 'Execute' and Line1.Guard")`."""

    source: str
    _root: _Node

    @classmethod
    def parse(cls, text: str) -> Interlock:
        """Parse `text`; InterlockSyntaxError names what is wrong."""
        if not text.strip():
            raise InterlockSyntaxError("the interlock is empty; write a condition such as Line1.Guard == true")
        if len(text) > MAX_LENGTH:
            raise InterlockSyntaxError(f"the interlock is longer than {MAX_LENGTH} characters; split the logic")
        parser = _Parser(text)
        root = parser.expr()
        if parser.peek() is not None:
            raise InterlockSyntaxError(f"unexpected {parser.peek()!r}; join conditions with 'and' or 'or'")
        return cls(text, root)

    def tags(self) -> list[str]:
        """The tag names the condition reads, in order of appearance."""
        return list(dict.fromkeys(_names(self._root)))

    def evaluate(self, lookup: Lookup) -> Verdict:
        """Met or not, with the reason in words; a referenced value that is missing or not GOOD is not met."""
        try:
            met, why = _eval(self._root, lookup)
        except _Untrusted as exc:
            return Verdict(False, exc.why)
        return Verdict(met, "" if met else why)


def _names(node: _Node) -> Iterator[str]:
    if isinstance(node, _Compare):
        for side in (node.left, node.right):
            if isinstance(side, _TagRef):
                yield side.name
    elif isinstance(node, _Not):
        yield from _names(node.inner)
    else:
        for part in node.parts:
            yield from _names(part)


def _value(operand: _Operand, lookup: Lookup) -> Any:
    if isinstance(operand, _Const):
        return operand.value
    reading = lookup(operand.name)
    if reading is None:
        raise _Untrusted(Text("{tag} has no value yet", tag=operand.name))
    if not reading.good:
        quality = str(getattr(reading.quality, "value", reading.quality)).upper()
        raise _Untrusted(Text("{tag} is {quality}: its value cannot be trusted", tag=operand.name, quality=quality))
    return reading.value


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return Text("true") if value else Text("false")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _eval(node: _Node, lookup: Lookup) -> tuple[bool, str]:
    if isinstance(node, _Compare):
        left, right = _value(node.left, lookup), _value(node.right, lookup)
        try:
            met = bool(_OPS[node.op](left, right))
        except TypeError:
            met = False
        if met:
            return True, ""
        tag = node.left if isinstance(node.left, _TagRef) else node.right
        current = left if tag is node.left else right
        return False, Text(
            "needs {condition} ({tag} is {value})", condition=node.text(), tag=tag.text(), value=_shown(current)
        )
    if isinstance(node, _Not):
        met, _ = _eval(node.inner, lookup)
        return (not met), ("" if not met else Text("needs {condition}", condition=node.text()))
    reasons: list[str] = []
    for part in node.parts:
        met, why = _eval(part, lookup)
        if node.op == "and" and not met:
            return False, why
        if node.op == "or":
            if met:
                return True, ""
            reasons.append(why)
    if node.op == "or":
        return False, joined(reasons, Text(" or "))
    return True, ""
