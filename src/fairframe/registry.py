"""Find components by stable names.

A :class:`Registry` maps a name such as ``"diffusers"`` to a factory (usually a class). Entries come
from three places, in this order of precedence:

1. built-ins, declared lazily as ``"module:attr"`` strings (listing names never imports torch);
2. third-party plug-ins, through the entry-point group ``fairframe.<kind>s``
   (e.g. ``[project.entry-points."fairframe.generators"] my-gen = "my_pkg.gen:MyGenerator"``),
   loaded once, on the first lookup;
3. an escape hatch: any ``"package.module:Name"`` string is imported directly.

An unknown name raises :class:`~fairframe.errors.UnknownComponentError`, listing what exists.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from fairframe.errors import (
    DuplicateComponentError,
    MissingDependencyError,
    PluginLoadError,
    UnknownComponentError,
)

__all__ = ["Registry", "import_object"]

T = TypeVar("T")


def import_object(path: str) -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module.attr"``) and return the attribute.

    Raises
    ------
    PluginLoadError
        The module or attribute cannot be imported.
    MissingDependencyError
        Propagated unchanged when the module itself reports a missing extra.
    """
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise PluginLoadError(f"{path!r} is not an import path; write it as 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except MissingDependencyError:
        raise
    except ImportError as exc:
        raise PluginLoadError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginLoadError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


class Registry(Generic[T]):
    """Name → component factory, with lazy built-ins and entry-point plug-ins.

    Parameters
    ----------
    kind:
        Singular noun used in messages and in the entry-point group ``fairframe.<kind>s``.
    builtins:
        Built-in names mapped to ``"module:attr"`` strings, imported on first use.

    Examples
    --------
    >>> reg: Registry[type] = Registry("widget", {"dict": "builtins:dict"})
    >>> reg.get("dict") is dict
    True
    >>> "dict" in reg.names()
    True
    """

    def __init__(self, kind: str, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.group = f"fairframe.{kind}s"
        self._entries: dict[str, T | str] = dict(builtins or {})
        self._builtin_names = frozenset(self._entries)
        self._plugins_loaded = False
        self._lock = threading.RLock()

    # -- registration -----------------------------------------------------------------------
    def register(self, name: str, obj: T | str, *, replace: bool = False) -> None:
        """Register ``obj`` (or a lazy ``"module:attr"`` string) under ``name``."""
        with self._lock:
            if name in self._entries and not replace:
                raise DuplicateComponentError(
                    f"{self.kind} {name!r} is already registered; pass replace=True to override it"
                )
            self._entries[name] = obj

    def unregister(self, name: str) -> None:
        """Remove ``name``; unknown names raise :class:`UnknownComponentError`."""
        with self._lock:
            if name not in self._entries:
                raise UnknownComponentError(self.kind, name, list(self._entries))
            del self._entries[name]

    def decorator(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Class decorator form of :meth:`register`."""

        def wrap(obj: T) -> T:
            self.register(name, obj, replace=replace)
            return obj

        return wrap

    # -- lookup -----------------------------------------------------------------------------
    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            for ep in entry_points(group=self.group):
                if ep.name in self._builtin_names:
                    continue  # built-ins win name clashes
                self._entries.setdefault(ep.name, ep.value)
            self._plugins_loaded = True

    def names(self) -> list[str]:
        """All registered names, built-ins and plug-ins, sorted."""
        self._load_plugins()
        return sorted(self._entries)

    def entries(self) -> Mapping[str, T | str]:
        """Read-only view of the entries (lazy ones are still strings)."""
        self._load_plugins()
        return MappingProxyType(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """Return the component registered as ``name``, importing it if it was declared lazily.

        A name containing ``':'`` that is not registered is imported as ``"package.module:Name"``.
        """
        self._load_plugins()
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            if ":" in name:
                obj: T = import_object(name)
                return obj
            raise UnknownComponentError(self.kind, name, list(self._entries))
        if isinstance(entry, str):
            loaded: T = import_object(entry)
            with self._lock:
                self._entries[name] = loaded
            return loaded
        return entry
