"""`class_facts_cached()`: while a page is built, per-class facts bokeh recomputes on every
model and property read are computed once.

Making a bokeh model, setting or reading an unset property and walking the model graph all go
through a property's default (`Property.themed_default`): the class's overridden defaults
gathered over its MRO (`HasProps._overridden_defaults`, a new dict each call), a copy of the
default, its validation (`prepare_value`); and `HasProps.__init__` asks every property whether
its default is unstable (`PropertyDescriptor.has_unstable_default`, a recursive walk over the
property's type parameters). On a report page that is ~25,000 calls for ~250 models, ~0.05 s
(GitHub issue 14). Each answer depends only on the class and the property, or on where bokeh
keeps it:

* `_overridden_defaults(cls)`: the classes' `__overridden_defaults__`, set when a class is made
  and never changed; its only caller (`themed_default`) reads the dict, never changes it;
* `has_unstable_default(obj)`: the property and `type(obj).__overridden_defaults__`;
* `themed_default(cls, name, None)`: the same value each call when the default is not made by a
  function; only immutable results (None, bool, int, float, str, `Undefined`) are kept, so
  handing out the same object is what bokeh's copy of it would be, and for an empty container
  default (`tags=[]`, `js_property_callbacks={}`, ...: ~14 on every model) the wrapper's type,
  so each call gets a new empty wrapper, as from bokeh's copy, validation and wrapping;
* `themed_values()`: read from the instance's __dict__ where `apply_theme` puts it, without the
  failed attribute lookup (through `HasProps.__getattr__`) bokeh's `getattr` makes;
* `DataSpec.to_serializable`: a data spec's value type with `String` replaced by `Nothing` (to
  tell a value from a field name), a new tree of properties bokeh builds on every serialised
  data spec (~390 a page, ~8 ms of a 50k-op page's serialisation); it depends only on the
  spec's `value_type`, and validating against it changes nothing.

The cached versions are installed on bokeh's classes only inside the block (nesting and threads
counted, restored when the last block ends): outside our page building bokeh runs unchanged.
The answers are kept for the next page: each is a function of objects its key holds (the
class; the property or spec, checked by identity on a hit) and of what bokeh sets when a
class is made and never changes, so the next page would compute the same ones again (~10 ms
of the ~0.1 s every page costs however small its report: issue 14). `clear_caches()` empties
them. Inside, another thread's bokeh calls get the same answers bokeh would give.
tests/test_propcache.py checks every model class's every property against bokeh's own
functions, and the pages against pages made without.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bokeh.core.has_props import HasProps
from bokeh.core.property.bases import Property, validation_on
from bokeh.core.property.dataspec import DataSpec
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.core.property.nothing import Nothing
from bokeh.core.property.primitive import String
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.vectorization import Field, Value
from bokeh.core.property.wrappers import (
    PropertyValueColumnData,
    PropertyValueDict,
    PropertyValueList,
    PropertyValueSet,
)

_IMMUTABLE = frozenset({type(None), bool, int, float, str})
# bokeh's wrappers of container values, made by `Property.wrap`: `type()` is a new empty one.
_WRAPPERS = frozenset(
    {PropertyValueList, PropertyValueDict, PropertyValueSet, PropertyValueColumnData}
)

# The attributes as the classes hold them (a classmethod object for the first), put back as
# they were.
_SAVED = (
    HasProps.__dict__["_overridden_defaults"],
    PropertyDescriptor.__dict__["has_unstable_default"],
    Property.__dict__["themed_default"],
    HasProps.__dict__["themed_values"],
    DataSpec.__dict__["to_serializable"],
)
_ORIGINAL_OVERRIDDEN: Callable[[type[HasProps]], dict[str, Any]] = _SAVED[0].__func__
_ORIGINAL_UNSTABLE: Callable[[PropertyDescriptor[Any], HasProps], bool] = _SAVED[1]
_ORIGINAL_THEMED: Callable[..., Any] = _SAVED[2]
_ORIGINAL_THEMED_VALUES: Callable[[HasProps], dict[str, Any] | None] = _SAVED[3]

_overridden: dict[type[HasProps], dict[str, Any]] = {}
# Keyed by id(): bokeh's properties are unhashable. The value holds the property (so its id is
# not reused while the answer is kept) and is checked on a hit.
_unstable: dict[tuple[int, type[HasProps]], tuple[Any, bool]] = {}
# (property, the value or an empty wrapper's type, whether it is the type)
_themed: dict[tuple[int, type[HasProps], str, bool, bool], tuple[Any, Any, bool]] = {}


def _overridden_defaults(cls: type[HasProps]) -> dict[str, Any]:
    found = _overridden.get(cls)
    if found is None:
        found = _overridden[cls] = _ORIGINAL_OVERRIDDEN(cls)
    return found


def _has_unstable_default(self: PropertyDescriptor[Any], obj: HasProps) -> bool:
    key = (id(self), type(obj))
    hit = _unstable.get(key)
    if hit is not None and hit[0] is self:
        return hit[1]
    answer = _ORIGINAL_UNSTABLE(self, obj)
    _unstable[key] = (self, answer)
    return answer


def _themed_default(
    self: Property[Any],
    cls: type[HasProps],
    name: str,
    theme_overrides: dict[str, Any] | None,
    *,
    no_eval: bool = False,
) -> Any:
    if theme_overrides is not None and name in theme_overrides:
        return _ORIGINAL_THEMED(self, cls, name, theme_overrides, no_eval=no_eval)
    # Validation on or off can change what prepare_value makes of an invalid default.
    key = (id(self), cls, name, no_eval, validation_on())
    hit = _themed.get(key)
    if hit is not None and hit[0] is self:
        # An empty container default: a new wrapper each time, as bokeh's copy would be.
        return hit[1]() if hit[2] else hit[1]
    value = _ORIGINAL_THEMED(self, cls, name, theme_overrides, no_eval=no_eval)
    source = cls._overridden_defaults().get(name, self._default)
    if callable(source):
        return value  # a default made by a function: a new object each time
    if type(value) in _IMMUTABLE or value is Undefined:
        _themed[key] = (self, value, False)
    elif _empty_wrapper(source, value):
        _themed[key] = (self, type(value), True)
    return value


def _empty_wrapper(source: Any, value: Any) -> bool:
    """Whether `value` is bokeh's wrapper of an empty `source` (`[]`, `{}`, `set()`), in the
    state a new wrapper starts in: bokeh's copy, validation (an empty container is valid or
    not whatever its copy) and wrapping give an equal new one each time."""
    return (
        type(source) in (list, dict, set)
        and not source
        and type(value) in _WRAPPERS
        and not value
        and vars(value) == {"_owners": set()}
    )


def _themed_values(self: HasProps) -> dict[str, Any] | None:
    # bokeh's `getattr(self, "__themed_values__", None)` misses on almost every model, and a
    # miss goes through HasProps.__getattr__ (~2 µs, ~13,000 times a page). `apply_theme`
    # keeps the values in the instance's __dict__; a class holding the name gets bokeh's
    # lookup.
    found = self.__dict__.get("__themed_values__", _ABSENT)
    if found is _ABSENT:
        cls = type(self)
        if _class_has_themed_values.setdefault(cls, hasattr(cls, "__themed_values__")):
            return _ORIGINAL_THEMED_VALUES(self)
        return None
    return found  # type: ignore[no-any-return]


_ABSENT = object()
_class_has_themed_values: dict[type, bool] = {}

# (the spec, its value type, that type without strings), by id of the spec.
_no_string: dict[int, tuple[DataSpec, Property[Any], Property[Any]]] = {}


def _dataspec_to_serializable(self: DataSpec, obj: HasProps, name: str, val: Any) -> Any:
    # bokeh 3's `DataSpec.to_serializable`, with the replaced type made once per spec.
    value_type = self.value_type
    hit = _no_string.get(id(self))
    if hit is None or hit[0] is not self or hit[1] is not value_type:
        hit = _no_string[id(self)] = (self, value_type, value_type.replace(String, Nothing()))
    try:
        hit[2].validate(val, False)
        return Value(val)
    except ValueError:
        pass
    if isinstance(val, str):
        return Field(val)
    return val


_OWNERS: tuple[type, ...] = (HasProps, PropertyDescriptor, Property, HasProps, DataSpec)
_NAMES = (
    "_overridden_defaults",
    "has_unstable_default",
    "themed_default",
    "themed_values",
    "to_serializable",
)
_lock = threading.Lock()
_depth = 0


def _install() -> None:
    cached = (
        classmethod(_overridden_defaults),
        _has_unstable_default,
        _themed_default,
        _themed_values,
        _dataspec_to_serializable,
    )
    for owner, name, attr in zip(_OWNERS, _NAMES, cached, strict=True):
        setattr(owner, name, attr)


def _restore() -> None:
    for owner, name, attr in zip(_OWNERS, _NAMES, _SAVED, strict=True):
        setattr(owner, name, attr)


def clear_caches() -> None:
    """Forget every kept answer (for tests, or after changing a bokeh class's defaults)."""
    _overridden.clear()
    _unstable.clear()
    _themed.clear()
    _class_has_themed_values.clear()
    _no_string.clear()


@contextmanager
def class_facts_cached() -> Iterator[None]:
    """bokeh's per-class defaults and default stability computed once each inside the block."""
    global _depth
    with _lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore()
