"""The package's import graph: no cycle, the record contract stands alone, training loads no evaluation or plotting."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_imports() -> dict[str, set[str]]:
    """Module name -> the omarc modules it imports at module level (imports inside functions are lazy)."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "omarc").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        targets = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("omarc"):
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                            for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("omarc")}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_module_imports_itself_through_others():
    graph = module_imports()
    assert "omarc.modules.evaluation.evaluator" in graph["omarc.cli"]  # the graph sees real edges
    assert find_cycle(graph) is None, find_cycle(graph)
    assert find_cycle({**graph, "omarc.datamodules.records": {"omarc.datamodules.common"}}) is not None


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in sys.modules if m.startswith('omarc')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


@pytest.mark.slow
def test_the_record_contract_stands_alone_and_training_loads_no_evaluator_or_plotting():
    assert loaded_after("import omarc.datamodules.records") == {"omarc", "omarc.datamodules", "omarc.datamodules.records"}
    training = loaded_after("import omarc.modules.training.cgrpo")
    assert "omarc.modules.training.cgrpo" in training
    assert not {"omarc.visualize", "omarc.modules.evaluation.evaluator"} & training
