"""Where each literal of a stack's HCL is written: python-hcl2's syntax tree, as the
plain data :func:`iacdrift.core.reconcile.patch.patch_code` edits text by.

python-hcl2 8.x's dict output carries no positions (its ``with_meta`` option is
accepted and ignored, seen in 8.1.4), so this walks the Lark tree
(``hcl2.parses_to_tree``), whose nodes and tokens carry line and column. Only what a
patch needs: blocks (type, labels, lines) and attribute / object-element / tuple
values, literal or not. ``*.tf`` and ``*.tfvars`` files; JSON syntax is left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import hcl2
from hcl2.utils import process_escape_sequences
from lark import Token, Tree

from iacdrift.core.reconcile.patch import HclBlock, HclOutline, HclValue, Scalar

_HCL_SUFFIXES = (".tf", ".tfvars")
_LABELS = frozenset({"identifier", "keyword", "literal_value", "string"})


def outline(files: Mapping[str, str]) -> HclOutline:
    """Blocks and values of every HCL file in ``files`` (path -> text), sorted; a file
    python-hcl2 cannot parse is listed in ``problems`` as ``path: first line of why``."""
    blocks: list[HclBlock] = []
    values: list[HclValue] = []
    problems: list[str] = []
    for path in sorted(files):
        if not path.endswith(_HCL_SUFFIXES):
            continue
        text = files[path]
        try:
            tree = hcl2.parses_to_tree(text if text.endswith("\n") else text + "\n")
        except Exception as exc:  # python-hcl2 raises Lark's errors and its own
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            problems.append(f"{path}: {reason}")
            continue
        lines = text.splitlines()
        walker = _Walker(path, lines, blocks, values)
        for body in _trees(tree, "body"):
            walker.body(body, ())
    return HclOutline(tuple(blocks), tuple(values), tuple(problems))


def _trees(node: Tree[Any], data: str | None = None) -> Iterator[Tree[Any]]:
    for child in node.children:
        if isinstance(child, Tree) and (data is None or child.data == data):
            yield child


def _strip(node: Any) -> Any:
    """The expression inside ``expr_term`` and parentheses-free wrappers."""
    while isinstance(node, Tree) and node.data == "expr_term":
        inner = list(_trees(node))
        if len(inner) != 1 or any(isinstance(c, Token) for c in node.children):
            break
        node = inner[0]
    return node


def _string(node: Tree[Any]) -> str | None:
    """The value of a string without interpolation or directives, else None."""
    out: list[str] = []
    for part in _trees(node, "string_part"):
        if len(part.children) != 1 or not isinstance(part.children[0], Token):
            return None
        token = part.children[0]
        if token.type == "STRING_CHARS":
            out.append(process_escape_sequences(str(token)))
        elif token.type in ("ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"):
            out.append(str(token)[1:])  # $${ and %%{ are the literal ${ and %{
        else:
            return None
    return "".join(out)


def _name(node: Any) -> str | None:
    """An attribute name, block label or object key as written, else None."""
    node = _strip(node)
    if isinstance(node, Tree) and node.data == "object_elem_key":
        node = _strip(next(iter(node.children), None))
    if isinstance(node, Tree):
        if node.data == "string":
            return _string(node)
        if node.data in ("identifier", "keyword", "literal_value") and node.children:
            return str(node.children[0])
    return None


def _literal(node: Any) -> Scalar | None:
    node = _strip(node)
    if not isinstance(node, Tree):
        return None
    if node.data == "string":
        return _string(node)
    if node.data == "int_lit":
        return int(str(node.children[0]))
    if node.data == "float_lit":
        number = float(str(node.children[0]))
        return int(number) if number.is_integer() and "." not in str(node.children[0]) else number
    if node.data == "literal_value":
        word = str(node.children[0])
        return {"true": True, "false": False}.get(word)
    if node.data == "unary_op" and len(node.children) == 2 and str(node.children[0]) == "-":
        inner = _literal(node.children[1])
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner
    return None


class _Walker:
    def __init__(
        self, file: str, lines: list[str], blocks: list[HclBlock], values: list[HclValue]
    ) -> None:
        self.file = file
        self.lines = lines
        self.blocks = blocks
        self.values = values

    def body(self, body: Tree[Any], prefix: tuple[str, ...]) -> None:
        for child in _trees(body):
            if child.data == "attribute":
                name = _name(child.children[0])
                expression = child.children[-1]
                if name is not None:
                    self.expression(expression, (*prefix, name))
            elif child.data == "block":
                labels = [_name(c) for c in _trees(child) if c.data in _LABELS]
                if any(label is None for label in labels):
                    continue  # a templated label: not a block anything addresses
                path = (*prefix, *(label for label in labels if label is not None))
                self.blocks.append(HclBlock(self.file, path, child.meta.line, child.meta.end_line))
                for inner in _trees(child, "body"):
                    self.body(inner, path)

    def expression(self, node: Any, path: tuple[str, ...]) -> None:
        stripped = _strip(node)
        if isinstance(stripped, Tree) and stripped.data == "object":
            for element in _trees(stripped, "object_elem"):
                key = _name(element.children[0])
                if key is not None:
                    self.expression(element.children[-1], (*path, key))
            return
        if isinstance(stripped, Tree) and stripped.data == "tuple":
            items = [c for c in _trees(stripped) if c.data != "new_line_or_comment"]
            for index, item in enumerate(items):
                self.expression(item, (*path, str(index)))
            return
        if isinstance(stripped, Tree) and stripped.data == "function_call":
            # merge(var.common, { data-class = "x" }): the literal object's elements
            # are the attribute's as far as a patch is concerned.
            for arguments in _trees(stripped, "arguments"):
                for argument in _trees(arguments):
                    inner = _strip(argument)
                    if isinstance(inner, Tree) and inner.data == "object":
                        self.expression(inner, path)
        if not isinstance(node, Tree) or getattr(node.meta, "empty", True):
            return
        meta = node.meta
        line, column = meta.line, meta.column - 1
        end_line, end_column = meta.end_line, meta.end_column - 1
        if line == end_line:
            text = self.lines[line - 1][column:end_column]
        else:
            first, last = self.lines[line - 1][column:], self.lines[end_line - 1][:end_column]
            text = "\n".join([first, *self.lines[line : end_line - 1], last])
        value = _literal(node) if line == end_line else None
        self.values.append(
            HclValue(self.file, path, line, column, end_line, end_column, value, text)
        )
