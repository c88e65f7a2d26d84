"""The package's shape: layers that only point down, and no private names across modules.

Each module of ``sitefx`` belongs to one layer (:data:`LAYERS`, bottom first). A module may
import from its own layer and the layers below, never from a layer above, so data never
depends on models, models never on inference, and so on up to the command line. A private
name (``_x``) is private to its module: no other module imports it or reaches it through a
module it imported.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sitefx"

# Bottom first. A module belongs to the layer of the longest prefix that names it.
LAYERS = {
    "foundation": ("sitefx.errors", "sitefx.streams", "sitefx.backend", "sitefx.progress"),
    "data": ("sitefx.data",),  # schema, adapters, validation, sufficient statistics
    "models": ("sitefx.models",),  # numpyro models, priors, the collapsed likelihood
    "inference": ("sitefx.infer",),  # NUTS, quadrature, the historical priors' integrals
    "results": (  # what is computed from a fit: the DataTree, estimands, tables
        "sitefx.statistics",
        "sitefx.estimands",
        "sitefx.report.datatree",
        "sitefx.report.tables",
    ),
    # one module per model family (its data, model, inference and per-site likelihood), and
    # historical borrowing, which builds on the families' default priors
    "families": ("sitefx.families", "sitefx.historical"),
    "presentation": ("sitefx.report",),  # numbers, plots, reports, output folders
    "python api": ("sitefx.spec", "sitefx.estimator"),  # ModelSpec, SiteEffects
    "workflows": (
        "sitefx.sensitivity",
        "sitefx.calibration",
        "sitefx.batch",
        "sitefx.parallel",
        "sitefx.bias",
        "sitefx.design",
    ),
    "interfaces": (
        "sitefx.cli",
        "sitefx.commands",
        "sitefx.__main__",
        "sitefx.testing",
        "sitefx",
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the layer holding ``module``."""
    prefixes = [
        (len(prefix), index)
        for index, members in enumerate(LAYERS.values())
        for prefix in members
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(prefixes)[1]


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """The sitefx modules ``path`` imports from: (module, names, line)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module or ""]).strip(".") if node.level else node.module
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            target, names = node.names[0].name, []
        else:
            continue
        if target and target.split(".")[0] == "sitefx":
            found.append((target, names, node.lineno))
    return found


def is_module(package: str, name: str) -> bool:
    """Whether ``from package import name`` imports a module of sitefx."""
    folder = PACKAGE.joinpath(*package.split(".")[1:])
    return (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()


MODULES = sorted(PACKAGE.rglob("*.py"))


def upward_imports() -> list[str]:
    """Every import from a layer above the importing module's, described."""
    names = list(LAYERS)
    arrows = []
    for path in MODULES:
        module = module_name(path)
        for target, imported, line in imports(path):
            for name in imported or [""]:
                # `from sitefx import streams` imports the module sitefx.streams
                full = f"{target}.{name}" if is_module(target, name) else target
                if layer_of(full) > layer_of(module):
                    arrows.append(
                        f"{module}:{line} ({names[layer_of(module)]}) imports {full} "
                        f"({names[layer_of(full)]})"
                    )
    return arrows


def test_every_module_belongs_to_a_layer():
    for path in MODULES:
        assert layer_of(module_name(path)) >= 0


def test_imports_only_point_down_the_layers():
    arrows = upward_imports()
    assert not arrows, "imports from a layer above:\n" + "\n".join(arrows)


def test_no_module_uses_another_modules_private_names():
    offenders = []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        modules_imported = set()
        for target, imported, line in imports(path):
            for name in imported:
                if name.startswith("_"):
                    offenders.append(f"{module_name(path)}:{line} imports {target}.{name}")
                if is_module(target, name):
                    modules_imported.add(name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules_imported
                and node.attr.startswith("_")
            ):
                offenders.append(
                    f"{module_name(path)}:{node.lineno} uses {node.value.id}.{node.attr}"
                )
    assert not offenders, "private names used across modules:\n" + "\n".join(offenders)


# What the command line must not import before a command runs.
HEAVY = ("jax", "numpyro", "matplotlib", "xarray", "dask", "scipy", "arviz_base", "arviz_stats")
# What the exact method never needs.
SAMPLER = ("jax", "jaxlib", "numpyro")


def imported_packages(argv: list[str], cwd: Path) -> set[str]:
    """Run ``python -X importtime -m sitefx argv``; return the top-level packages it imported.

    ``-X importtime`` lists the modules whose code ran, so a lazy placeholder left in
    ``sys.modules`` (ArviZ registers JAX so) does not count as an import.
    """
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sitefx", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    assert run.returncode in (0, 2), run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines[1:]}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["fit"], ["fit", "--help"]])
def test_the_command_line_answers_without_heavy_imports(argv, tmp_path):
    """Help, the version and argument errors come before JAX and friends are imported."""
    imported = imported_packages(argv, tmp_path)
    assert "sitefx" in imported
    assert not imported & set(HEAVY), f"sitefx {' '.join(argv)} imported {imported & set(HEAVY)}"


def test_the_exact_method_runs_without_jax(tmp_path):
    """An exact fit, its tables, plot and report come without JAX or numpyro."""
    study = str(PACKAGE.parent / "studies" / "eight_schools")
    imported = imported_packages(["fit", study, "--out", "fit", "--quiet"], tmp_path)
    assert {"scipy", "matplotlib", "arviz_base"} <= imported
    assert not imported & set(SAMPLER), f"the exact fit imported {imported & set(SAMPLER)}"
    imported = imported_packages(["report", "fit"], tmp_path)
    assert not imported & set(SAMPLER), f"the report imported {imported & set(SAMPLER)}"


def test_importing_sitefx_leaves_jax_alone():
    code = (
        "import sitefx, sys, jax, jax.numpy as jnp\n"
        "print(jnp.ones(1).dtype, 'numpyro' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["float32", "False"]
