#!/usr/bin/env python3
"""Fail when a module of a workspace crate imports a module that imports it back.

Each `.rs` file under `crates/*/src` is a module (`mod.rs` and `lib.rs`/`main.rs` name their
folder's module). An edge A -> B is any path from A that names B: `use crate::b::...`,
`crate::b::Item` inline, `super::b`, `self::b`, grouped `use crate::{a::X, b::Y}`. The crate
root and `mod.rs` files are facades: a path that goes through them to an item they re-export
(`pub use b::Item`) counts as an edge to the module that defines it, and paths that name only
the facade itself are not edges. Test modules (`#[cfg(test)] mod tests { ... }`) are left out:
tests may reach anywhere. A cycle is a strongly connected set of two or more modules.

Usage: tools/module_cycles.py [CRATE_DIR ...]   (default: every crates/*)
"""

import re
import sys
from pathlib import Path

PATH_START = re.compile(r"\b(crate|super|self)::")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def module_path(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_code(text: str) -> str:
    """The code alone: comments, string and character literals blanked."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
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
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) and (
            m := re.match(r"b?r(#*)\"", text[i:])
        ):
            end = text.find('"' + m.group(1), i + m.end())
            out.append('""')
            i = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and (m := re.match(r"'(?:\\.[^']*|[^\\'])'", text[i:])):
            out.append("' '")
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_tests(text: str) -> str:
    """Drop comments, literals and `#[cfg(test)] mod x { ... }` blocks."""
    text = strip_code(text)
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out)


def expand(text: str, start: int) -> list:
    """The paths written at `start`, expanding `{a::X, b::{Y, Z}}` groups."""
    paths = []

    def parse(i: int, prefix: list) -> int:
        segs = list(prefix)
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i < len(text) and text[i] == "{":
                i += 1
                while True:
                    i = parse(i, segs)
                    while i < len(text) and text[i].isspace():
                        i += 1
                    if i < len(text) and text[i] == ",":
                        i += 1
                        continue
                    if i < len(text) and text[i] == "}":
                        return i + 1
                    return i
            m = IDENT.match(text, i)
            if not m:
                break
            segs.append(m.group(0))
            i = m.end()
            if text.startswith("::", i):
                i += 2
                continue
            break
        paths.append(segs)
        return i

    parse(start, [])
    return paths


def main() -> int:
    roots = [Path(a) for a in sys.argv[1:]] or sorted(Path("crates").glob("*"))
    failed = False
    for crate in roots:
        src = crate / "src"
        if not src.is_dir():
            continue
        texts = {}
        for file in sorted(src.rglob("*.rs")):
            texts[module_path(src, file)] = strip_tests(file.read_text())
        modules = set(texts)
        # Re-exports of facades: (facade, name) -> the module the item comes from.
        reexports = {}
        for mod, text in texts.items():
            for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+", text):
                for p in expand(text, m.end()):
                    if p and p[0] == "crate":
                        target = tuple(p[1:])
                    elif p and p[0] == "self":
                        target = mod + tuple(p[1:])
                    elif p and p[0] == "super":
                        target = mod[:-1] + tuple(p[1:])
                    else:
                        target = mod + tuple(p)
                    owner = resolve_module(target, modules)
                    if owner is not None and owner != mod and len(p) >= 1:
                        reexports[(mod, p[-1])] = owner
        edges = {m: set() for m in modules}
        for mod, text in texts.items():
            for m in PATH_START.finditer(text):
                for p in expand(text, m.start()):
                    target = absolute(mod, p)
                    if target is None:
                        continue
                    owner = resolve_module(target, modules)
                    if owner is None:
                        continue
                    # Through a facade to something it re-exports.
                    rest = target[len(owner) :]
                    if rest and (owner, rest[0]) in reexports:
                        owner = reexports[(owner, rest[0])]
                    elif owner == () or is_facade(owner, modules):
                        # Naming a facade (or something it only declares) is no import of it.
                        if not rest or not is_defined_in(texts[owner], rest[0]):
                            continue
                    if owner != mod:
                        edges[mod].add(owner)
        for scc in strongly_connected(edges):
            if len(scc) > 1:
                failed = True
                names = sorted("::".join(s) or "(root)" for s in scc)
                print(f"{crate}: module cycle: {' <-> '.join(names)}")
                for a in sorted(scc):
                    for b in sorted(edges[a] & set(scc)):
                        print(f"    {'::'.join(a) or '(root)'} -> {'::'.join(b) or '(root)'}")
    if not failed:
        print("module cycles: none")
    return 1 if failed else 0


def absolute(mod: tuple, p: list):
    if not p:
        return None
    head, rest = p[0], p[1:]
    if head == "crate":
        return tuple(rest)
    base = list(mod)
    while p and p[0] in ("super", "self"):
        if p[0] == "super":
            if not base:
                return None
            base.pop()
        p = p[1:]
    return tuple(base + p)


def resolve_module(target: tuple, modules: set):
    """The longest module that is a prefix of `target`."""
    for n in range(len(target), -1, -1):
        if target[:n] in modules:
            return target[:n]
    return None


def is_facade(mod: tuple, modules: set) -> bool:
    return any(len(m) == len(mod) + 1 and m[: len(mod)] == mod for m in modules)


def is_defined_in(text: str, name: str) -> bool:
    return re.search(
        rf"\b(?:fn|struct|enum|trait|type|const|static|macro_rules!|union)\s+{re.escape(name)}\b",
        text,
    ) is not None


def strongly_connected(edges: dict):
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            result.append(scc)

    for v in edges:
        if v not in index:
            visit(v)
    return result


if __name__ == "__main__":
    sys.exit(main())
