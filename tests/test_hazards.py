"""The hazards table: each pattern triggers where its source says it matters, and not elsewhere.

Graphs are real MIL programs (so the loader's argument names are the ones the rules read), placed
by hand as a Core ML plan would place them: hazards are about where ops run, whatever chose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from ane_notebook.analysis.hazards import HAZARDS, NONE_KNOWN, find_hazards, hazard_rule
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device, Evidence
from ane_notebook.placement.result import (
    CONSTANT_REASON,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
)
from ane_notebook.report import ProfileReport, load_report

S, D, H = 16, 32, 4


def place(
    graph: Graph,
    where: Mapping[str, Device],
    default: Device = Device.ANE,
    source: str = "coreml",
) -> Placement:
    """A plan: every running op on `default` except those named in `where`."""
    ops = []
    for op in graph.ops:
        if op.is_const:
            ops.append(
                OpPlacement(
                    None, frozenset(), reason=CONSTANT_REASON, reason_kind=ReasonKind.CONSTANT
                )
            )
            continue
        dev = where.get(op.name, default)
        kind = ReasonKind.ON_ANE if dev is Device.ANE else ReasonKind.COREML_PREFERRED
        ops.append(OpPlacement(dev, frozenset(Device), reason_kind=kind, est_time_ms=0.01))
    return Placement(source, ComputeUnits.ALL, "M1", tuple(ops))


def report(graph: Graph, where: Mapping[str, Device], **kw: Any) -> ProfileReport:
    return ProfileReport.from_placement(graph, place(graph, where, **kw))


def ids(r: ProfileReport) -> list[str]:
    return [h.id for h in r.hazards]


def _qkv() -> list[Any]:
    return [mb.TensorSpec((1, H, S, D), dtype=types.fp16)]


def sdpa_mask_input() -> Graph:
    """The mask is a model input fed straight to the attention."""

    @mb.program(
        input_specs=[*_qkv(), mb.TensorSpec((1, 1, S, S), dtype=types.fp16)],
        opset_version=ct.target.iOS18,
    )
    def prog(x: Any, mask: Any) -> Any:
        q = mb.relu(x=x, name="q")
        return mb.scaled_dot_product_attention(query=q, key=x, value=x, attn_mask=mask, name="attn")

    return load_model(prog)


def sdpa_mask_computed() -> Graph:
    """The mask is computed (relu of an input), then `gap` runs, then the attention."""

    @mb.program(
        input_specs=[*_qkv(), mb.TensorSpec((1, 1, S, S), dtype=types.fp16)],
        opset_version=ct.target.iOS18,
    )
    def prog(x: Any, m: Any) -> Any:
        mask = mb.relu(x=m, name="mask")
        q = mb.sigmoid(x=x, name="gap")
        return mb.scaled_dot_product_attention(query=q, key=x, value=x, attn_mask=mask, name="attn")

    return load_model(prog)


def sdpa_const_mask() -> Graph:
    causal = np.triu(np.full((S, S), -1e4, dtype=np.float16), k=1)[None, None]

    @mb.program(input_specs=_qkv(), opset_version=ct.target.iOS18)
    def prog(x: Any) -> Any:
        q = mb.relu(x=x, name="q")
        return mb.scaled_dot_product_attention(
            query=q, key=x, value=x, attn_mask=causal, name="attn"
        )

    return load_model(prog)


def sdpa_no_mask() -> Graph:
    @mb.program(input_specs=_qkv(), opset_version=ct.target.iOS18)
    def prog(x: Any) -> Any:
        q = mb.relu(x=x, name="q")
        return mb.scaled_dot_product_attention(query=q, key=x, value=x, name="attn")

    return load_model(prog)


def explicit_attention(batch: int) -> Graph:
    """matmul -> mul -> add(bias) -> softmax -> matmul, as coremltools#2650's reproducer."""
    bias = (np.arange(S * S, dtype=np.float32).reshape(1, 1, S, S) % 3 / 10).astype(np.float16)

    @mb.program(
        input_specs=[mb.TensorSpec((batch, H, S, D), dtype=types.fp16)],
        opset_version=ct.target.iOS17,
    )
    def prog(x: Any) -> Any:
        q = mb.relu(x=x, name="q")
        s = mb.matmul(x=q, y=x, transpose_y=True, name="scores")
        s = mb.mul(x=s, y=np.float16(0.125), name="scale")
        s = mb.add(x=s, y=bias, name="bias")
        a = mb.softmax(x=s, axis=-1, name="attn")
        return mb.matmul(x=a, y=x, name="context")

    return load_model(prog)


# --- sdpa.ane_mask_outside_procedure ----------------------------------------------------------

MASK = "sdpa.ane_mask_outside_procedure"


def test_ane_attention_with_a_model_input_mask_is_flagged() -> None:
    g = sdpa_mask_input()
    r = report(g, {})
    assert ids(r) == [MASK]
    h = r.hazards[0]
    assert h.ops == (r.op("attn").index,)
    assert "model input 'mask'" in h.message and h.evidence is Evidence.COMMUNITY
    assert "sidekick" in h.source
    assert set(r.hazards_by_op()) == {r.op("attn").index}


def test_ane_attention_with_a_mask_computed_on_the_cpu_is_flagged() -> None:
    g = sdpa_mask_computed()
    r = report(g, {"mask": Device.CPU})
    assert ids(r) == [MASK]
    assert r.hazards[0].ops == (r.op("attn").index, r.op("mask").index)
    assert "computed on the CPU by 'mask'" in r.hazards[0].message


def test_mask_from_an_earlier_ane_segment_is_flagged() -> None:
    # mask on the ANE, then `gap` on the CPU splits the ANE work: a separate procedure.
    g = sdpa_mask_computed()
    r = report(g, {"gap": Device.CPU})
    assert ids(r) == [MASK]
    assert "earlier Neural Engine segment" in r.hazards[0].message


def test_mask_built_in_the_attentions_own_ane_segment_is_not_flagged() -> None:
    assert ids(report(sdpa_mask_computed(), {})) == []


def test_constant_masks_and_unmasked_attention_are_not_flagged() -> None:
    assert ids(report(sdpa_const_mask(), {})) == []
    assert ids(report(sdpa_no_mask(), {})) == []


def test_a_constant_mask_is_not_flagged_even_if_a_plan_gives_it_a_device() -> None:
    g = sdpa_const_mask()
    p = place(g, {})
    ops = list(p.ops)
    mask = next(op for op in g.ops if op.is_const and op.outputs[0].shape == (1, 1, S, S))
    ops[mask.index] = OpPlacement(Device.CPU, frozenset(Device), reason_kind=ReasonKind.CONSTANT)
    r = ProfileReport.from_placement(g, Placement("coreml", ComputeUnits.ALL, "M1", tuple(ops)))
    assert ids(r) == []


def test_attention_off_the_ane_is_not_flagged_by_the_ane_rule() -> None:
    r = report(sdpa_mask_input(), {"attn": Device.GPU})
    assert MASK not in ids(r)


def test_an_op_the_plan_did_not_place_is_not_flagged() -> None:
    # Core ML's fallback: the attention has no device in the plan (the source: mask works).
    g = sdpa_mask_input()
    p = place(g, {})
    i = g.op("attn").index
    ops = list(p.ops)
    ops[i] = OpPlacement(None, frozenset(), reason_kind=ReasonKind.NO_USAGE)
    r = ProfileReport.from_placement(g, Placement("coreml", ComputeUnits.ALL, "M1", tuple(ops)))
    assert ids(r) == []


# --- sdpa.cpu_fully_masked_row_nan ----------------------------------------------------------

NAN = "sdpa.cpu_fully_masked_row_nan"


def test_cpu_attention_with_a_mask_is_flagged_with_the_fill_limit() -> None:
    r = report(sdpa_mask_input(), {"attn": Device.CPU})
    assert ids(r) == [NAN]
    # 65504 / sqrt(32) = 11579.6: the head dim comes from the query's shape
    assert "below -11580 (head dim 32)" in r.hazards[0].message


def test_cpu_attention_without_a_mask_is_not_flagged() -> None:
    assert ids(report(sdpa_no_mask(), {"attn": Device.CPU})) == []
    assert ids(report(sdpa_mask_input(), {"attn": Device.GPU})) == []


# --- attention.gpu_batch_ge_10 --------------------------------------------------------------

GPU = "attention.gpu_batch_ge_10"


def test_gpu_attention_pattern_with_batch_10_is_flagged() -> None:
    g = explicit_attention(10)
    r = report(g, {}, default=Device.GPU)
    assert ids(r) == [GPU]
    names = [r.ops[i].name for i in r.hazards[0].ops]
    assert names == ["scores", "scale", "bias", "attn", "context"]
    assert "batch 10" in r.hazards[0].message


def test_gpu_attention_below_batch_10_or_off_the_gpu_is_not_flagged() -> None:
    assert ids(report(explicit_attention(9), {}, default=Device.GPU)) == []
    assert ids(report(explicit_attention(10), {}, default=Device.ANE)) == []
    # the pattern split across processors is not the fused GPU kernel
    assert ids(report(explicit_attention(10), {"attn": Device.CPU}, default=Device.GPU)) == []


# --- precision.neuralnetwork_fp16_island ------------------------------------------------------

NN = "precision.neuralnetwork_fp16_island"


def test_neuralnetwork_split_between_cpu_and_gpu_is_flagged() -> None:
    g = load_model("example:nn_legacy")
    running = [op for op in g.ops if not op.is_const]
    r = report(g, {running[0].name: Device.CPU}, default=Device.GPU)
    assert ids(r) == [NN]
    h = r.hazards[0]
    assert h.evidence is Evidence.OFFICIAL and "typed-execution" in h.source
    assert h.ops[0] == running[1].index and len(h.ops) == len(running) - 1


def test_neuralnetwork_on_one_processor_or_ml_programs_are_not_flagged() -> None:
    g = load_model("example:nn_legacy")
    assert ids(report(g, {}, default=Device.CPU)) == []
    assert ids(report(g, {}, default=Device.ANE)) == []
    # an ML Program split the same way: typed tensors keep their precision
    mp = sdpa_no_mask()
    assert ids(report(mp, {"q": Device.CPU}, default=Device.GPU)) == []


# --- the table, the report ------------------------------------------------------------------


def test_every_rule_has_a_source_an_evidence_level_and_a_fix() -> None:
    assert len({h.id for h in HAZARDS}) == len(HAZARDS)
    for h in HAZARDS:
        assert h.source and h.fix and h.risk and isinstance(h.evidence, Evidence)
        assert hazard_rule(h.id) is h
    assert all(note.startswith("none known") for _, note in NONE_KNOWN)


def test_estimates_say_the_placement_is_estimated() -> None:
    r = report(sdpa_mask_input(), {}, source="estimate")
    assert r.source is PlacementSource.ESTIMATE
    assert "on the estimated placement" in r.hazards[0].message


def test_hazards_reach_text_json_and_back(tmp_path: Any) -> None:
    r = report(sdpa_mask_input(), {})
    text = r.to_text()
    assert "Hazards (can change results, not speed): 1" in text and f"[{MASK}]" in text
    assert "fix: compute the mask inside" in text
    r.to_json(tmp_path / "r.json")
    back = load_report(tmp_path / "r.json")
    assert back.hazards == r.hazards
    assert "none found (4 known patterns checked)" in report(sdpa_no_mask(), {}).to_text()


def test_find_hazards_reads_the_placement_not_the_report() -> None:
    g = sdpa_mask_input()
    p = place(g, {})
    from ane_notebook.analysis.segments import find_segments

    hs = find_hazards(g, p.ops, find_segments(g, p.ops), p.source)
    assert [h.id for h in hs] == [MASK]


@pytest.mark.parametrize("name", ["mobilenet", "transformer", "lstm", "fp32", "nn_legacy"])
def test_examples_have_no_hazards_on_their_estimates(name: str) -> None:
    from ane_notebook.api import profile

    for cu in ("ALL", "CPU_AND_NE"):
        assert profile(f"example:{name}", cu, backend="estimate").hazards == ()


def test_every_hazard_has_an_evidence_section_whose_tests_exist() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "evidence.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^### |^## |\Z)", doc, re.S | re.M))
    for h in HAZARDS:
        assert h.id in sections, h.id
        assert f"- **Evidence:** {h.evidence.value}" in sections[h.id], h.id
    for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)", doc):
        assert re.search(rf"^def {name}\(", (root / path).read_text(), re.M), f"{path}::{name}"


def test_a_hazard_naming_a_missing_op_does_not_break_the_page(tmp_path: Path) -> None:
    # reports built in code are not validated: a hazard may name an op index that is not there
    from dataclasses import replace

    import ane_notebook as an
    from ane_notebook.placement.devices import Evidence
    from ane_notebook.placement.result import Hazard

    report = an.profile("example:mobilenet")
    for bad in (-1, len(report.ops) + 5):
        h = Hazard("sdpa_mask", "a mask", Evidence.OFFICIAL, "a source", (bad,))
        broken = replace(report, hazards=(h,))
        broken.to_html(tmp_path / "p.html")
        assert (tmp_path / "p.html").stat().st_size > 0


def _consumers_plainly(graph: Graph) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    for src, dst, _ in graph.edges():
        out.setdefault(src, []).append(dst)
    return {k: tuple(v) for k, v in out.items()}


def test_consumers_read_from_the_edge_columns_are_the_graph_edges() -> None:
    # HazardContext.consumers reads analysis.inputs' edge columns (issue 14): the same
    # consumers, in the same order, as walking Graph.edges, alone and inside Graph.sharing;
    # the odd graph has an op reading a name twice, its own output and a name nothing makes
    from test_report_fastpaths import odd_graph

    from ane_notebook.analysis.hazards import HazardContext

    graphs = [odd_graph(), Graph("empty", "mlprogram", (), (), ())]
    graphs += [load_model(f"example:{n}") for n in ("transformer", "lstm", "mobilenet")]
    for g in graphs:
        want = _consumers_plainly(g)
        for shared in (False, True):
            with g.sharing() if shared else nullcontext():
                ctx = HazardContext(g, (), (), PlacementSource.ESTIMATE)
                assert [ctx.consumers(i) for i in range(len(g.ops))] == [
                    want.get(i, ()) for i in range(len(g.ops))
                ]
                assert ctx.consumers(len(g.ops)) == ()
