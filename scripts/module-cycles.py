#!/usr/bin/env python3
"""Prints the module cycles inside ferromcp-core and exits non-zero if there is one.

The graph has one node per top-level module of `crates/ferromcp-core/src` (a file
`foo.rs` or a folder `foo/`) and an edge `a -> b` when code in `a` names `crate::b`
(in a `use crate::...` item, including grouped `use crate::{b, c::d}`, or in a path
expression). `super::` paths that climb to the crate root count too. Comments, doc
comments included, and string literals are ignored: an intra-doc link is not a dependency. Test-only code
counts like any other code, so a test module cannot hide a cycle.

Allowed edges (listed in ALLOWED below, each with its reason) are dropped before the
strongly connected components are computed.

Usage: scripts/module-cycles.py [--graph] [SRC_DIR]
  --graph  also print every edge
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Edges that are part of the design, not a cycle to fix. Keep this list short and say why.
ALLOWED: dict[tuple[str, str], str] = {
    ("context", "server"): "a Context carries the Server that serves its request (registry, "
    "config, store, sealer); the server holds middleware and handlers that take a Context, "
    "so one of the two must name the other, and the server never builds a Context itself",
}

CRATE_ROOT_FILES = {"lib.rs", "main.rs"}


def strip_comments(text: str) -> str:
    """Removes comments and blanks the contents of string literals, so that neither a
    doc link nor a string that mentions `crate::x` counts as a path."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        raw = re.match(r'b?r(#*)"', text[i:]) if c in "rb" and (i == 0 or not text[i - 1].isalnum()) else None
        if raw:
            close = '"' + raw.group(1)
            j = text.find(close, i + raw.end())
            j = n if j < 0 else j + len(close)
            out.append('""')
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'" and i + 2 < n and text[i + 2] == "'":
            # a char literal such as '"' must not open a string
            out.append("' '")
            i += 3
        elif c == "'" and i + 3 < n and text[i + 1] == "\\" and text[i + 3] == "'":
            out.append("' '")
            i += 4
        else:
            out.append(c)
            i += 1
    return "".join(out)


def group_heads(body: str) -> list[str]:
    """The first segment of each path in the body of a `use crate::{...}` group."""
    parts, depth, cur = [], 0, ""
    for c in body:
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    names = []
    for part in parts:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", part)
        if m:
            names.append(m.group(1))
    return names


def top_module(src: Path, file: Path) -> str | None:
    rel = file.relative_to(src)
    if len(rel.parts) == 1:
        if rel.name in CRATE_ROOT_FILES:
            return None
        return rel.stem
    return rel.parts[0]


def references(text: str, depth: int) -> set[str]:
    """Top-level module names that `text` (from a file `depth` modules below the root) names."""
    code = strip_comments(text)
    refs: set[str] = set()
    for m in re.finditer(r"\bcrate::\{", code):
        start = m.end() - 1
        level, j = 0, start
        while j < len(code):
            if code[j] == "{":
                level += 1
            elif code[j] == "}":
                level -= 1
                if level == 0:
                    break
            j += 1
        refs.update(group_heads(code[start + 1 : j]))
    for m in re.finditer(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)", code):
        refs.add(m.group(1))
    # `super::super::x` from a file `depth` levels down reaches the root at `depth` supers.
    if depth >= 1:
        pat = r"\b(?:super::){%d}([A-Za-z_][A-Za-z0-9_]*)" % depth
        for m in re.finditer(pat, code):
            refs.add(m.group(1))
    return refs


def module_depth(src: Path, file: Path) -> int:
    """How many `super::` a file needs to reach the crate root."""
    rel = file.relative_to(src)
    parts = list(rel.parts)
    if parts[-1] == "mod.rs":
        parts = parts[:-1]
    else:
        parts[-1] = parts[-1][:-3]
    return len(parts)


def graph(src: Path) -> dict[str, set[str]]:
    nodes: set[str] = set()
    for p in src.iterdir():
        if p.is_dir() or (p.suffix == ".rs" and p.name not in CRATE_ROOT_FILES):
            nodes.add(p.stem if p.is_file() else p.name)
    edges: dict[str, set[str]] = {n: set() for n in nodes}
    for f in sorted(src.rglob("*.rs")):
        owner = top_module(src, f)
        if owner is None:
            continue
        for r in references(f.read_text(encoding="utf-8"), module_depth(src, f)):
            if r in nodes and r != owner and (owner, r) not in ALLOWED:
                edges[owner].add(r)
    return edges


def sccs(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--graph" in sys.argv
    default = Path(__file__).resolve().parent.parent / "crates" / "ferromcp-core" / "src"
    src = Path(args[0]) if args else default
    edges = graph(src)
    if show:
        for a in sorted(edges):
            print(f"{a} -> {', '.join(sorted(edges[a])) or '(nothing)'}")
    for (a, b), why in ALLOWED.items():
        print(f"allowed edge {a} -> {b}: {why}")
    cycles = [c for c in sccs(edges) if len(c) > 1]
    if not cycles:
        print(f"no module cycle among the {len(edges)} top-level modules of {src.name}/")
        return 0
    for c in cycles:
        inner = {a: sorted(edges[a] & set(c)) for a in c}
        print(f"cycle of {len(c)} modules: {', '.join(c)}")
        for a in c:
            print(f"  {a} -> {', '.join(inner[a])}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
