"""Tests for ane_notebook.model.examples: every example builds, loads and contains what it is
meant to show; the cache is reused, respects $ANE_NOTEBOOK_CACHE and is written atomically."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from coremltools.converters.mil.mil import Program

from ane_notebook.errors import ModelLoadError
from ane_notebook.model import examples
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import load_model

ANE_AXIS_LIMIT = 16384


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    # Built once into the session cache (see conftest.example_cache).
    return {name: load_model(f"example:{name}") for name in examples.EXAMPLES}


def compute_types(g: Graph) -> Counter[str]:
    return Counter(o.op_type for o in g.ops if not o.is_const)


def test_listing() -> None:
    listed = examples.list_examples()
    assert [name for name, _ in listed] == list(examples.EXAMPLES)
    assert {"mobilenet", "transformer", "lstm", "fp32"} <= {name for name, _ in listed}
    for name, description in listed:
        assert description and "\n" not in description, name


def test_every_example_loads(graphs: dict[str, Graph]) -> None:
    for name, g in graphs.items():
        assert (g.name, g.source) == (name, f"example:{name}")
        assert len(g) > 0 and g.inputs and g.outputs
        assert g.format == examples.EXAMPLES[name].kind


def test_mobilenet(graphs: dict[str, Graph]) -> None:
    g = graphs["mobilenet"]
    types = compute_types(g)
    for t in ("conv", "relu6", "avg_pool", "linear", "softmax"):
        assert types[t] >= 1, t
    assert types["conv"] == 27  # MobileNetV1: stem + 13 depthwise/pointwise pairs
    assert "cast" not in types  # fp16 in and out: no boundary casts
    convs = [o for o in g.ops if o.op_type == "conv"]
    depthwise = [o for o in convs if o.attrs["groups"] > 1]
    assert depthwise
    for o in depthwise:
        shape = o.outputs[0].shape
        assert shape is not None and o.attrs["groups"] == shape[1], o.name
    # ANE-friendly: fp16 everywhere, static shapes.
    for o in g.ops:
        if not o.is_const and o.op_type != "cast":
            assert all(t.dtype == "fp16" for t in o.outputs), o.name
        assert all(t.num_elements is not None for t in o.outputs), o.name
    assert not g.is_flexible


def test_transformer(graphs: dict[str, Graph]) -> None:
    g = graphs["transformer"]
    types = compute_types(g)
    for t in ("gather", "layer_norm", "softmax", "matmul", "linear", "gelu", "transpose"):
        assert types[t] >= 1, t
    assert types["layer_norm"] == 5  # 2 per layer + final
    assert g.inputs[0].dtype == "int32" and g.inputs[0].shape == (1, 128)
    wide = [
        o
        for o in g.ops
        if o.op_type == "linear"
        and o.outputs[0].shape
        and (o.outputs[0].shape[-1] or 0) > ANE_AXIS_LIMIT
    ]
    assert len(wide) == 1 and wide[0].attrs["weight_shape"] == (32000, 256)
    scores = [o for o in g.ops if o.op_type == "matmul" and o.attrs.get("transpose_y")]
    assert len(scores) == 2


def test_lstm(graphs: dict[str, Graph]) -> None:
    types = compute_types(graphs["lstm"])
    assert types["lstm"] == 1 and types["linear"] == 2


def test_fp32(graphs: dict[str, Graph]) -> None:
    g = graphs["fp32"]
    types = compute_types(g)
    assert types["conv"] == 1 and types["linear"] == 1 and types["cast"] == 0
    assert all(t.dtype == "fp32" for o in g.ops if not o.is_const for t in o.outputs)


def test_flexible(graphs: dict[str, Graph]) -> None:
    g = graphs["flexible"]
    (flex,) = g.flexible_inputs
    assert flex.kind == "range" and flex.ranges[2:] == ((32, 512), (32, 512))
    conv = next(o for o in g.ops if o.op_type == "conv")
    assert g.inputs[0].shape == (1, 3, None, None)  # flexible in the interface
    assert conv.outputs[0].shape == (1, 16, 128, 128)  # placed at the default shape


def test_control_flow(graphs: dict[str, Graph]) -> None:
    g = graphs["control_flow"]
    types = compute_types(g)
    assert types["cond"] == 1 and types["while_loop"] == 1
    assert any(o.block and o.parent is not None for o in g.ops)


def test_nn_legacy(graphs: dict[str, Graph]) -> None:
    g = graphs["nn_legacy"]
    assert examples.example_path("nn_legacy").suffix == ".mlmodel"
    types = compute_types(g)
    assert {"convolution", "pooling", "addBroadcastable", "innerProduct"} <= set(types)
    # A valid ND-mode network: convolution reads rank >= 4 (Core ML's layer validator), and
    # the flattened features match the inner product's declared input width.
    assert g.function_inputs[("main", "image")].shape == (1, 3, 32, 32)
    assert [o.outputs[0].shape for o in g.ops] == [
        (1, 8, 32, 32),
        (1, 8, 32, 32),
        (1, 8, 16, 16),
        (1, 8, 16, 16),
        (1, 2048),
        (1, 10),
        (1, 10),
    ]
    fc = next(o for o in g.ops if o.op_type == "innerProduct")
    assert fc.attrs["inputChannels"] == 2048


def test_build_example_program() -> None:
    prog = examples.build_example_program("lstm")
    assert isinstance(prog, Program)
    assert any(op.op_type == "lstm" for op in prog.functions["main"].operations)
    with pytest.raises(ModelLoadError, match="not a MIL program"):
        examples.build_example_program("nn_legacy")


def test_unknown_example() -> None:
    with pytest.raises(ModelLoadError) as info:
        examples.example_path("resnet")
    assert str(info.value).startswith("example:resnet: unknown example; choose one of ")
    assert "mobilenet" in str(info.value)


def test_cache_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = examples.example_path("fp32")
    mtime = first.stat().st_mtime_ns

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("example rebuilt although it is cached")

    monkeypatch.setattr(examples, "build_example_model", no_rebuild)
    assert examples.example_path("fp32") == first
    assert load_model("example:fp32").name == "fp32"
    assert first.stat().st_mtime_ns == mtime


def test_cache_env_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path / "cache"))
    assert examples.cache_root() == tmp_path / "cache"
    path = examples.example_path("fp32")
    assert path == tmp_path / "cache" / "examples" / "fp32-1.mlpackage"
    assert (path / "Manifest.json").is_file()
    # Nothing but the finished model is left behind (no temporary build folders).
    assert os.listdir(path.parent) == ["fp32-1.mlpackage"]


def test_damaged_cache_entry_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    damaged = tmp_path / "examples" / "fp32-1.mlpackage"
    damaged.mkdir(parents=True)
    (damaged / "junk").write_text("half a model")
    path = examples.example_path("fp32")
    assert path == damaged and (path / "Manifest.json").is_file()
    assert not (path / "junk").exists()
    assert os.listdir(path.parent) == ["fp32-1.mlpackage"]


def test_concurrent_builder_wins_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another process renames its copy into place while we build, we use theirs."""
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    final = tmp_path / "examples" / "fp32-1.mlpackage"
    real_build = examples.build_example_model

    def build_and_lose(name: str, package_dir: object = None) -> object:
        model = real_build(name, package_dir=package_dir)  # type: ignore[arg-type]
        shutil.copytree(str(package_dir), final)  # the other process finishes first
        (final / "theirs").write_text("")
        return model

    monkeypatch.setattr(examples, "build_example_model", build_and_lose)
    path = examples.example_path("fp32")
    assert path == final and (final / "theirs").exists()
    assert os.listdir(final.parent) == ["fp32-1.mlpackage"]
    assert load_model(path).format == "mlprogram"


def test_cache_folder_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(examples.CACHE_ENV, str(blocker))  # a file where a folder must go
    with pytest.raises(ModelLoadError, match="example:fp32: cannot create cache folder"):
        examples.example_path("fp32")


# --------------------------------------------------------------------------------------------
# Concurrency and faults (model/cache.py: one builder at a time, atomic publish, repair)


def counting_builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the example builds (by name) from here on."""
    builds: Counter[str] = Counter()
    real = examples.build_example_model
    guard = threading.Lock()

    def counted(name: str, package_dir: object = None) -> object:
        with guard:
            builds[name] += 1
        return real(name, package_dir=package_dir)  # type: ignore[arg-type]

    monkeypatch.setattr(examples, "build_example_model", counted)
    return builds


def test_threads_build_each_example_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six threads, two per example, started together: no thread fails (coremltools' converter
    is not thread-safe: unlocked, they fail inside it) and each example is built once."""
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    builds = counting_builds(monkeypatch)
    names = ["fp32", "lstm", "control_flow"] * 2
    start = threading.Barrier(len(names))
    results: dict[int, Path] = {}
    errors: list[str] = []

    def run(i: int, name: str) -> None:
        start.wait()
        try:
            results[i] = examples.example_path(name)
        except Exception as e:  # the test's own report of what went wrong
            errors.append(f"{name}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert builds == {"fp32": 1, "lstm": 1, "control_flow": 1}
    for i, name in enumerate(names):
        assert results[i] == tmp_path / "examples" / examples.EXAMPLES[name].file_name
        assert load_model(results[i]).name == results[i].stem
    assert sorted(os.listdir(tmp_path / "examples")) == sorted(
        examples.EXAMPLES[n].file_name for n in set(names)
    )


def test_threads_convert_programs(tmp_path: Path) -> None:
    """load_model on MIL programs from several threads at once: each converts cleanly."""
    programs = {n: examples.build_example_program(n) for n in ("fp32", "lstm", "control_flow")}
    start = threading.Barrier(len(programs))
    lengths: dict[str, int] = {}
    errors: list[str] = []

    def run(name: str) -> None:
        start.wait()
        try:
            lengths[name] = len(load_model(programs[name]))
        except Exception as e:
            errors.append(f"{name}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(n,)) for n in programs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # The same as converting them one after the other.
    assert lengths == {n: len(load_model(examples.build_example_program(n))) for n in programs}


CHILD = """
import os, sys
from ane_notebook.model import examples

real = examples.build_example_model

def counted(name, package_dir=None):
    with open(os.environ["BUILD_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    if os.environ.get("DIE_WHILE_BUILDING"):
        os.makedirs(os.path.join(package_dir, "Data"))  # half a package, then the process dies
        os._exit(3)
    return real(name, package_dir=package_dir)

examples.build_example_model = counted
print("ready", flush=True)
sys.stdin.readline()  # start together
print(examples.example_path("fp32"), flush=True)
"""


def run_children(
    n: int, cache: Path, log: Path, **env: str
) -> list[subprocess.CompletedProcess[str]]:
    """`n` processes that each ask for example fp32 once all of them are ready to."""
    environ = {**os.environ, examples.CACHE_ENV: str(cache), "BUILD_LOG": str(log), **env}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def test_processes_build_an_example_once(tmp_path: Path) -> None:
    """Three processes at once: one builds (the file lock), the others wait and use its model."""
    log = tmp_path / "builds.log"
    results = run_children(3, tmp_path / "cache", log)
    final = tmp_path / "cache" / "examples" / "fp32-1.mlpackage"
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [str(final)]
    assert len(log.read_text().splitlines()) == 1
    assert os.listdir(final.parent) == ["fp32-1.mlpackage"]
    assert load_model(final).format == "mlprogram"


def test_builder_that_dies_leaves_nothing_in_the_way(tmp_path: Path) -> None:
    """A process killed mid-build: its lock is released (by the kernel), its half-built folder
    is removed by the next builder, which builds the model whole."""
    log = tmp_path / "builds.log"
    (dead,) = run_children(1, tmp_path / "cache", log, DIE_WHILE_BUILDING="1")
    assert dead.returncode == 3
    folder = tmp_path / "cache" / "examples"
    assert [p.name for p in folder.iterdir() if ".build-" in p.name]  # what the crash left
    (alive,) = run_children(1, tmp_path / "cache", log)
    assert alive.returncode == 0, alive.stderr
    assert os.listdir(folder) == ["fp32-1.mlpackage"]
    assert len(log.read_text().splitlines()) == 2


def built_copy(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache under `tmp_path` holding a copy of example `name` from the session cache."""
    source = examples.example_path(name)
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    target = tmp_path / "examples" / source.name
    target.parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target


@pytest.mark.parametrize(
    "damage",
    ["truncated spec", "empty spec", "missing weights", "manifest not json"],
)
def test_half_built_package_is_rebuilt(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = built_copy(tmp_path, "fp32", monkeypatch)
    spec = entry / "Data" / "com.apple.CoreML" / "model.mlmodel"
    if damage == "truncated spec":
        spec.write_bytes(spec.read_bytes()[:-10])
    elif damage == "empty spec":
        spec.write_bytes(b"")
    elif damage == "missing weights":
        shutil.rmtree(entry / "Data" / "com.apple.CoreML" / "weights")
    else:
        (entry / "Manifest.json").write_text("{")
    builds = counting_builds(monkeypatch)
    assert examples.example_path("fp32") == entry
    assert builds == {"fp32": 1}
    assert load_model(entry).name == "fp32-1"
    assert (entry / "Data" / "com.apple.CoreML" / "weights").is_dir()
    assert os.listdir(entry.parent) == [entry.name]


def test_truncated_mlmodel_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = built_copy(tmp_path, "nn_legacy", monkeypatch)
    entry.write_bytes(entry.read_bytes()[:100])
    builds = counting_builds(monkeypatch)
    assert examples.example_path("nn_legacy") == entry
    assert builds == {"nn_legacy": 1}
    assert load_model(entry).format == "neuralnetwork"


def test_complete_entry_is_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = built_copy(tmp_path, "fp32", monkeypatch)
    builds = counting_builds(monkeypatch)
    assert examples.example_path("fp32") == entry and builds == {}


def test_read_only_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing cached yet: one line. Already cached: served from the read-only cache."""
    from bad_inputs import read_only

    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    folder = tmp_path / "examples"
    with read_only(folder), pytest.raises(ModelLoadError) as info:
        examples.example_path("fp32")
    assert str(info.value).startswith(f"example:fp32: cannot write to cache folder {folder}: ")
    assert os.listdir(folder) == []
    entry = built_copy(tmp_path / "other", "fp32", monkeypatch)
    with read_only(entry.parent), read_only(tmp_path / "other" / "locks"):
        assert examples.example_path("fp32") == entry


def test_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build hits a full disk (/dev/full: the kernel's own ENOSPC): one line, nothing left,
    and the lock is free for the next build."""
    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    real = examples.build_example_model

    def disk_full(name: str, package_dir: object = None) -> None:
        os.makedirs(os.path.join(str(package_dir), "Data"))
        with open("/dev/full", "wb") as f:
            f.write(b"weights" * 10_000)

    monkeypatch.setattr(examples, "build_example_model", disk_full)
    with pytest.raises(ModelLoadError) as info:
        examples.example_path("fp32")
    assert str(info.value) == (
        f"example:fp32: cannot write to cache folder {tmp_path / 'examples'}: "
        "No space left on device"
    )
    assert os.listdir(tmp_path / "examples") == []
    monkeypatch.setattr(examples, "build_example_model", real)
    assert examples.example_path("fp32").is_dir()


def test_cache_of_an_unknown_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(examples.CACHE_ENV, "~no_such_user_ane/cache")
    with pytest.raises(ModelLoadError) as info:
        examples.example_path("fp32")
    assert str(info.value) == (
        "example:fp32: $ANE_NOTEBOOK_CACHE is '~no_such_user_ane/cache', the home folder of an "
        "unknown user 'no_such_user_ane': set it to a folder"
    )
    assert os.listdir(tmp_path) == []  # no "~no_such_user_ane" folder in the working directory


def test_coremltools_write_error_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """coremltools' package writer (C++) reports a folder it cannot write with RuntimeError
    ("filesystem error: ..."): the build folder made read-only under it gives the real one."""
    from bad_inputs import read_only

    monkeypatch.setenv(examples.CACHE_ENV, str(tmp_path))
    real = examples.build_example_model

    def build_read_only(name: str, package_dir: object = None) -> object:
        with read_only(Path(str(package_dir)).parent):
            return real(name, package_dir=package_dir)  # type: ignore[arg-type]

    monkeypatch.setattr(examples, "build_example_model", build_read_only)
    with pytest.raises(ModelLoadError) as info:
        examples.example_path("fp32")
    message = str(info.value)
    assert message.startswith(f"example:fp32: cannot write to cache folder {tmp_path / 'examples'}")
    assert "filesystem error" in message and "\n" not in message
    assert os.listdir(tmp_path / "examples") == []
