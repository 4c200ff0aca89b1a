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


def test_the_precision_ab_of_a_protocol_with_a_learning_rate_trial_runs_at_the_trials_rate(tmp_path):
    from segpapers import papers
    from segpapers.benchmarks import precision_ab
    from segpapers.common import results
    from segpapers.common.errors import UserError
    from segpapers.experiment import sweep

    schedule = papers.get_schedule("unet", "paper")
    assert schedule.learning_rate_sweep
    assert precision_ab.trial_overrides("unet", "cpu", papers.get_schedule("unet", "cpu"), tmp_path) == {}
    with pytest.raises(UserError, match="run the trial first"):
        precision_ab.trial_overrides("unet", "paper", schedule, tmp_path)
    record = sweep.record_path(tmp_path, "unet", "paper")
    record.parent.mkdir(parents=True)
    results.write_json(record, {"monitor": "val_miou", "epochs": 8, "chosen_learning_rate": 0.003, "candidates": [
        {"learning_rate": 0.001, "val_miou": 0.5}, {"learning_rate": 0.003, "val_miou": 0.6}]})
    rate, reason = precision_ab.trial_overrides("unet", "paper", schedule, tmp_path)["learning_rate"]
    assert rate == 0.003
    assert reason == ("picked by the learning-rate trial (unet_paper.json; val_miou after 8 epoch(s): "
                      "0.001: 50.0, 0.003: 60.0)")


def test_the_precision_ab_holds_bfloat16_to_float32s_own_seed_to_seed_gaps_where_they_are_larger():
    from segpapers.benchmarks import precision_ab

    def curve(losses, scores):
        return {"loss": losses, "val_miou": scores}

    curves = {"float32": curve([1.0, 0.8], [None, 0.40]), "mixed_bfloat16": curve([1.0, 0.84], [None, 0.44])}
    verdict = precision_ab.compare(curves, "val_miou")
    assert (verdict["max_relative_loss_gap"], verdict["best_monitor_gap"]) == (0.05, 0.04)
    assert (verdict["loss_bound"], verdict["score_bound"], verdict["passes"]) == (0.03, 0.02, False)
    # float32 at another seed departs further than bfloat16 does: bfloat16 is within the noise.
    curves[precision_ab.NOISE_RUN] = curve([1.1, 0.72], [0.30, 0.35])
    verdict = precision_ab.compare(curves, "val_miou")
    assert verdict["float32_seed_to_seed"] == {"max_relative_loss_gap": 0.1, "best_monitor_gap": 0.05}
    assert (verdict["loss_bound"], verdict["score_bound"], verdict["passes"]) == (0.1, 0.05, True)
    # Never below the fixed tolerances: a seed that happens to land close proves no precision right.
    curves[precision_ab.NOISE_RUN] = curves["float32"]
    assert precision_ab.compare(curves, "val_miou")["score_bound"] == 0.02
