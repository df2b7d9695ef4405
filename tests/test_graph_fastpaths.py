"""`graph.new_op` and `graph.new_tensor` (issue 14: the loader's `Op`s and `TensorInfo`s made
without the frozen dataclasses' ``__init__``) held to the classes' own constructors: the same
type, fields, equality, hash, repr, pickling, copies, `dataclasses.replace` and frozenness, on
varied fields (hostile names, unknown dimensions, no shape, blocks, nested attributes); and
`Graph.producer` / `Graph.tensors`, made in one pass, held to the two passes they replace."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from typing import Any

import pytest
from bad_inputs import HOSTILE_NAMES

from ane_notebook.model.graph import Graph, Op, TensorInfo, new_op, new_tensor

NAMES = ["x", "", "a/b:c", "line\nbreak", *HOSTILE_NAMES]
SHAPES: list[Any] = [None, (), (1,), (1, 64, 64), (None, 3), (0, 2**63)]
DTYPES = ["fp16", "fp32", "int32", "bool", "unknown(99)"]


def fields_of(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


def check_same(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert fields_of(got) == fields_of(want)
    assert got == want and want == got  # (`__eq__` both ways)
    assert repr(got) == repr(want)
    try:
        expected_hash: int | None = hash(want)
    except TypeError:  # an Op's attrs are a dict: unhashable, both ways
        expected_hash = None
        with pytest.raises(TypeError):
            hash(got)
    if expected_hash is not None:
        assert hash(got) == expected_hash
    for back in (pickle.loads(pickle.dumps(got)), copy.copy(got), copy.deepcopy(got)):
        assert type(back) is type(want) and back == want
    first = dataclasses.fields(got)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(got, first, getattr(got, first))
    assert not hasattr(got, "__dict__")


def random_tensor(rng: random.Random) -> tuple[str, Any, str]:
    return rng.choice(NAMES), rng.choice(SHAPES), rng.choice(DTYPES)


def test_new_tensor_is_the_constructor() -> None:
    rng = random.Random(1)
    for _ in range(200):
        name, shape, dtype = random_tensor(rng)
        got, want = new_tensor(name, shape, dtype), TensorInfo(name, shape, dtype)
        check_same(got, want)
        assert (got.rank, got.num_elements, got.nbytes) == (
            want.rank,
            want.num_elements,
            want.nbytes,
        )
        assert dataclasses.replace(got, dtype="fp32") == dataclasses.replace(want, dtype="fp32")


def test_new_op_is_the_constructor() -> None:
    rng = random.Random(2)
    for index in range(200):
        outputs = tuple(new_tensor(*random_tensor(rng)) for _ in range(rng.randint(0, 3)))
        attrs = rng.choice([{}, {"mil_name": rng.choice(NAMES)}, {"args": {"x": ("a", "b")}}])
        args = (
            index,
            rng.choice(NAMES),
            rng.choice(["const", "conv", "cond", "ios18.cast"]),
            rng.choice(["main", "f/g", *HOSTILE_NAMES]),
            tuple(rng.choice(NAMES) for _ in range(rng.randint(0, 3))),
            outputs,
            attrs,
            rng.random() < 0.5,
            rng.choice([(), ("c", "block0"), ("c", "block1", "w", "block0")]),
            rng.choice([None, 0, index]),
        )
        got, want = new_op(*args), Op(*args)
        check_same(got, want)
        assert dataclasses.replace(got, name="n") == dataclasses.replace(want, name="n")
    check_same(new_tensor("t", None, "fp16"), TensorInfo("t", None, "fp16"))


def test_new_op_sets_every_field() -> None:
    """A field added to `Op` or `TensorInfo` must be added to the fast constructors too."""
    fields = [f.name for f in dataclasses.fields(Op)]
    op = new_op(*range(len(fields)))  # type: ignore[arg-type]
    assert fields_of(op) == tuple(range(len(fields)))
    assert new_tensor(*"abc") == TensorInfo(*"abc")  # type: ignore[arg-type]
    assert [f.name for f in dataclasses.fields(TensorInfo)] == ["name", "shape", "dtype"]


def reference_producer(graph: Graph) -> dict[tuple[str, str], int]:
    """`Graph.producer` as it was (fc2be30)."""
    out: dict[tuple[str, str], int] = {}
    for op in graph.ops:
        for t in op.outputs:
            out[(op.function, t.name)] = op.index
    return out


def reference_tensors(graph: Graph) -> dict[tuple[str, str], TensorInfo]:
    """`Graph.tensors` as it was (fc2be30)."""
    out: dict[tuple[str, str], TensorInfo] = dict(graph.function_inputs)
    for op in graph.ops:
        for t in op.outputs:
            out[(op.function, t.name)] = t
    return out


@pytest.mark.parametrize("seed", range(100))
def test_producer_and_tensors_are_the_two_passes(seed: int) -> None:
    """Same items in the same order, over few names: produced twice, in several functions,
    function inputs that an op produces too; ops without outputs; the empty graph."""
    rng = random.Random(seed)
    functions = rng.choice([["main"], ["main", "f/g"], ["a", HOSTILE_NAMES[0], "main"]])
    names = ["a", "b", "c", "line\nbreak", HOSTILE_NAMES[1]]
    ops = []
    for i in range(rng.choice([0, 1, 5, 12])):
        outputs = tuple(
            TensorInfo(rng.choice(names), rng.choice(SHAPES), rng.choice(DTYPES))
            for _ in range(rng.choice([0, 1, 1, 2]))
        )
        ops.append(Op(i, f"op{i}", "relu", rng.choice(functions), (), outputs))
    inputs = {
        (rng.choice(functions), n): TensorInfo(n, rng.choice(SHAPES), "fp32")
        for n in rng.sample(names, rng.randint(0, 3))
    }
    graph = Graph("g", "mlprogram", tuple(ops), (), (), function_inputs=inputs)
    assert list(graph.producer.items()) == list(reference_producer(graph).items())
    assert list(graph.tensors.items()) == list(reference_tensors(graph).items())
    assert all(graph.tensors[k] is v for k, v in reference_tensors(graph).items())
