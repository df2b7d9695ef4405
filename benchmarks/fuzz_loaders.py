"""Fuzz the readers of untrusted files: model specs, packages, reports and recorded plans.

Run by hand (not in CI), for a fixed time budget:

    python benchmarks/fuzz_loaders.py --seconds 600
    python benchmarks/fuzz_loaders.py --seconds 120 --targets model,plan --engine hypothesis
    python benchmarks/fuzz_loaders.py --seconds 300 --targets report,plan --html   # + render/

Targets (each fed through a temporary file, as a user's file would be):

* ``model``: bytes -> ``x.mlmodel`` -> `load_model`, then the whole estimate pipeline (estimate,
  report, text, JSON round trip): shapes and names only bite once something computes with them.
* ``package``: bytes -> ``Manifest.json`` of an ``.mlpackage`` holding a valid spec, next to a
  "secret" model outside the package: loading must never pick up the secret.
* ``report``: bytes -> ``r.json`` -> `load_report`, text, JSON round trip.
* ``plan``: bytes -> ``plan.json`` -> `profile(small model, plan=...)` (report-format plans and
  coremltools' remote-device plans).

Any exception that is not an `AneNotebookError` is a finding: its type, message and place are
printed once, and the input is saved under ``<out>/findings/``. Each target runs in its own
process (a native crash or a hang then ends only that target, and is reported).

Engines: atheris (coverage-guided libFuzzer, used when it is installed: ``pip install atheris``)
or hypothesis (random generation, no coverage feedback). Both mutate valid seeds, either as bytes
or structurally: protobuf fields of specs (extreme integers, hostile or borrowed names, deleted,
duplicated or reordered ops, copied sub-messages) and JSON values of reports and plans.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # bad_inputs: the small seed model and plan builders

TARGETS = ("model", "package", "report", "plan")
PER_INPUT_TIMEOUT_S = 20

INTERESTING_INTS = (
    0,
    1,
    -1,
    2,
    3,
    5,
    6,
    63,
    64,
    65,
    255,
    256,
    16384,
    16385,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53 + 1,
    2**62,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
)
INTERESTING_FLOATS = (0.0, -0.0, -1.0, 1e-320, 1e308, -1e308, math.inf, -math.inf, math.nan)
HOSTILE_STRINGS = (
    "",
    "x",
    "main",
    "CoreML7",
    "CoreML9",
    "const",
    "cond",
    "while_loop",
    "ios18.relu",
    "frobnicate",
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "{{7*7}}",
    "\x1b[31m\x07\x00",
    "\u202e",
    "../../../etc/passwd",
    "/etc/passwd",
    "a" * 5000,
    "\ud800",
)


# --------------------------------------------------------------------------------------------
# Seeds


def model_seeds(corpus: Path) -> list[bytes]:
    """Valid specs: the small test model, its variants, every example, and the bad corpus."""
    from bad_inputs import MODEL_CASES, small_spec

    from ane_notebook.model.examples import EXAMPLES, example_path
    from ane_notebook.model.load import read_spec

    seeds = [
        small_spec().SerializeToString(),
        small_spec(dims=[1, 64, 128, 128]).SerializeToString(),
    ]
    for name in EXAMPLES:
        seeds.append(read_spec(example_path(name)).SerializeToString())
    for case in MODEL_CASES:
        folder = Path(tempfile.mkdtemp(dir=corpus))
        with contextlib.suppress(OSError):  # some cases are folders, FIFOs or devices
            model, _ = case.build(folder)
            if model.suffix == ".mlmodel" and model.is_file() and not model.is_symlink():
                seeds.append(model.read_bytes())
        shutil.rmtree(folder, ignore_errors=True)
    return [s for s in seeds if s]


def report_seeds(small: Path) -> list[bytes]:
    from ane_notebook.api import profile

    seeds = []
    for units in ("ALL", "CPU_AND_NE"):
        seeds.append(profile(small, units, backend="estimate").to_json().encode())
    seeds.append(profile("example:transformer", backend="estimate").to_json().encode())
    return seeds


def plan_seeds(small: Path) -> list[bytes]:
    from bad_inputs import plan_dict, remote_info

    remote = {
        "infos": [
            remote_info(n, d)
            for n, d in (("r1", "neuralEngine"), ("s1", "gpu"), ("a1", "cpu"), ("out", "cpu"))
        ]
    }
    remote["infosWithoutUsage"] = [{"path": remote_info("bias")["path"]}]
    return [
        json.dumps(plan_dict(small)).encode(),
        json.dumps(remote).encode(),
        (REPO / "tests" / "data" / "coreml" / "remote_plan_main.json").read_bytes(),
    ]


def package_seeds() -> list[bytes]:
    manifest = {
        "fileFormatVersion": "1.0.0",
        "rootModelIdentifier": "root",
        "itemInfoEntries": {
            "root": {
                "path": "com.apple.CoreML/model.mlmodel",
                "name": "model.mlmodel",
                "author": "x",
            }
        },
    }
    return [json.dumps(manifest).encode(), json.dumps(manifest, indent=2).encode()]


# --------------------------------------------------------------------------------------------
# Mutations


def mutate_bytes(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """Classic byte mutations: flips, interesting bytes, inserts, deletes, copies, splices."""
    b = bytearray(data or b"\x00")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x22, 0x7B, 0x5B))
        elif op == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and len(b) > 1:
            del b[i : i + rng.randint(1, min(64, len(b) - i))]
        elif op == 4 and b:
            j = rng.randrange(len(b))
            b[i:i] = b[j : j + rng.randint(1, 64)]
        elif op == 5 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 6 and others:
            other = rng.choice(others)
            b = b[:i] + bytearray(other[rng.randrange(len(other) or 1) :])
    return bytes(b)


def _proto_nodes(msg: Any, limit: int = 20_000) -> list[tuple[Any, Any]]:
    """(message, field descriptor) for every field of every message in the tree (bounded)."""
    out: list[tuple[Any, Any]] = []
    stack = [msg]
    while stack and len(out) < limit:
        m = stack.pop()
        for fd in m.DESCRIPTOR.fields:
            out.append((m, fd))
            if fd.message_type is None:
                continue
            value = getattr(m, fd.name)
            if fd.message_type.GetOptions().map_entry:
                if fd.message_type.fields_by_name["value"].message_type is not None:
                    stack.extend(value.values())
            elif _repeated(fd):
                stack.extend(value)
            elif m.HasField(fd.name):
                stack.append(value)
    return out


def _repeated(fd: Any) -> bool:
    is_rep = getattr(fd, "is_repeated", None)
    return bool(is_rep) if is_rep is not None else fd.label == fd.LABEL_REPEATED


def _strings(nodes: list[tuple[Any, Any]]) -> list[str]:
    out = []
    for m, fd in nodes:
        if fd.type == fd.TYPE_STRING and not _repeated(fd) and getattr(m, fd.name):
            out.append(getattr(m, fd.name))
    return out


def _scalar(fd: Any, rng: random.Random, names: list[str]) -> Any:
    t = fd.type
    if t == fd.TYPE_STRING:
        return rng.choice(names) if names and rng.random() < 0.5 else rng.choice(HOSTILE_STRINGS)
    if t == fd.TYPE_BYTES:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 2, 3, 7, 64, 300))))
    if t == fd.TYPE_BOOL:
        return rng.random() < 0.5
    if t in (fd.TYPE_FLOAT, fd.TYPE_DOUBLE):
        return rng.choice(INTERESTING_FLOATS)
    if t == fd.TYPE_ENUM:
        values = [v.number for v in fd.enum_type.values]
        return rng.choice(values) if rng.random() < 0.8 else rng.choice((-1, 99, 12345))
    return rng.choice(INTERESTING_INTS) if rng.random() < 0.7 else rng.randint(-5, 300)


def mutate_proto(data: bytes, rng: random.Random) -> bytes | None:
    """A structural mutation of a Model protobuf, or None when `data` does not parse."""
    from coremltools.proto import Model_pb2
    from google.protobuf.message import DecodeError

    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except DecodeError:
        return None
    for _ in range(rng.randint(1, 3)):
        nodes = _proto_nodes(spec)
        if not nodes:
            break
        names = _strings(nodes)
        m, fd = rng.choice(nodes)
        with contextlib.suppress(ValueError, TypeError, KeyError, IndexError, AttributeError):
            _mutate_field(m, fd, rng, names, nodes)
    try:
        return bytes(spec.SerializeToString())
    except Exception:  # noqa: BLE001 - protobuf refuses some of our edits at serialisation
        return None


def _mutate_field(
    m: Any, fd: Any, rng: random.Random, names: list[str], nodes: list[tuple[Any, Any]]
) -> None:
    value = getattr(m, fd.name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        keys = list(value.keys())
        value_fd = fd.message_type.fields_by_name["value"]
        if keys and rng.random() < 0.4:
            del value[rng.choice(keys)]
        elif keys and value_fd.message_type is not None:
            value[_scalar(fd.message_type.fields_by_name["key"], rng, names)].CopyFrom(
                value[rng.choice(keys)]
            )
        elif value_fd.message_type is None:
            value[_scalar(fd.message_type.fields_by_name["key"], rng, names)] = _scalar(
                value_fd, rng, names
            )
        return
    if _repeated(fd):
        n = len(value)
        choice = rng.randrange(4)
        if choice == 0 and n:
            del value[rng.randrange(n)]
        elif choice == 1 and n:  # duplicate (ops with the same names, repeated dims...)
            item = value[rng.randrange(n)]
            if fd.message_type is not None:
                value.add().CopyFrom(item)
            else:
                value.append(item)
        elif choice == 2 and n > 1:  # swap two (ops out of order)
            i, j = rng.randrange(n), rng.randrange(n)
            if fd.message_type is not None:
                a, b = type(value[i])(), type(value[j])()
                a.CopyFrom(value[i])
                b.CopyFrom(value[j])
                value[i].CopyFrom(b)
                value[j].CopyFrom(a)
            else:
                value[i], value[j] = value[j], value[i]
        elif fd.message_type is None:
            value.append(_scalar(fd, rng, names))
        else:
            value.add()
        return
    if fd.message_type is not None:
        same = [
            mm
            for mm, ff in nodes
            if ff.message_type is fd.message_type and not _repeated(ff) and mm.HasField(ff.name)
        ]
        if rng.random() < 0.3:
            m.ClearField(fd.name)
        elif same:  # copy another sub-message of this type in (nesting, cycles of blocks)
            donor = type(value)()
            donor.CopyFrom(getattr(*_pick_field(rng, same, fd.message_type)))
            value.CopyFrom(donor)
        else:
            value.SetInParent()
        return
    setattr(m, fd.name, _scalar(fd, rng, names))


def _pick_field(rng: random.Random, owners: list[Any], message_type: Any) -> tuple[Any, str]:
    owner = rng.choice(owners)
    name = next(
        f.name
        for f in owner.DESCRIPTOR.fields
        if f.message_type is message_type and not _repeated(f) and owner.HasField(f.name)
    )
    return owner, name


INTERESTING_JSON: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**53,
    2**63,
    10**30,
    1e308,
    -1e308,
    0.5,
    1.5,
    "",
    "ANE",
    "GPU",
    "CPU",
    "TPU",
    "main",
    "coreml",
    "estimate",
    "recorded",
    "ALL",
    "x" * 3000,
    "<img src=x onerror=alert(1)>",
    "\x1b[2J",
    [],
    {},
    "../../secret.mlmodel",
    "/etc/passwd",
    "com.apple.CoreML/../../../secret.mlmodel",
    "com.apple.CoreML/model.mlmodel",
    "root",
    [[[[[]]]]],
    {"a": {"b": {"c": {}}}},
)


def mutate_json(data: bytes, rng: random.Random) -> bytes | None:
    """A structural mutation of a JSON document, or None when `data` does not parse."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    for _ in range(rng.randint(1, 3)):
        slots = list(_json_slots(doc))
        if not slots:
            break
        parent, key = rng.choice(slots)
        choice = rng.randrange(5)
        if choice == 0 and isinstance(parent, dict):
            del parent[key]
        elif choice == 1 and isinstance(parent, list):
            parent.insert(int(key), json.loads(json.dumps(parent[key])))
        elif (
            choice == 2
            and isinstance(parent[key], (int, float))
            and not isinstance(parent[key], bool)
        ):
            parent[key] = rng.choice((-parent[key], parent[key] * 1000, parent[key] + 1, 0))
        else:
            parent[key] = json.loads(json.dumps(rng.choice(INTERESTING_JSON)))
    text = json.dumps(doc)
    if rng.random() < 0.1:  # what json.dumps never writes
        text = text.replace("0.0", rng.choice(("NaN", "Infinity", "1e400", "-0.0")), 1)
    if rng.random() < 0.05:
        text = text.replace('"', '"\\ud800', 1)
    return text.encode("utf-8", "surrogatepass")


def _json_slots(doc: Any, limit: int = 50_000) -> Iterator[tuple[Any, Any]]:
    stack = [doc]
    seen = 0
    while stack and seen < limit:
        node = stack.pop()
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, value in list(items):
            seen += 1
            yield node, key
            if isinstance(value, (dict, list)):
                stack.append(value)


def mutate(target: str, data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    structured = None
    if rng.random() < 0.6:
        structured = mutate_proto(data, rng) if target == "model" else mutate_json(data, rng)
    return structured if structured is not None else mutate_bytes(data, rng, seeds)


# --------------------------------------------------------------------------------------------
# Targets


class Runner:
    """Feeds inputs to one target and records findings."""

    def __init__(self, target: str, out: Path, html: bool = False) -> None:
        from bad_inputs import small_model, small_spec, write_package, write_spec

        self.target = target
        self.out = out
        self.html = html
        self.work = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-", dir=out))
        self.small = small_model(self.work)
        self.runs = 0
        self.expected = 0
        self.findings: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self.last_saved = 0.0
        if target == "package":
            secret = small_spec([("relu", {"x": "x"}, "SECRET_OP")])
            write_spec(self.work / "secret.mlmodel", secret)
            self.package = write_package(
                self.work, None, small_spec().SerializeToString(), name="fuzz.mlpackage"
            )
        # CPU time, not wall time: libFuzzer owns SIGALRM (its -timeout catches blocking calls).
        signal.signal(signal.SIGVTALRM, _hang)

    def seeds(self) -> list[bytes]:
        if self.target == "model":
            return model_seeds(self.work)
        if self.target == "report":
            return report_seeds(self.small)
        if self.target == "plan":
            return plan_seeds(self.small)
        return package_seeds()

    def __call__(self, data: bytes) -> None:
        from ane_notebook.errors import AneNotebookError

        self.runs += 1
        signal.setitimer(signal.ITIMER_VIRTUAL, PER_INPUT_TIMEOUT_S)
        try:
            self._run(data)
        except AneNotebookError as e:
            self.expected += 1
            if "\n" in str(e):
                self._finding(data, AssertionError(f"multi-line message: {str(e)[:200]!r}"))
        except Exception as e:  # noqa: BLE001 - anything else is what we are looking for
            self._finding(data, e)
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        if time.monotonic() - self.last_saved > 5:
            self.save()

    def _run(self, data: bytes) -> None:
        from ane_notebook.api import profile
        from ane_notebook.model.load import load_model
        from ane_notebook.report import load_report, report_from_dict

        if self.target == "model":
            path = self.work / "x.mlmodel"
            path.write_bytes(data)
            graph = load_model(path)
            _exercise(profile(graph, backend="estimate"), report_from_dict, self.html)
        elif self.target == "package":
            (self.package / "Manifest.json").write_bytes(data)
            graph = load_model(self.package)
            if any(op.name == "SECRET_OP" for op in graph.ops):
                raise AssertionError("loaded a model from outside the package")
        elif self.target == "report":
            path = self.work / "r.json"
            path.write_bytes(data)
            _exercise(load_report(path), report_from_dict, self.html)
        else:
            path = self.work / "plan.json"
            path.write_bytes(data)
            _exercise(profile(self.small, plan=path), report_from_dict, self.html)

    def _finding(self, data: bytes, e: BaseException) -> None:
        tb = traceback.extract_tb(e.__traceback__)
        frame = tb[-1] if tb else None
        where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}" if frame else "?"
        signature = f"{type(e).__name__} at {where}"
        entry = self.findings.get(signature)
        if entry is None:
            digest = hashlib.sha256(data).hexdigest()[:12]
            saved = self.out / "findings" / f"{self.target}-{digest}.bin"
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(data)
            entry = self.findings[signature] = {
                "count": 0,
                "message": str(e)[:300],
                "input": str(saved),
                "traceback": "".join(traceback.format_exception(e))[-3000:],
            }
            print(f"[{self.target}] NEW FINDING {signature}: {str(e)[:200]}", flush=True)
            self.save()
        entry["count"] += 1

    def save(self) -> None:
        self.last_saved = time.monotonic()
        stats = {
            "target": self.target,
            "runs": self.runs,
            "expected_errors": self.expected,
            "seconds": round(time.monotonic() - self.started, 1),
            "findings": self.findings,
        }
        (self.out / f"{self.target}.stats.json").write_text(json.dumps(stats, indent=1))


class _Hang(Exception):
    """An input took longer than PER_INPUT_TIMEOUT_S."""


def _hang(signum: int, frame: FrameType | None) -> None:
    raise _Hang(f"no answer within {PER_INPUT_TIMEOUT_S} s of CPU time")


def _exercise(report: Any, from_dict: Callable[..., Any], html: bool) -> None:
    """What a user does next with a report: read it, save it, load it back (and draw it)."""
    report.to_text()
    report.summary()
    text = report.to_json()
    again = from_dict(json.loads(text))
    if again != report:
        raise AssertionError("JSON round trip changed the report")
    text.encode("utf-8")  # what to_json(path) does: must not hold unpaired surrogates
    if html:
        report.to_html().encode("utf-8")


# --------------------------------------------------------------------------------------------
# Engines


def run_atheris(runner: Runner, seconds: float) -> None:
    import atheris

    seeds = runner.seeds()
    corpus = runner.work / "corpus"
    corpus.mkdir()
    for i, s in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(s)
    max_len = max(len(s) for s in seeds) * 2 + 1024

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return bytes(atheris.Mutate(data, max_size))
        return mutate(runner.target, data, rng, seeds)[:max_size]

    def finish() -> None:
        runner.save()

    import atexit

    atexit.register(finish)
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={int(seconds)}",
            f"-max_len={max_len}",
            "-rss_limit_mb=8192",
            f"-timeout={PER_INPUT_TIMEOUT_S * 3}",
            "-print_final_stats=1",
            str(corpus),
        ],
        runner,
        custom_mutator=custom_mutator,
    )
    atheris.Fuzz()


def run_hypothesis(runner: Runner, seconds: float) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    seeds = runner.seeds()
    end = time.monotonic() + seconds

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # The mutation's randomness is one drawn integer: hypothesis' own Random would draw lazily,
    # and the time check below would then make generation look inconsistent to it.
    @given(seed=st.sampled_from(seeds), rounds=st.integers(1, 4), rng_seed=st.integers(0, 2**64))
    def one(seed: bytes, rounds: int, rng_seed: int) -> None:
        if time.monotonic() > end:
            return
        rng = random.Random(rng_seed)
        data = seed
        for _ in range(rounds):
            data = mutate(runner.target, data, rng, seeds)
        runner(data)

    while time.monotonic() < end:
        one()
    runner.save()


def child(target: str, seconds: float, engine: str, out: Path, html: bool) -> None:
    """Fuzz one target in this process (started by `main`)."""
    if engine == "atheris":
        import importlib
        import pkgutil

        import atheris

        with atheris.instrument_imports(include=["ane_notebook"]):
            import ane_notebook

            # Every module the targets reach, instrumented for coverage feedback (not the
            # notebook layer, which the targets never touch).
            skip = ("ane_notebook.widgets", "ane_notebook.magics") + (
                () if html else ("ane_notebook.render",)
            )
            for info in pkgutil.walk_packages(ane_notebook.__path__, "ane_notebook."):
                if not info.name.startswith(skip):
                    importlib.import_module(info.name)
    runner = Runner(target, out, html)
    (run_atheris if engine == "atheris" else run_hypothesis)(runner, seconds)


# --------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=300, help="total budget (split by target)")
    p.add_argument("--targets", default=",".join(TARGETS), help=f"any of {', '.join(TARGETS)}")
    p.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    p.add_argument(
        "--out", default=None, help="where findings and stats go (default: a new temporary folder)"
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="also draw every report as HTML (slow; finds bugs in render/)",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    out = Path(args.out or tempfile.mkdtemp(prefix="ane_notebook-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args.seconds, engine, out, args.html)
        return 0

    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    each = args.seconds / len(targets)
    print(f"fuzzing {', '.join(targets)} with {engine}, {each:.0f} s each; output in {out}")
    exit_codes = {}
    for target in targets:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            target,
            "--seconds",
            str(each),
            "--engine",
            engine,
            "--out",
            str(out),
            *(["--html"] if args.html else []),
        ]
        try:
            proc = subprocess.run(cmd, timeout=each + 600, capture_output=True, text=True)
            exit_codes[target] = proc.returncode
            if proc.returncode != 0:
                (out / f"{target}.log").write_text(proc.stdout + proc.stderr)
        except subprocess.TimeoutExpired:
            exit_codes[target] = -1
    return _summary(out, targets, exit_codes)


def _summary(out: Path, targets: list[str], exit_codes: dict[str, int]) -> int:
    found = 0
    print(f"\n{'target':<9}{'inputs':>10}{'expected errors':>17}{'findings':>10}  seconds")
    for target in targets:
        stats_file = out / f"{target}.stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        findings = stats.get("findings", {})
        found += len(findings)
        print(
            f"{target:<9}{stats.get('runs', 0):>10}{stats.get('expected_errors', 0):>17}"
            f"{len(findings):>10}  {stats.get('seconds', '?')}"
        )
        if exit_codes[target] not in (0,):
            found += 1
            print(
                f"  the {target} process ended with status {exit_codes[target]} (a native "
                f"crash, a libFuzzer timeout or out of memory): see {out / (target + '.log')}"
            )
        for signature, f in findings.items():
            print(f"  {signature} x{f['count']}: {f['message'][:160]}\n    input: {f['input']}")
    print(f"\n{found} finding(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
