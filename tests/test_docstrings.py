"""Every public function, class and method of the listed modules has a numpydoc docstring.

The rules (issue 18, item 5): a docstring; a ``Parameters`` section naming every parameter
other than ``self``/``cls`` (a dataclass may list its fields under ``Attributes``); a
``Returns`` or ``Yields`` section unless the return annotation is ``None``; and an
``Examples`` section on module-level functions and classes. A class's parameters are those
of its own ``__init__``; properties need only a docstring, and so does a method that
implements one its base class documents (a model family's methods: the ``Family`` protocol).
"""

import dataclasses
import importlib
import inspect
import pkgutil
import warnings

import pytest
from numpydoc.docscrape import NumpyDocString

import sitefx

# Every module of the package, found rather than listed, so that a new one is covered too
# (``python -m sitefx``'s entry point runs the command line when imported: left out).
FOUND = pkgutil.walk_packages(sitefx.__path__, prefix="sitefx.")
MODULES = ["sitefx", *sorted(m.name for m in FOUND if m.name != "sitefx.__main__")]


def public_objects(module):
    """Yield ``(qualified name, object, kind)`` for what ``module`` defines publicly.

    ``kind`` is ``"module level"`` (a function or class), ``"method"``, or ``"inherited"``
    for a method that a base class defines (and documents).
    """
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj, "module level"
        elif inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj, "module level"
            for attr, member in vars(obj).items():
                if not attr.startswith("_"):
                    if isinstance(member, (classmethod, staticmethod)):
                        member = member.__func__
                    if inspect.isfunction(member) or isinstance(member, property):
                        inherited = any(attr in vars(base) for base in obj.__mro__[1:])
                        kind = "inherited" if inherited else "method"
                        yield f"{module.__name__}.{name}.{attr}", member, kind


def problems(obj, kind):
    """Return what the docstring of ``obj`` lacks, as a list of short phrases."""
    doc = inspect.getdoc(obj)
    if not doc:
        return ["no docstring"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = NumpyDocString(doc)
    found = [str(warning.message) for warning in caught]
    if isinstance(obj, property) or kind == "inherited":
        return found
    # (a Protocol gets an __init__ from typing: not its own)
    own_init = (
        inspect.isclass(obj)
        and getattr(vars(obj).get("__init__"), "__module__", None) == obj.__module__
    )
    if inspect.isfunction(obj) or own_init:
        signature = inspect.signature(obj)
        wanted = [name for name in signature.parameters if name not in ("self", "cls")]
        sections = ["Parameters", "Other Parameters"]
        if dataclasses.is_dataclass(obj):
            sections.append("Attributes")
        documented = {
            part.strip().lstrip("*")
            for section in sections
            for entry in parsed[section]
            for part in entry.name.split(",")
        }
        missing = [name for name in wanted if name not in documented]
        if missing:
            found.append(f"Parameters lacks {', '.join(missing)}")
        returns = signature.return_annotation
        if inspect.isfunction(obj) and returns not in (None, "None"):
            if not (parsed["Returns"] or parsed["Yields"]):
                found.append("no Returns section")
    if kind == "module level" and not parsed["Examples"]:
        found.append("no Examples section")
    return found


def test_public_docstrings_are_complete():
    offenders = [
        f"{name}: {'; '.join(lacking)}"
        for module in MODULES
        for name, obj, kind in public_objects(importlib.import_module(module))
        if (lacking := problems(obj, kind))
    ]
    if offenders:
        pytest.fail("incomplete numpydoc docstrings:\n" + "\n".join(offenders), pytrace=False)
