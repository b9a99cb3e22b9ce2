"""The import graph of mainrun/ and ablations/: which module imports which, any cycle, and any private
name (`_x`) one module takes from another.

    python scripts/import_graph.py            # the graph as text, a line per module
    python scripts/import_graph.py --check    # exit 1 on a cycle or a private name used across modules

Imports inside functions count: a deferred import is still a dependency. Read from the source with
`ast`, so nothing is imported to draw it.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGES = ("mainrun", "ablations")
REPO = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def internal(name: str, known: dict[str, Path]) -> str | None:
    """The known module a dotted name refers to (a module, or a name inside one)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def edges_and_private_uses(known: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    edges: dict[str, set[str]] = {m: set() for m in known}
    private: list[str] = []
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = resolve(module, node, is_package)
                targets = [(f"{source}.{alias.name}", alias.name) for alias in node.names]
            else:
                continue
            for name, imported in targets:
                target = internal(name, known)
                if target is None or target == module:
                    continue
                edges[module].add(target)
                if imported and imported.startswith("_") and not imported.startswith("__"):
                    private.append(f"{module} imports {imported} from {target}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (each reported once, from its smallest module)."""
    found: set[tuple[str, ...]] = set()

    def visit(start: str, node: str, trail: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                found.add(tuple(trail))
            elif nxt > start and nxt not in trail:
                visit(start, nxt, [*trail, nxt])

    for start in sorted(edges):
        visit(start, start, [start])
    return [list(c) for c in sorted(found)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    known = modules()
    edges, private = edges_and_private_uses(known)
    loops = cycles(edges)
    if args.check:
        for loop in loops:
            print("cycle: " + " -> ".join([*loop, loop[0]]))
        for line in private:
            print("private: " + line)
        return 1 if loops or private else 0
    width = max(map(len, edges))
    for module in sorted(edges):
        print(f"{module:<{width}}  -> {', '.join(sorted(edges[module])) or '(nothing internal)'}")
    print(f"\n{len(edges)} modules, {sum(map(len, edges.values()))} imports, {len(loops)} cycles, "
          f"{len(private)} private names used across modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
