"""benchmarks.code_ab: two versions of the code timed in one interleaved run."""
import json
import shutil
import subprocess

import pytest

from segpapers.benchmarks import code_ab
from segpapers.benchmarks.speed import REPO

needs_git = pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                               reason="needs the git checkout")


@needs_git
def test_the_base_revision_and_this_checkout_are_each_timed_by_their_own_code(tmp_path):
    output = tmp_path / "code_ab.json"
    record = code_ab.main(["--base", "HEAD", "--models", "segnet_basic", "--input-size", "32", "32", "--rounds", "1",
                           "--repeats", "1", "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(record))
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    entry = record["models"]["segnet_basic"]
    assert record["base"] == head and entry["base"]["code_version"] == head  # the worktree's, never dirty
    assert entry["new"]["code_version"] == record["new"]  # this checkout's, "-dirty" where it has changes
    for figure in code_ab.FIGURES:
        ratio, (low, high) = entry[f"{figure}_ratio"], entry[f"{figure}_ratio_range"]
        assert ratio == entry["new"][figure] / entry["base"][figure] and low <= ratio <= high
    assert "quiet" in entry["base"] and "quiet" in entry["new"]
    worktrees = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout
    assert "code_ab_" not in worktrees  # removed again


def test_a_process_records_the_code_version_it_started_with(monkeypatch):
    from segpapers.common import results

    started_with = results.code_version()

    def no_git(*arguments, **options):
        raise AssertionError("asked git again: a commit made during a long run would be recorded as its code")

    monkeypatch.setattr(results.subprocess, "run", no_git)
    assert results.code_version() == started_with


@needs_git
def test_xla_asks_both_versions_for_the_compiled_step_and_forward_pass(tmp_path, monkeypatch):
    asked = []

    def fake_rounds(children, rounds):
        asked.extend(arguments for _, arguments, _ in children.values())
        timed = {f"{figure}{suffix}": value for figure in code_ab.FIGURES
                 for suffix, value in (("", 1.0), ("_rounds", [1.0]))}
        return {version: dict(timed) for version in children}

    monkeypatch.setattr(code_ab, "measured_in_rounds", fake_rounds)
    record = code_ab.main(["--base", "HEAD", "--models", "enet", "--xla", "--output", str(tmp_path / "code_ab.json")])
    assert record["xla"] and len(asked) == 2 and all(arguments[-1] == "--xla" for arguments in asked)
