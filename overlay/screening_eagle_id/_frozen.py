"""`Frozen`: the overlay's immutable value classes, without importing attrs.

`from screening_eagle_id import TokenClient, BearerAuth` must cost little more than `import
httpx` (issue 20): importing attrs and building attrs classes was most of what it cost beyond
httpx. A subclass lists its fields in `__slots__` and writes its own typed `__init__`, whose
parameters are the fields (set with `object.__setattr__`); this base gives what
`attrs.frozen` gave: equality and hash over the fields (minus `_NO_EQ`), a repr in attrs' form
(minus `_NO_REPR`: secrets stay out of it), attrs' `FrozenInstanceError` on assignment (attrs
is imported only then), pickling and copying, `__match_args__`, and `__replace__` (so
`copy.replace()` on Python 3.13+ does what `attrs.evolve()` did).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeVar

__all__ = ["Frozen", "replace"]


def _frozen_error() -> AttributeError:
    from attrs.exceptions import FrozenInstanceError  # only on a programming error

    return FrozenInstanceError()


class Frozen:
    """Base of an immutable value class whose fields are its `__slots__`."""

    __slots__ = ("__weakref__",)
    #: Fields left out of equality and hash; fields left out of the repr.
    _NO_EQ: ClassVar[frozenset[str]] = frozenset()
    _NO_REPR: ClassVar[frozenset[str]] = frozenset()
    _fields: ClassVar[tuple[str, ...]] = ()
    _eq_fields: ClassVar[tuple[str, ...]] = ()
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        init = cls.__dict__.get("__init__")
        code = init.__code__ if init is not None else None
        # The fields, in `__init__`'s order (so `__reduce__` can pass them positionally).
        cls._fields = code.co_varnames[1 : code.co_argcount] if code is not None else ()
        if set(cls._fields) != set(cls.__dict__.get("__slots__", ())):
            raise TypeError(f"{cls.__qualname__}: __slots__ must name __init__'s parameters")
        cls._eq_fields = tuple(f for f in cls._fields if f not in cls._NO_EQ)
        cls._repr_fields = tuple(f for f in cls._fields if f not in cls._NO_REPR)
        setattr(cls, "__match_args__", cls._fields)  # noqa: B010 (mypy: a read-only name)

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen_error()

    def __delattr__(self, name: str) -> None:
        raise _frozen_error()

    def _values(self, fields: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple([getattr(self, f) for f in fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values(self._eq_fields) == other._values(self._eq_fields)

    def __hash__(self) -> int:
        return hash((self.__class__.__qualname__, *self._values(self._eq_fields)))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._repr_fields)
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        return self.__class__, self._values(self._fields)

    def __replace__(self, **changes: Any) -> Self:
        values = dict(zip(self._fields, self._values(self._fields), strict=True))
        values.update(changes)
        return self.__class__(**values)


F = TypeVar("F", bound=Frozen)


def replace(obj: F, /, **changes: Any) -> F:
    """`obj` with `changes` (`copy.replace()`, which Python 3.11 lacks)."""
    return obj.__replace__(**changes)
