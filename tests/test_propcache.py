"""render/propcache.py caches four of bokeh's per-class facts while a page is built (GitHub
issue 14). Held here to bokeh's own functions on every property of every model class, to
pages built without the caches, and to leaving bokeh exactly as it was after the block."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from bokeh.core.has_props import HasProps
from bokeh.core.property.bases import Property
from bokeh.core.property.dataspec import DataSpec
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.model import Model
from bokeh.models import Div
from bokeh.themes import Theme
from test_page_parts import _canon
from test_render import make_report

import ane_notebook as an
from ane_notebook.model.examples import list_examples
from ane_notebook.render import propcache
from ane_notebook.render.encode import encode_sources
from ane_notebook.render.layout import build_layout
from ane_notebook.render.propcache import class_facts_cached
from ane_notebook.report import ProfileReport

_ATTRS = [
    (HasProps, "_overridden_defaults"),
    (PropertyDescriptor, "has_unstable_default"),
    (Property, "themed_default"),
    (HasProps, "themed_values"),
    (DataSpec, "to_serializable"),
]


def _bokehs() -> list[Any]:
    return [owner.__dict__[name] for owner, name in _ATTRS]


def _classes() -> list[type[Model]]:
    return sorted(Model.model_class_reverse_map.values(), key=lambda c: c.__qualified_model__)


def _facts(cls: type[Model]) -> list[Any]:
    """What the three give for every property of `cls` (asked twice: the second answer comes
    from the caches when they are on)."""
    bare = cls.__new__(cls)  # has_unstable_default reads only the class's attributes
    out: list[Any] = []
    for _ in range(2):
        out.append(dict(cls._overridden_defaults()))
        for name in cls.properties(_with_props=True):
            desc = cls.lookup(name)
            out.append((name, desc.has_unstable_default(bare)))
            if not isinstance(desc, PropertyDescriptor):
                continue
            prop = desc.property
            source = cls._overridden_defaults().get(name, prop._default)
            for no_eval in (False, True):
                if callable(source) and not no_eval:
                    continue  # a default made by a function: never kept, and it makes models
                try:
                    value = prop.themed_default(cls, name, None, no_eval=no_eval)
                except ValueError as e:  # an unevaluated InstanceDefault fails validation
                    out.append((name, no_eval, "raises", str(e)))
                else:
                    again = prop.themed_default(cls, name, None, no_eval=no_eval)
                    # A mutable default is a new object each time: never shared between models.
                    shared = again is value and type(value) not in (
                        type(None),
                        bool,
                        int,
                        float,
                        str,
                    )
                    state = vars(value) if hasattr(value, "_owners") else None  # a wrapper's owners
                    out.append((name, no_eval, type(value), repr(value), shared, state))
    return out


def test_every_model_class_gets_bokehs_answers() -> None:
    classes = _classes()
    want = [_facts(c) for c in classes]
    with class_facts_cached():
        got = [_facts(c) for c in classes]
    for cls, g, w in zip(classes, got, want, strict=True):
        assert g == w, cls


def _doc_text(report: ProfileReport, compare: dict[str, ProfileReport] | None = None) -> str:
    doc = encode_sources(build_layout(report, compare).root)
    return _canon(json.dumps(doc.to_json(deferred=False)))


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_example_pages_are_the_same_with_the_caches(name: str) -> None:
    report = an.profile(f"example:{name}")
    want = _doc_text(report)
    with class_facts_cached():
        assert _doc_text(report) == want


def test_hostile_compared_page_is_the_same_with_the_caches() -> None:
    compare = {"a": make_report(), "b": make_report()}
    want = _doc_text(make_report(), compare)
    with class_facts_cached():
        assert _doc_text(make_report(), compare) == want


def test_bokeh_is_restored_after_the_block_nested_or_failing() -> None:
    before = _bokehs()
    with class_facts_cached():
        assert _bokehs() != before
        with class_facts_cached():
            Div(text="a model made with the caches on")
        assert _bokehs() != before  # the outer block still holds them
    assert _bokehs() == before and all(a is b for a, b in zip(_bokehs(), before, strict=True))
    with pytest.raises(RuntimeError), class_facts_cached():
        raise RuntimeError
    assert all(a is b for a, b in zip(_bokehs(), before, strict=True))
    # The answers are kept for the next page (they depend on the class and property only) ...
    assert propcache._overridden and propcache._unstable and propcache._themed
    propcache.clear_caches()  # ... until cleared
    assert not (propcache._overridden or propcache._unstable or propcache._themed)


def test_answers_kept_from_a_block_are_bokehs_in_the_next() -> None:
    classes = _classes()
    want = [_facts(c) for c in classes]
    propcache.clear_caches()
    with class_facts_cached():
        first = [_facts(c) for c in classes]
    assert propcache._themed  # kept
    with class_facts_cached():
        again = [_facts(c) for c in classes]
    for cls, a, b, w in zip(classes, first, again, want, strict=True):
        assert a == w and b == w, cls


def test_pages_made_after_other_pages_are_the_same_with_the_caches() -> None:
    reports = [an.profile(f"example:{n}") for n, _ in list_examples()[:3]] + [make_report()]
    want = [_doc_text(r) for r in reports]
    propcache.clear_caches()
    for _ in range(2):  # cold, then with every answer kept from the pages before
        for r, w in zip(reports, want, strict=True):
            with class_facts_cached():
                assert _doc_text(r) == w


def test_overlapping_blocks_in_threads_restore_bokeh() -> None:
    before = _bokehs()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with class_facts_cached():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    with class_facts_cached():
        t.start()
        inside.wait(10)
    assert _bokehs() != before  # the thread's block is still open
    leave.set()
    t.join(10)
    assert all(a is b for a, b in zip(_bokehs(), before, strict=True))


def test_theme_values_are_bokehs_with_and_without_a_theme() -> None:
    doc = encode_sources(build_layout(make_report()).root)
    themed = encode_sources(build_layout(make_report()).root)
    themed.theme = Theme(json={"attrs": {"Div": {"width": 123}, "Title": {"text_color": "red"}}})
    models = [*doc.models, *themed.models, Div(), Theme]  # a class too: no instance __dict__
    want = [m.themed_values() if isinstance(m, HasProps) else None for m in models]
    assert any(w is not None for w in want)
    with class_facts_cached():
        got = [m.themed_values() if isinstance(m, HasProps) else None for m in models]
    assert all(g is w for g, w in zip(got, want, strict=True))


class _ThemedByClass(Model):
    """A model class that will hold the attribute itself: bokeh's lookup finds it."""

    __implementation__ = None


def test_a_class_holding_theme_values_gets_bokehs_lookup() -> None:
    m = _ThemedByClass()
    _ThemedByClass.__themed_values__ = {"tags": ["x"]}  # type: ignore[attr-defined]
    try:
        with class_facts_cached():
            got = m.themed_values()
        assert got is m.themed_values() and got == {"tags": ["x"]}
    finally:
        del _ThemedByClass.__themed_values__  # type: ignore[attr-defined]


# Values a data spec may hold: numbers, field names, colours, dicts, None, a sequence.
_SPEC_VALUES: list[Any] = [
    0,
    1.5,
    -3,
    True,
    "x",
    "red",
    "#ff0000",
    "10pt",
    "",
    None,
    (1, 2, 3),
    (255, 0, 0, 0.5),
    [1, 2],
    {"field": "x"},
    {"value": 2},
    {"expr": "e"},
    "<b>&hostile\n",
]


def _spec_answers() -> list[Any]:
    """`to_serializable` of every data spec of every model class for every value above."""
    out: list[Any] = []
    for cls in _classes():
        bare = cls.__new__(cls)
        for name in sorted(cls.dataspecs()):
            prop = cls.lookup(name).property
            for value in _SPEC_VALUES:
                try:
                    got = prop.to_serializable(bare, name, value)
                except Exception as e:  # noqa: BLE001  (whatever bokeh raises, ours must too)
                    out.append((cls, name, repr(value), "raises", type(e)))
                else:
                    out.append((cls, name, repr(value), type(got), repr(got)))
    return out


def test_every_data_spec_serialises_as_bokeh_does() -> None:
    want = _spec_answers()
    with class_facts_cached():
        got = _spec_answers()
        again = _spec_answers()  # the second time from the cache
    assert got == want and again == want
