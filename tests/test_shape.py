"""The shape the code keeps as it grows: modules import each other in one direction, no module takes a
private name from another, and no function is longer than about a screen."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def test_no_import_cycle_and_no_private_name_across_modules():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "import_graph.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_the_checker_sees_a_cycle(tmp_path, monkeypatch):
    """A checker that cannot fail checks nothing: two modules importing each other are a cycle to it."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import import_graph
    finally:
        sys.path.pop(0)
    assert import_graph.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_function_is_longer_than_a_screen():
    long = []
    for package in ("mainrun", "ablations"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long
