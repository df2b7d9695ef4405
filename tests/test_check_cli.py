"""`ane-notebook check`: each option, the exit codes, JUnit and JSON output, the baseline diff and
pyproject.toml settings, on the examples and on saved reports."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ane_notebook.api import profile
from ane_notebook.cli import main
from ane_notebook.report import ProfileReport

EX = "example:transformer"
UNITS = ["-u", "CPU_AND_NE", "--chip", "M1", "--backend", "estimate"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The transformer's report (CPU_AND_NE, M1), saved: 50 of 59 ops on the ANE."""
    path = tmp_path_factory.mktemp("reports") / "transformer.json"
    profile(EX, "CPU_AND_NE", chip="M1", backend="estimate").to_json(path)
    return path


@pytest.fixture(autouse=True)
def no_project_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder: the repository's own pyproject.toml has no check table, but
    a test must not depend on that."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- each option, on a model and on a saved report --------------------------------------------


@pytest.mark.parametrize(
    ("option", "passing", "failing", "condition"),
    [
        ("--min-ane-ops", "0.8", "0.9", "min-ane-ops"),
        ("--min-ane-time", "0.005", "0.8", "min-ane-time"),
        ("--max-crossings", "2", "1", "max-crossings"),
        ("--max-segments", "3", "2", "max-segments"),
        ("--require-ane", "matmul|softmax", "linear|matmul", "require-ane"),
        (
            "--allow-off-ane",
            "cast|gather|add|select|greater_equal|linear",
            "gather|topk",
            "allow-off-ane",
        ),
    ],
)
def test_each_condition_exits_0_when_it_holds_and_1_when_violated(
    option: str,
    passing: str,
    failing: str,
    condition: str,
    saved: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for target in ([EX, *UNITS], [str(saved)]):
        code, out, _ = run([*target, option, passing], capsys)
        assert code == 0, out
        assert f"ok   {condition}:" in out
        code, out, _ = run([*target, option, failing], capsys)
        assert code == 1, out
        line = next(s for s in out.splitlines() if s.startswith(f"FAIL {condition}:"))
        assert "limit" in line
        assert "check failed: 1 of 1 conditions violated (placement source: estimate)" in out


def test_failing_lines_name_value_limit_and_five_ops(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([str(saved), "--min-ane-ops", "0.9"], capsys)
    assert code == 1
    line = next(s for s in out.splitlines() if s.startswith("FAIL"))
    assert "84.7% of ops on the Neural Engine, limit >= 90.0%" in line
    assert "(50 of 59 ops that run; 79 const ops not counted)" in line
    ops = line.split("off the Neural Engine: ", 1)[1]
    assert ops.count("(") - ops.count("(+") == 5 and ops.endswith("(+4 more)")


def test_chip_and_compute_units_change_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    # the 32000-wide head fits the M4's larger axis limit: on the ANE there, not on the M1
    base = [EX, "-u", "CPU_AND_NE", "--backend", "estimate", "--require-ane", "linear"]
    assert run([*base, "--chip", "M1"], capsys)[0] == 1
    assert run([*base, "--chip", "M4"], capsys)[0] == 0
    code, out, _ = run(
        [EX, "-u", "CPU_ONLY", "--backend", "estimate", "--min-ane-ops", "0.1"], capsys
    )
    assert code == 1 and "CPU_ONLY" in out.splitlines()[0]


def test_plan_option_checks_a_recorded_placement(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_check import coreml_plan

    plan = coreml_plan("example:mobilenet", off={"probs"})
    plan.to_json(tmp_path / "plan.json")
    code, out, _ = run(
        ["example:mobilenet", "--plan", str(tmp_path / "plan.json"), "--require-ane", "softmax"],
        capsys,
    )
    assert code == 1 and "placement source: recorded" in out
    code, out, _ = run([str(tmp_path / "plan.json"), "--min-ane-ops", "0.9"], capsys)
    assert code == 0 and "placement source: coreml" in out


def test_fail_on_hazard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_hazards import report, sdpa_mask_input

    report(sdpa_mask_input(), {}).to_json(tmp_path / "h.json")
    code, out, _ = run([str(tmp_path / "h.json")], capsys)
    assert code == 0 and "sdpa.ane_mask_outside_procedure" in out  # shown, not failing
    code, out, _ = run([str(tmp_path / "h.json"), "--fail-on-hazard"], capsys)
    assert code == 1 and "FAIL no-hazards: 1 hazards" in out


# --- baseline -----------------------------------------------------------------------------------


def test_baseline_diff_and_fail_on_regression(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m4 = tmp_path / "m4.json"
    profile(EX, "CPU_AND_NE", chip="M4", backend="estimate").to_json(m4)
    # M1 against an M4 baseline: the head left the ANE; reported, exit 0 without the flag (the
    # output cast of its 16 MB of fp32 logits runs on the CPU on both chips: it streams at the
    # ANE's DRAM rate, docs/evidence.md#costs.ANE_WORKING_SET_MB)
    code, out, _ = run([str(saved), "--baseline", str(m4)], capsys)
    assert code == 0
    assert "ops that left the Neural Engine: 1: lm_head_cast_fp16 (linear, ANE -> CPU)\n" in out
    assert "crossings: 2 -> 2 (1 new: final_ln_cast_fp16 ANE->CPU, 1 gone)" in out
    assert "segments:" in out and "crossings:" in out and "estimated time:" in out
    code, out, _ = run([str(saved), "--baseline", str(m4), "--fail-on-regression"], capsys)
    assert code == 1
    assert "FAIL no-op-left-ane: 1 ops left the Neural Engine since the baseline" in out
    assert "FAIL time-tolerance: estimated time +" in out
    # the other direction: an op joined the ANE and time fell
    code, out, _ = run([str(m4), "--baseline", str(saved), "--fail-on-regression"], capsys)
    assert code == 0 and "ok   time-tolerance" in out


def test_time_tolerance_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "ne.json", tmp_path / "all.json"
    profile("example:mobilenet", "CPU_AND_NE", backend="estimate").to_json(a)
    profile("example:mobilenet", "CPU_ONLY", backend="estimate").to_json(b)
    argv = [str(b), "--baseline", str(a), "--fail-on-regression"]
    code, out, _ = run(argv, capsys)
    assert code == 1 and "FAIL time-tolerance" in out and "limit <= +5.0%" in out
    code, out, _ = run([*argv, "--time-tolerance", "100"], capsys)
    assert code == 1 and "ok   time-tolerance" in out and "FAIL no-op-left-ane" in out


# --- formats and --output ------------------------------------------------------------------------


def test_junit_output_file(saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "check.xml"
    code, out, _ = run(
        [
            str(saved),
            "--min-ane-ops",
            "0.9",
            "--max-segments",
            "3",
            "--format",
            "junit",
            "--output",
            str(xml),
        ],
        capsys,
    )
    assert code == 1
    assert f"wrote {xml} (junit)" in out and "FAIL min-ane-ops" in out  # text on stdout too
    root = ET.parse(xml).getroot()
    cases = root.findall("./testsuite/testcase")
    assert [(c.get("name"), c.find("failure") is not None) for c in cases] == [
        ("min-ane-ops", True),
        ("max-segments", False),
    ]


def test_json_format_on_stdout(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([str(saved), "--max-crossings", "0", "--format", "json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert data["format"] == "ane_notebook.check" and data["source"] == "estimate"
    assert data["conditions"][0]["id"] == "max-crossings"
    assert data["conditions"][0]["value"] == 2 and data["conditions"][0]["threshold"] == 0


def test_output_never_overwrites_the_input(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = saved.read_bytes()
    code, _, err = run([str(saved), "--output", str(saved)], capsys)
    assert code == 2 and err.count("\n") == 1 and "refusing" in err
    assert saved.read_bytes() == before


# --- pyproject.toml -------------------------------------------------------------------------------


def _pyproject(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(body, encoding="utf-8")
    return folder / "pyproject.toml"


def test_settings_come_from_the_nearest_pyproject_with_the_table(
    saved: Path,
    no_project_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = no_project_config
    cfg = _pyproject(root, "[tool.ane_notebook.check]\nmin-ane-ops = 0.9\nmax_segments = 3\n")
    _pyproject(root / "pkg", "[project]\nname = 'x'\n")  # no table here: keep looking up
    (root / "pkg" / "sub").mkdir()
    monkeypatch.chdir(root / "pkg" / "sub")
    code, out, _ = run([str(saved)], capsys)
    assert code == 1 and "FAIL min-ane-ops" in out and "ok   max-segments" in out
    assert f"settings from {cfg}" in out.splitlines()[0]
    # the command line wins
    code, out, _ = run([str(saved), "--min-ane-ops", "0.8"], capsys)
    assert code == 0 and f"settings from {cfg} and the command line" in out


def test_pyproject_baseline_is_relative_to_the_file(
    saved: Path, no_project_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_project_config / "ci").mkdir()
    (no_project_config / "ci" / "base.json").write_bytes(saved.read_bytes())
    _pyproject(
        no_project_config,
        '[tool.ane_notebook.check]\nbaseline = "ci/base.json"\nfail-on-regression = true\n',
    )
    code, out, _ = run([str(saved)], capsys)
    assert code == 0 and "ok   no-op-left-ane" in out and "ok   time-tolerance" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[tool.ane_notebook.check]\nmin-ane-opz = 0.9\n", "unknown key 'min-ane-opz'"),
        ("[tool.ane_notebook.check]\nmax-segments = '3'\n", "max-segments must be a whole"),
        ("[tool.ane_notebook.check]\nfail-on-hazard = 1\n", "must be true or false"),
        ("[tool.ane_notebook.check]\nmin-ane-ops = 9\n", "between 0 and 1"),
        ("[tool.ane_notebook\n", "not valid TOML"),
    ],
)
def test_bad_pyproject_settings_exit_2_with_one_line(
    body: str,
    message: str,
    saved: Path,
    no_project_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _pyproject(no_project_config, body)
    code, out, err = run([str(saved)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("ane-notebook: error: ")


# --- bad input: exit 2, one line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.json"], "missing.json: no such report file"),
        (["missing.mlpackage"], "missing.mlpackage"),
        (["{report}", "--min-ane-ops", "1.5"], "between 0 and 1"),
        (["{report}", "--require-ane", "conv("], "invalid regular expression"),
        (["{report}", "--fail-on-regression"], "needs --baseline"),
        (["{report}", "--baseline", "nope.json"], "nope.json"),
        (["{report}", "-u", "CPU_ONLY"], "a saved report is checked as it was recorded"),
        ([EX, "-u", "GPU_ONLY"], "unknown compute units"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(saved) if a == "{report}" else a for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2, out
    assert err.count("\n") == 1 and message in err, err


def test_invalid_report_json_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    code, _, err = run([str(bad)], capsys)
    assert code == 2 and err.count("\n") == 1 and "bad.json" in err


def test_exit_codes_from_the_console_script(saved: Path, tmp_path: Path) -> None:
    def status(*args: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "ane_notebook.cli", "check", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        ).returncode

    assert status(str(saved), "--min-ane-ops", "0.8") == 0
    assert status(str(saved), "--min-ane-ops", "0.9") == 1
    assert status(str(tmp_path / "absent.json")) == 2


def test_check_is_on_the_report_too(saved: Path) -> None:
    from ane_notebook.report import load_report

    r: ProfileReport = load_report(saved)
    assert not r.check(min_ane_ops=0.9) and r.check(min_ane_ops=0.8)


def test_the_readme_ci_recipe_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's GitHub Actions job: valid YAML, short, and its check line, run as written
    (the model aside), checks a condition: it passes on a model that meets it and fails (exit
    1, a failing JUnit case) on one that does not, so the gate can close."""
    import re
    import shlex

    import yaml

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    recipe = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert recipe is not None and len(recipe.group(1).strip().splitlines()) <= 13
    job = yaml.safe_load(recipe.group(1))["jobs"]["placement"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    line = next(r for r in runs if r.startswith("ane-notebook check "))
    argv = shlex.split(line)[2:]  # after `ane-notebook check`
    junit = argv[argv.index("-o") + 1]
    assert junit in str(job["steps"][-1]["with"]["report_paths"])

    def recipe_on(model: str) -> list[tuple[str | None, bool]]:
        code = main(["check", *[model if a == "MyModel.mlpackage" else a for a in argv]])
        capsys.readouterr()
        cases = ET.parse(tmp_path / junit).getroot().iter("testcase")
        results = [(c.get("name"), c.find("failure") is not None) for c in cases]
        assert code == (1 if any(failed for _, failed in results) else 0)
        return results

    assert recipe_on("example:mobilenet") == [("min-ane-ops", False)]
    assert recipe_on("example:lstm") == [("min-ane-ops", True)]


def test_the_verdict_line_counts_its_conditions(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        ([], "check passed: no conditions checked"),
        (["--min-ane-ops", "0.8"], "check passed: 1 condition holds"),
        (["--min-ane-ops", "0.8", "--max-segments", "3"], "check passed: all 2 conditions hold"),
    ]
    for extra, verdict in cases:
        code, out, _ = run([str(saved), *extra], capsys)
        assert code == 0 and out.splitlines()[-1].startswith(verdict), out


def test_long_options_and_a_text_file_with_a_baseline_diff_on_an_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --compute-units (the long -u), a model (not a report) against a baseline, and
    # --format text written with --output: the file holds what stdout shows.
    m4 = tmp_path / "m4.json"
    profile(EX, "CPU_AND_NE", chip="M4", backend="estimate").to_json(m4)
    text = tmp_path / "check.txt"
    argv = [EX, "--compute-units", "CPU_AND_NE", "--chip", "M1", "--backend", "estimate"]
    code, out, _ = run(
        [*argv, "--baseline", str(m4), "--format", "text", "--output", str(text)], capsys
    )
    assert code == 0
    written = text.read_text(encoding="utf-8")
    assert "ops that left the Neural Engine: 1: lm_head_cast_fp16 (linear, ANE -> CPU)" in written
    assert written.strip() in out and f"wrote {text} (text)" in out
    code, out, _ = run([*argv, "--baseline", str(m4), "--fail-on-regression"], capsys)
    assert code == 1 and "FAIL no-op-left-ane: 1 ops left the Neural Engine" in out


def test_no_flags_turn_off_what_pyproject_turns_on(
    saved: Path, no_project_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_hazards import report, sdpa_mask_input

    hazardous = no_project_config / "h.json"
    report(sdpa_mask_input(), {}).to_json(hazardous)
    _pyproject(
        no_project_config,
        "[tool.ane_notebook.check]\nfail-on-hazard = true\n"
        f"baseline = '{saved}'\nfail-on-regression = true\n",
    )
    assert run([str(hazardous)], capsys)[0] == 1  # the hazard, and a model unlike the baseline
    code, out, _ = run([str(hazardous), "--no-fail-on-hazard", "--no-fail-on-regression"], capsys)
    assert code == 0, out
    assert "no-hazards" not in out and "no-op-left-ane" not in out
