"""The package's shape: the TensorFlow line, and imports that run one way down the layers."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import timbre

PACKAGE = Path(timbre.__file__).parent
# The only modules that import TensorFlow (or Keras); everything else is TF-free.
TF_SIDE = {"timbre.tf"}
# The layers, top to bottom: a module may import its own layer and those below it, never
# one above. The package root is the Python API's facade; ``timbre.pretrained`` holds data.
LAYERS = (
    "timbre.cli",
    "timbre",
    "timbre.web",
    "timbre.recipes",
    "timbre.evaluate",
    "timbre.convert",
    "timbre.tf",
    "timbre.data",
    "timbre.plotting",
    "timbre.formats",
    "timbre.dsp",
    "timbre.settings",
    "timbre.io",
    "timbre.errors",
    "timbre.pretrained",
)


def _modules() -> list[str]:
    names = ["timbre"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="timbre."):
        names.append(info.name)
    return sorted(names)


def _tf_side(name: str) -> bool:
    return any(name == side or name.startswith(side + ".") for side in TF_SIDE)


def test_tf_free_modules_import_without_tensorflow():
    free = [name for name in _modules() if not _tf_side(name)]
    assert "timbre.formats.feature_store" in free and "timbre.convert.streaming" in free
    code = (
        "import importlib, json, sys\n"
        f"for name in {free!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The timbre modules ``path`` imports, anywhere in the file (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {module for module in found if module in known and module != name}


def _graph() -> dict[str, set[str]]:
    known = set(_modules())
    graph = {}
    for name in known:
        relative = Path(*name.split(".")[1:])
        path = PACKAGE / relative / "__init__.py"
        if not path.exists():
            path = (PACKAGE / relative).with_suffix(".py")
        graph[name] = _imports(path, name, known)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return stack[stack.index(child) :] + [child]
            if child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    graph = _graph()
    assert "timbre.convert.streaming" in graph["timbre.convert.files"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _layer(name: str) -> int:
    """The index in LAYERS of the longest layer name that ``name`` is or lies under."""
    found = [i for i, layer in enumerate(LAYERS) if name == layer or name.startswith(layer + ".")]
    return max(found, key=lambda i: len(LAYERS[i]))


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{name} -> {child}"
        for name, children in graph.items()
        for child in children
        if _layer(child) < _layer(name)
    )


def test_every_module_has_a_layer():
    graph = _graph()
    assert "timbre.convert.converter" in graph and "timbre.cli.predict" in graph
    assert {LAYERS[_layer(name)] for name in graph} == set(LAYERS)


def test_imports_run_down_the_layers():
    assert _upward(_graph()) == []


def test_upward_import_finder_finds_one():
    graph = {"timbre.io.audio": {"timbre.dsp.stft"}, "timbre.cli.predict": {"timbre.io.audio"}}
    assert _upward(graph) == ["timbre.io.audio -> timbre.dsp.stft"]
    assert LAYERS[_layer("timbre.cli")] == "timbre.cli" and LAYERS[_layer("timbre")] == "timbre"


def test_nothing_imports_the_command_line():
    graph = _graph()
    cli = {name for name in graph if LAYERS[_layer(name)] == "timbre.cli"}
    assert "timbre.cli.predict" in cli
    assert {name for name in set(graph) - cli if graph[name] & cli} == set()


def test_recipes_import_no_command_line():
    graph = _graph()
    recipes = {name for name in graph if LAYERS[_layer(name)] == "timbre.recipes"}
    assert {"timbre.recipes.demo", "timbre.recipes.pretrained"} <= recipes
    assert {name for name in recipes if graph[name] & {n for n in graph if _layer(n) == 0}} == set()
    code = (
        "import sys\n"
        "import timbre.recipes.demo, timbre.recipes.pretrained, timbre.recipes.presets\n"
        "print(sorted(m for m in sys.modules if m.startswith('timbre.cli')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


BAD_ARGUMENTS = {  # command -> a command line each command must refuse before TensorFlow starts
    "train": ["--dataset_path", "{tmp}/nowhere", "--origin", "a", "--target", "b"],
    "train_generator": ["--dataset_path", "{tmp}/nowhere", "--origin", "a", "--target", "b"],
    "train --config": ["--config", "{tmp}/config.json"],
    "evaluate": ["--model", "keyboard_to_string", "--origin_dir", "{tmp}", "--target_dir", "{tmp}"],
    "export": ["--model", "{tmp}/nowhere", "--format", "onnx", "--output", "{tmp}/x.onnx"],
    "predict": ["--input", "{tmp}/nowhere.wav", "--output", "{tmp}/x.wav"],
}


@pytest.mark.parametrize("command", list(BAD_ARGUMENTS))
def test_bad_arguments_are_refused_before_tensorflow_starts(command, tmp_path):
    """#24: ``train`` once took 7-9 s to reject a bad --dataset_path (it imported TensorFlow
    first). Each command's refusal comes from a fresh interpreter that never imported it."""
    (tmp_path / "config.json").write_text(
        json.dumps({"mode": "gan", "train": {"gen_lr": 1e-4}, "typo": 1})
    )
    name = command.split()[0]
    argv = [part.format(tmp=tmp_path) for part in BAD_ARGUMENTS[command]]
    code = (
        "import importlib, json, sys\n"
        f"main = importlib.import_module('timbre.cli.{name}').main\n"
        "status = main(json.loads(sys.argv[1]))\n"
        "print(json.dumps([status, sorted(m for m in ('tensorflow', 'keras') if m in "
        "sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [1, []], done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, done.stderr
