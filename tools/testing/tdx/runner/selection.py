# SPDX-License-Identifier: GPL-2.0-only
"""Which modules and cases a run has: discovery of x86_64/*.py and the -t/-x globs.

Discovery reads the files (ast), never imports them: start-up and shell
completion stay cheap, and a module that cannot even be imported is still
found, so that the run reports it.
"""

import ast
import os
from fnmatch import fnmatchcase as _glob
from pathlib import Path

TDX_DIR = Path(__file__).resolve().parents[1]
ROOT = TDX_DIR.parent                 # the directory holding the tdx package
DEFAULT_PACKAGE = "tdx.x86_64"


def module_package(override=None):
    return override or os.environ.get("TDX_MODULE_PACKAGE") or DEFAULT_PACKAGE


def module_dir(package):
    """Where a package's modules are, without importing it (start-up stays cheap)."""
    path = ROOT.joinpath(*package.split("."))
    if path.is_dir():
        return path
    import importlib.util
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("module package %s not found" % package)
    return Path(list(spec.submodule_search_locations)[0])


def discover(directory):
    """Every x86_64/*.py module, in name order; `_`-prefixed files are helpers."""
    return sorted(p.stem for p in Path(directory).glob("*.py") if not p.stem.startswith("_"))


def case_names(path):
    """The `def test_*` methods of a module's classes, read with ast (no import)."""
    try:
        tree = ast.parse(Path(path).read_text(errors="replace"), str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and item.name.startswith("test") and item.name not in names):
                    names.append(item.name)
    return names


def _case_matches(globs, module, case):
    return any(_glob(c, g) for g in globs for c in ("%s.%s" % (module, case), case))


class Selected:
    """One module to run: its name, file, and the -t/-x globs its process gets."""

    def __init__(self, name, path, cases, child_args=()):
        self.name = name
        self.path = path
        self.cases = cases
        self.child_args = list(child_args)


def select(directory, include=(), exclude=()):
    """(selected modules, -t globs that matched nothing)."""
    selected, matched = [], set()
    for name in discover(directory):
        path = Path(directory) / (name + ".py")
        if any(_glob(name, x) for x in exclude):
            continue
        cases = case_names(path)
        args = []
        if include:
            whole = [g for g in include if _glob(name, g)]
            hits = [g for g in include if any(_case_matches([g], name, c) for c in cases)]
            matched.update(whole, hits)
            if not whole and not hits:
                continue
            if not whole:
                for g in include:
                    args += ["-t", g]
                cases = [c for c in cases if _case_matches(include, name, c)]
        if exclude:
            for x in exclude:
                args += ["-x", x]
            left = [c for c in cases if not _case_matches(exclude, name, c)]
            if cases and not left:
                continue
            cases = left
        selected.append(Selected(name, path, cases, args))
    return selected, [g for g in include if g not in matched]


def all_test_names(directory):
    names = []
    for name in discover(directory):
        names.append(name)
        names += ["%s.%s" % (name, c) for c in case_names(Path(directory) / (name + ".py"))]
    return names
