"""bokeh's `Document.to_json(deferred=False)` for our pages, without reading every unset property.

To serialise a model, bokeh (3.x, `HasProps.query_properties_with_values`) reads *every*
serialised property through its descriptor, so each unset one computes its default (the
class's overridden defaults gathered over the MRO, a copy, validation by `prepare_value`), and
then throws the value away: only properties that were set, plus unstable defaults (Instance and
container defaults, made when the model was), go into the JSON. On a report page that is
~12,000 default computations for ~250 models: ~0.1 s, half of `Document.to_json` (GitHub
issue 14).

`doc_json` gives the same JSON, key for key and in the same order, reading only what bokeh
keeps. An unset property is read anyway where bokeh's read could do something besides
computing a stable default: a required property without a value (bokeh raises
`UnsetValueError`) and an unstable default not made yet (bokeh's read makes it). What is
skipped is decided per class, once (`_plan`). A list of plain strings is sent as it is, in one
step, not value by value (bokeh's per-value `encode` gives each string back unchanged). A
model with theme values, a model class with its own `to_serializable`, or bokeh configured to
serialise defaults goes through bokeh's own code.
tests/test_docjson.py holds the result to `Document.to_json` on every example page and on
hand-made edge cases.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from bokeh import __version__
from bokeh.core.has_props import HasProps, is_DataModel
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.wrappers import PropertyValueContainer
from bokeh.core.serialization import AnyRep, Buffer, BytesRep, Serializer
from bokeh.core.types import ID
from bokeh.document import Document
from bokeh.document.json import DocJson
from bokeh.model import Model
from bokeh.settings import settings
from bokeh.util.serialization import make_id

# (name, descriptor, read even when unset) per serialised property, in bokeh's order.
Plan = tuple[tuple[str, PropertyDescriptor[Any], bool], ...]


@cache
def _plan(cls: type[HasProps]) -> Plan:
    """What `query_properties_with_values(lambda p: p.serialized, include_defaults=False)`
    reads on an instance of `cls`: every serialised property, in bokeh's order, flagged when
    reading it unset is more than computing a stable default."""
    out = []
    for name in cls.properties(_with_props=True):
        desc = cls.lookup(name)
        if not desc.serialized:
            continue
        out.append((name, desc, _read_when_unset(cls, name, desc)))
    return tuple(out)


def _read_when_unset(cls: type[HasProps], name: str, desc: PropertyDescriptor[Any]) -> bool:
    """True unless an unset `name` reads as a stable default, computed without side effects.

    Stability depends only on the property and the class's overridden defaults (bokeh's
    `has_unstable_default` reads nothing else of the instance), and so does the default of a
    model without theme values (`themed_default(cls, name, None)`)."""
    if not isinstance(desc, PropertyDescriptor):
        return True
    try:
        if desc.property._may_have_unstable_default() or desc.is_unstable(
            cls.__overridden_defaults__.get(name, None)
        ):
            return True  # bokeh's read makes it (normally made when the model was)
        default = desc.property.themed_default(cls, name, None)
    except Exception:
        return True  # whatever bokeh's read does, it will do it
    return default is Undefined  # a required property: bokeh's read raises


def _attributes(obj: Model) -> dict[str, Any] | None:
    """bokeh's `obj.properties_with_values(include_defaults=False)`, or None where only
    bokeh's own code gives it (theme values)."""
    if obj.themed_values() is not None:
        return None
    values = obj._property_values
    unstable = obj._unstable_default_values
    result: dict[str, Any] = {}
    for name, desc, read_unset in _plan(type(obj)):
        if name in values or name in unstable:
            value = desc.get_value(obj)
            # bokeh leaves out an unmodified container default (an empty list it made).
            if name in unstable and isinstance(value, PropertyValueContainer):
                continue
            result[name] = value
        elif read_unset:
            desc.get_value(obj)  # raises for an unset required property, as bokeh's read does
    return result


@cache
def _own_serialisation(cls: type[Model]) -> bool:
    """Whether `cls` serialises the way `Model.to_serializable` does (none of bokeh's models
    override it; a class that does keeps its own)."""
    return cls.to_serializable is Model.to_serializable


# Buffers from this size up are compressed once per distinct content (`_encode_bytes`); below
# it hashing costs about what compressing again would.
SHARED_BUFFER_BYTES = 16_384


class _Serializer(Serializer):
    """bokeh's Serializer with models encoded through `_attributes`, and each large buffer's
    content compressed once."""

    def __init__(self, *, deferred: bool) -> None:
        super().__init__(deferred=deferred)
        # Read once, not per model (bokeh's settings lookup is ~10 µs).
        self._bokehs_own = settings.serialize_include_defaults()
        self._base64: dict[bytes, str] = {}  # a large buffer's content -> bokeh's text of it

    def _encode_bytes(self, obj: bytes | memoryview) -> BytesRep:
        # An array handed to several models is serialised at each (the graph's producer arrays
        # go to two callbacks: ~4 x 110 KB of the 50k-op page's 2 MB of buffers), and bokeh
        # gzips it each time (~1.4 ms per 100 KB at level 9, issue 14). The text depends only
        # on the bytes (gzip with a fixed mtime), so an equal buffer gets the text made for the
        # first. A buffer still takes an id, as in bokeh's code (the ids count on from it).
        size = obj.nbytes if isinstance(obj, memoryview) else len(obj)
        if self._deferred or size < SHARED_BUFFER_BYTES:
            return super()._encode_bytes(obj)
        data = Buffer(make_id(), obj).to_bytes()
        text = self._base64.get(data)
        if text is None:
            text = self._base64[data] = Buffer(ID("unused"), data).to_base64()
        return BytesRep(type="bytes", data=text)

    def _encode(self, obj: Any) -> AnyRep:
        if isinstance(obj, Model) and _own_serialisation(type(obj)):
            return self._encode_model(obj)
        return super()._encode(obj)

    def _encode_list(self, obj: list[Any]) -> Any:
        # A list of plain strings (the dictionaries of encoded text columns, colour and label
        # columns: ~8,000 values on a 50k-op page) in one step: bokeh's per-item `encode`
        # returns each `str` itself (no model has a str's id, a str holds no reference), ~1.5
        # µs a value (issue 14). The type test runs in C; anything else is bokeh's.
        if set(map(type, obj)) <= {str}:
            return list(obj)
        return super()._encode_list(obj)

    def _encode_model(self, obj: Model) -> AnyRep:
        attributes = None if self._bokehs_own else _attributes(obj)
        if attributes is None:
            return obj.to_serializable(self)
        # `Model.to_serializable`: the reference first (the model may refer back to itself),
        # then {type, name, id, attributes} with attributes left out when empty.
        self.add_ref(obj, obj.ref)
        rep: dict[str, Any] = {"type": "object", "name": obj.__qualified_model__, "id": obj.id}
        encoded = {key: self.encode(val) for key, val in attributes.items()}
        if encoded:
            rep["attributes"] = encoded
        return rep


def doc_json(doc: Document) -> DocJson:
    """`doc.to_json(deferred=False)`: bokeh 3's steps, with models encoded by `_Serializer`."""
    data_models = [m for m in Model.model_class_reverse_map.values() if is_DataModel(m)]
    serializer = _Serializer(deferred=False)
    defs = serializer.encode(data_models)
    config = serializer.encode(doc._config)
    roots = serializer.encode(doc._roots)
    callbacks = serializer.encode(doc.callbacks.js_event_callbacks)
    out = DocJson(version=__version__, title=doc.title, config=config, roots=roots)
    if data_models:
        out["defs"] = defs
    if doc.callbacks.js_event_callbacks:
        out["callbacks"] = callbacks
    doc.models.flush_synced()
    return out
