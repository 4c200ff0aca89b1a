"""The benchmarks' command lines (benchmarks.run, benchmarks.precision_ab) at their boundary, run as
`python -m` runs them: a user error is one line and exit status 2, its traceback with --debug."""
import runpy
import sys

import pytest

from segpapers.common.errors import MissingFile


@pytest.mark.parametrize("module", ["benchmarks.run", "benchmarks.precision_ab"])
def test_a_user_error_is_one_line_and_status_2_and_debug_shows_the_traceback(module, tmp_path, monkeypatch, capsys):
    flags = ["--model", "segnet_basic", "--protocol", "cpu", "--data-root", str(tmp_path / "nowhere"),
             "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
    monkeypatch.setattr(sys, "argv", [module, *flags])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module(module, run_name="__main__")
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: data dir for dataset 'camvid' not found: {tmp_path / 'nowhere' / 'camvid'}\n"
    monkeypatch.setattr(sys, "argv", [module, *flags, "--debug"])
    with pytest.raises(MissingFile, match="data dir for dataset 'camvid' not found"):
        runpy.run_module(module, run_name="__main__")
