"""What a cold `ane-notebook` command loads (GitHub issue 14: `profile example:mobilenet` < 0.4 s
of CPU, `examples` and `chips` < 0.15 s): the modules a command does not need stay unimported,
and numpy comes up with one BLAS thread without leaving that setting behind.

Each case runs in a fresh interpreter: the test process has imported everything long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Modules none of the commands below needs: the full coremltools, the page's libraries, the
# report validators (a profile writes a report, it never reads one), the crash-isolation child
# (multiprocessing), the check command and its TOML reader, and the neural-network loader.
NEVER = (
    "coremltools",
    "bokeh",
    "jsonschema",
    "fastjsonschema",
    "msgspec",
    "multiprocessing",
    "tomllib",
    "ane_notebook.check",
    "ane_notebook.schema",
    "ane_notebook.report_validation",
    "ane_notebook.report_decode",
    "ane_notebook.model.neuralnetwork",
    "ane_notebook.model.nn_shapes",
    "ane_notebook.render",
)
# ... and what the listing commands need none of either.
NOT_FOR_LISTS = ("numpy", "google.protobuf", "ane_notebook.api", "subprocess")

_PROBE = (
    "import sys, os, json, io, contextlib\n"
    "from ane_notebook.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[2:])\n"
    "names = json.loads(sys.argv[1])\n"
    "threads = len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else None\n"
    "print(json.dumps({'code': code, 'imported': [m for m in names if m in sys.modules],\n"
    "                  'env': os.environ.get('OPENBLAS_NUM_THREADS'), 'threads': threads}))\n"
)


def _probe(argv: list[str], names: tuple[str, ...], **env: str) -> dict[str, object]:
    """Run `ane-notebook ARGV` in a fresh interpreter, with no BLAS thread count set but `env`."""
    base = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(names)), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **env},
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def mobilenet() -> None:
    # Built (with coremltools) in this process, so that the child only reads the cached file.
    from ane_notebook.model.examples import example_path

    example_path("mobilenet")


def test_profile_imports_only_what_it_uses(mobilenet: None) -> None:
    got = _probe(["profile", "example:mobilenet"], NEVER)
    assert got["code"] == 0
    assert got["imported"] == []


@pytest.mark.parametrize("command", ["examples", "chips"])
def test_listing_commands_import_only_what_they_use(command: str) -> None:
    got = _probe([command], NEVER + NOT_FOR_LISTS)
    assert got == {"code": 0, "imported": [], "env": None, "threads": got["threads"]}


def test_the_probe_sees_an_import() -> None:
    # The same probe notices a module the command does import.
    got = _probe(["profile", "example:lstm"], ("numpy", "ane_notebook.api"))
    assert got["imported"] == ["numpy", "ane_notebook.api"]


def _openblas() -> bool:
    import numpy

    try:
        config = numpy.show_config(mode="dicts")
    except TypeError:  # numpy < 1.26 has no mode=
        return False
    name = str(config.get("Build Dependencies", {}).get("blas", {}).get("name", ""))
    return "openblas" in name.lower()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/task")
def test_numpy_starts_without_blas_threads_and_the_setting_is_not_left(mobilenet: None) -> None:
    if not _openblas():
        pytest.skip("numpy here is not built with OpenBLAS")
    got = _probe(["profile", "example:mobilenet"], ("numpy",))
    assert got["imported"] == ["numpy"]
    assert got["threads"] == 1  # no OpenBLAS worker was started
    assert got["env"] is None  # what the command starts later inherits the environment as it was


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/task")
def test_a_thread_count_the_user_set_stands(mobilenet: None) -> None:
    if not _openblas():
        pytest.skip("numpy here is not built with OpenBLAS")
    got = _probe(["profile", "example:mobilenet"], ("numpy",), OPENBLAS_NUM_THREADS="2")
    assert got["env"] == "2"
    assert got["threads"] == 2  # the main thread and the one worker asked for


def test_an_imported_numpy_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy  # noqa: F401  (imported: the helper must not touch the environment)

    from ane_notebook._blas import import_numpy_single_threaded

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    before = dict(os.environ)
    import_numpy_single_threaded()
    assert dict(os.environ) == before
