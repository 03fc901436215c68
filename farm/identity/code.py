"""The code version of a strategy: the code this process imported, not the files on disk now.

A strategy's outcome depends on every project module its module reaches (helpers, indicator
files, shared constants), transitively; on the third-party distributions those modules use; on
farm itself; and on how it was registered (interval, parameters, risk profiles). All of that is
hashed here, from **snapshots**: a module's source digest is taken the first time the module is
seen (at `add_strategy`, and in a worker right after it imported FARM_IMPORTS) and kept for as
long as the process holds that module object. A file edited afterwards does not change this
process's version, which is exactly what lets a worker notice that it runs older code than the
coordinator planned with (`farm.run.jobs.check_job_inputs` refuses the job: "restart the
worker"). `importlib.reload` gives the module a new spec object, and so a new snapshot.

What counts as a project module: one whose file lies outside the standard library and
site-packages (an editable install counts as project code: its files are being edited). A
module in site-packages counts by its distribution's version instead (`importlib.metadata`).
farm counts as one unit: the digest of its package's `.py` files, taken once per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import re
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ENGINE_DISTRIBUTIONS = ("numpy", "pandas", "numba")
"""Third-party distributions whose arithmetic every backtest runs through (farm's own imports of
them are not walked: farm counts as one unit), so their versions are part of every code version."""

_lock = threading.RLock()
_snapshots: dict[str, tuple[object, str]] = {}
"""module name -> (the module's spec object when the digest was taken, the digest)."""


@cache
def _site_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    import site

    roots = {paths.get("purelib", ""), paths.get("platlib", "")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    roots.add(site.getusersitepackages() if hasattr(site, "getusersitepackages") else "")
    return tuple(sorted(str(Path(r).resolve()) for r in roots if r))


@cache
def _stdlib_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(sorted({str(Path(paths[k]).resolve()) for k in ("stdlib", "platstdlib") if paths.get(k)}))


def _file_of(module: ModuleType) -> str | None:
    file = getattr(module, "__file__", None)
    return str(Path(file).resolve()) if file else None


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def kind_of(module: ModuleType) -> str:
    """"project", "farm", "third-party" or "library" (stdlib, builtins: not part of a version)."""
    name = module.__name__
    top = name.partition(".")[0]
    if top == "farm":
        return "farm"
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return "library"
    file = _file_of(module)
    if file is None:
        # A namespace package or a module built in memory: project code if it is __main__.
        return "project" if name == "__main__" else "library"
    if _under(file, _site_roots()):
        return "third-party"
    if _under(file, _stdlib_roots()):
        return "library"
    return "project"


def _source_digest(module: ModuleType) -> str:
    """The digest of a module's source as it is now (called once per module object)."""
    file = getattr(module, "__file__", None)
    if file:
        try:
            return hashlib.sha256(Path(file).read_bytes()).hexdigest()
        except OSError:
            pass
    # Defined in memory (a notebook's __main__): the code of its functions and classes.
    digest = hashlib.sha256()
    for attr, value in sorted(vars(module).items()):
        if getattr(value, "__module__", None) == module.__name__:
            digest.update(attr.encode())
            digest.update(_object_code(value).encode())
    return digest.hexdigest()


def _object_code(value: Any) -> str:
    code = getattr(value, "__code__", None)
    if code is not None:
        return repr((code.co_code, code.co_consts, code.co_names))
    try:
        return inspect.getsource(value)
    except (OSError, TypeError):
        return repr(value)


def snapshot(module: ModuleType) -> str:
    """This module's source digest as first seen (again after a reload: a new spec object)."""
    spec = getattr(module, "__spec__", None) or module
    with _lock:
        seen = _snapshots.get(module.__name__)
        if seen is not None and seen[0] is spec:
            return seen[1]
        digest = _source_digest(module)
        _snapshots[module.__name__] = (spec, digest)
        return digest


def _module_named(name: str | None) -> ModuleType | None:
    return sys.modules.get(name) if isinstance(name, str) else None


def _references(module: ModuleType) -> Iterator[ModuleType]:
    """Modules a module's globals point at: imported modules, and the modules that define the
    functions, classes and instances it imported by name.

    A package's own submodules are skipped: the import system sets them as attributes of the
    package whenever anything imports them, so following them would make a version depend on
    which other modules this process happened to import (a coordinator and a worker would
    disagree) and tie every module of a package to every other."""
    package_prefix = f"{module.__name__}." if hasattr(module, "__path__") else None
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            if package_prefix is None or not value.__name__.startswith(package_prefix):
                yield value
            continue
        owner = _module_named(getattr(value, "__module__", None))
        if owner is None and not isinstance(value, type):
            owner = _module_named(getattr(type(value), "__module__", None))
        if owner is not None:
            yield owner


def closure(roots: Iterable[ModuleType]) -> dict[str, list[str]]:
    """{"project": module names, "third-party": distribution==version, "farm": [...]} reached
    from `roots` through project modules' globals (library and third-party modules are leaves)."""
    project: dict[str, ModuleType] = {}
    third: set[str] = set()
    uses_farm = False
    todo = list(roots)
    while todo:
        module = todo.pop()
        kind = kind_of(module)
        if kind == "farm":
            uses_farm = True
        elif kind == "third-party":
            third.add(module.__name__.partition(".")[0])
        elif kind == "project" and module.__name__ not in project:
            project[module.__name__] = module
            todo.extend(_references(module))
    return {
        "project": sorted(project),
        "third-party": sorted({d for top in third for d in distributions_of(top)}),
        "farm": [farm_digest()] if uses_farm else [],
    }


@cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@cache
def distributions_of(top_level: str) -> tuple[str, ...]:
    """`name==version` of the installed distributions that provide a top-level module: the
    distribution of the same name when there is one (cheap), else a scan of all of them."""
    try:
        return (f"{top_level}=={importlib.metadata.version(top_level)}",)
    except importlib.metadata.PackageNotFoundError:
        pass
    out = []
    for dist in _packages_distributions().get(top_level, []):
        try:
            out.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(sorted(out)) or (f"{top_level}==unknown",)


_farm_digest: str | None = None


def farm_digest() -> str:
    """farm's version, the digest of its package's .py files and the engine distributions'
    versions, taken once per process: farm is the engine every result ran through."""
    global _farm_digest
    with _lock:
        if _farm_digest is None:
            import farm

            root = Path(farm.__file__).resolve().parent
            digest = hashlib.sha256(f"farm {farm.__version__}\n".encode())
            for path in sorted(root.rglob("*.py")):
                digest.update(f"\n# {path.relative_to(root).as_posix()}\n".encode())
                digest.update(path.read_bytes())
            for dist in ENGINE_DISTRIBUTIONS:
                digest.update(f"\n{'|'.join(distributions_of(dist))}".encode())
            _farm_digest = digest.hexdigest()[:16]
        return _farm_digest


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of a registered value that is the same in every process: a
    function by its module, qualified name, defaults and the values it closes over (so
    `max_concurrent_positions(1)` and `(2)` differ); containers item by item; other objects by
    type and attributes; never a memory address."""
    if depth > 8:
        return type(value).__qualname__
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [describe(v, depth + 1) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, functools.partial):
        return {"partial": describe(value.func, depth + 1), "args": describe(value.args, depth + 1),
                "keywords": describe(value.keywords, depth + 1)}
    if isinstance(value, ModuleType):
        return f"module {value.__name__}"
    code = getattr(value, "__code__", None)
    if code is not None:
        cells = [c.cell_contents for c in (getattr(value, "__closure__", None) or ()) if _filled(c)]
        return {"function": f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}",
                "defaults": describe(getattr(value, "__defaults__", None), depth + 1),
                "closure": describe(cells, depth + 1)}
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        return {"object": f"{type(value).__module__}.{type(value).__qualname__}",
                "attrs": describe({k: v for k, v in attrs.items() if not k.startswith("_")}, depth + 1)}
    return _ADDRESS.sub("", repr(value))


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def _module_of(fn: Any) -> ModuleType | None:
    module = inspect.getmodule(fn)
    if module is None:
        module = _module_named(getattr(type(fn), "__module__", None))
    return module


def snapshot_closure_of(functions: Iterable[Callable[..., Any] | None]) -> None:
    """Snapshot every project module these functions' modules reach (registration time)."""
    roots = [m for m in (_module_of(fn) for fn in functions if fn is not None) if m is not None]
    for name in closure(roots)["project"]:
        module = sys.modules.get(name)
        if module is not None:
            snapshot(module)


def snapshot_loaded(names: Iterable[str]) -> None:
    """Snapshot the project modules among `names` (a worker, right after importing FARM_IMPORTS)."""
    for name in names:
        module = sys.modules.get(name)
        if module is not None and kind_of(module) == "project":
            snapshot(module)


def code_digest(functions: Iterable[Callable[..., Any] | None], spec: Any) -> str:
    """The code version of `functions` registered as `spec` (a JSON-able description of the
    registration: interval, parameters, risk profiles), from the snapshots."""
    roots = [m for m in (_module_of(fn) for fn in functions if fn is not None) if m is not None]
    reached = closure(roots)
    body = {
        "spec": spec,
        "project": {name: snapshot(sys.modules[name]) for name in reached["project"] if name in sys.modules},
        "third-party": reached["third-party"],
        "farm": reached["farm"] or [farm_digest()],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=describe)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


__all__ = [
    "ENGINE_DISTRIBUTIONS", "closure", "code_digest", "describe", "distributions_of", "farm_digest", "kind_of",
    "snapshot", "snapshot_closure_of", "snapshot_loaded",
]
