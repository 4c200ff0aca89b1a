"""The architecture comparison: one recipe for every CamVid model, the learning-rate sweep, its table."""
import json

import numpy as np
import pytest

from segpapers import papers
from segpapers.benchmarks import table
from segpapers.common.schedule import deviation_lines
from segpapers.experiment import sweep
from segpapers.papers.comparison import MODELS, RECIPE
from tests.test_datasets import camvid_label, write_camvid


def test_every_compared_model_follows_the_same_recipe_but_its_options():
    recipe = RECIPE.to_dict()
    for name in MODELS:
        schedule = papers.get_schedule(name, "compare").to_dict()
        options = schedule.pop("model_options")
        assert options == ({"fc_channels": 1024} if name == "deconvnet" else {}), name
        assert schedule == {key: value for key, value in recipe.items() if key != "model_options"}, name
        assert schedule["dataset"] == "camvid" and not schedule["overrides"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_every_compared_model_builds_at_the_recipe_size(name):
    model = papers.build_model(name, 11, (*RECIPE.input_size, 3), **papers.get_schedule(name, "compare").model_options)
    assert model.output_shape[1:] == (*RECIPE.input_size, 11)


@pytest.fixture
def tiny_camvid(tmp_path):
    root = tmp_path / "camvid"
    write_camvid(root, [camvid_label(value) for value in (0, 1, 2, 3)])
    (root / "val.txt").write_text((root / "train.txt").read_text())
    (root / "test.txt").write_text((root / "train.txt").read_text())
    return root


TINY_RUN = dict(input_size=(32, 32), steps_per_epoch=1, val_steps=1, verbose=0)


def test_the_sweep_trains_each_rate_once_and_the_run_takes_the_best(tmp_path, tiny_camvid, monkeypatch):
    two_rates = papers.get_schedule("segnet_basic", "compare").replace(learning_rate_sweep=(1e-4, 1e-3))
    monkeypatch.setitem(papers._SCHEDULES["segnet_basic"], "compare", two_rates)
    record_path = sweep.record_path(tmp_path / "results", "segnet_basic", "compare")
    record = sweep.sweep("segnet_basic", "compare", tmp_path / "runs", str(tiny_camvid), record_path, **TINY_RUN)
    assert json.loads(record_path.read_text()) == record
    scores = {candidate["learning_rate"]: candidate["val_miou"] for candidate in record["candidates"]}
    assert set(scores) == {1e-4, 1e-3} and all(candidate["epochs"] == 1 for candidate in record["candidates"])
    assert record["chosen_learning_rate"] == max(scores, key=scores.get)
    trained = []
    monkeypatch.setattr("keras.Model.fit", lambda *args, **kwargs: trained.append(args))
    again = sweep.sweep("segnet_basic", "compare", tmp_path / "runs", str(tiny_camvid), record_path, **TINY_RUN)
    assert again["candidates"] == record["candidates"] and not trained  # finished candidates are not retrained

    chosen = sweep.chosen_experiment("segnet_basic", "compare", tmp_path / "runs" / "segnet_basic_compare",
                                     str(tiny_camvid), record, record_path, **TINY_RUN)
    assert chosen.schedule.learning_rate == record["chosen_learning_rate"]
    (line,) = [line for line in deviation_lines(chosen.schedule.to_dict()) if line.startswith("learning_rate")]
    assert "picked by the learning-rate trial (segnet_basic_compare.json; val_miou after 1 epoch(s): 0.0001: " in line


def comparison_result(directory, name, miou):
    data = {
        "model": name, "dataset": "camvid", "split": "test", "num_images": 233, "params": 372143,
        "input_size": list(RECIPE.input_size), "images_per_s": 10.0,
        "metrics": {"pixel_accuracy": 0.8, "mean_accuracy": 0.6, "miou": miou, "iou": [miou] * 11},
        "class_names": [f"c{index}" for index in range(11)],
        "train_config": {"model": name, "protocol": "compare", "num_classes": 11, "train_wall_time_s": 600.0,
                         "model_options": {}, "deviations": [], "schedule": RECIPE.to_dict(),
                         "stages_trained": [{"stage": "train", "epochs": 6, "epochs_trained": 6,
                                             "selected": {"monitor": "val_miou", "best": miou, "epoch": 6}}]},
    }
    (directory / f"{name}_compare.json").write_text(json.dumps(data))


def test_the_comparison_section_replaces_the_cpu_row_and_shows_the_sweep_and_the_speed_run(tmp_path, monkeypatch):
    (tmp_path / "data" / "camvid").mkdir(parents=True)  # ENet's paper data is on this machine: its row can be run
    monkeypatch.setattr(table, "DATA_ROOT", tmp_path / "data")
    comparison_result(tmp_path, "enet", 0.45)
    cpu = json.loads((tmp_path / "enet_compare.json").read_text())
    cpu["train_config"]["protocol"] = "cpu"
    (tmp_path / "enet_cpu.json").write_text(json.dumps(cpu))
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "enet_compare.json").write_text(json.dumps({
        "chosen_learning_rate": 1e-3, "monitor": "val_miou", "candidates": [{"learning_rate": 1e-4, "val_miou": 0.2},
                                                     {"learning_rate": 1e-3, "val_miou": 0.3}]}))
    speed = {"keras": [{"model": "enet", "protocol": "compare", "precision": "float32", "xla": False,
                        "infer_ms_per_image": 41.6, "input_size": [224, 288], "peak_rss_gib": 1.25}]}
    rows = table.build_rows(tmp_path, tmp_path / "missing_summary.json")
    (enet,) = [row for row in rows if row["model"] == "enet"]  # the cpu row retired, the paper's own kept
    assert enet["reproduced"] == ("paper recipe not run yet; trained under the shared recipe: see Architectures on "
                                  "equal terms")
    (row,) = table.comparison_rows(tmp_path, speed)
    assert row["scores"] == "80.0 / 60.0 / 45.0" and row["sweep"] == "0.0001: 20.0, **0.001: 30.0** (the grid's largest)"
    assert row["inference"] == "42 ms @ 224x288" and row["memory"] == "1.2 GiB" and row["train"] == "10 min"
    text = table.comparison_section(tmp_path, speed, {}, tmp_path / "frontier.png")
    assert "224x288 inputs, 6 epochs at batch 4, adam with poly decay" in text and "| enet | 0.37M |" in text
    # ENet's cost where it ran and at CamVid's size (results/model_summary.json: 2.54 GFLOPs at 360x480)
    assert row["gflops"] == "0.9 / 2.5" and "GFLOPs @ 224x288 (as run) / 360x480" in text
    assert (tmp_path / "frontier.png").exists() and "frontier (no other row both infers faster" in text
    assert "Still improving when the budget ended (best val mIoU at the last epoch): enet (1 of 1)." in text
    assert "Not run yet: segnet_basic, segnet, fcn8s, deconvnet, unet_same." in text
    assert "every row's recorded schedule equals the recipe in every setting but the learning rate" in text


def test_the_section_names_a_row_whose_recorded_settings_left_the_recipe(tmp_path):
    comparison_result(tmp_path, "enet", 0.45)
    comparison_result(tmp_path, "segnet_basic", 0.40)
    path = tmp_path / "segnet_basic_compare.json"
    data = json.loads(path.read_text())
    data["train_config"]["schedule"].update(learning_rate=1e-3, epochs=12)  # the rate may differ, the budget not
    path.write_text(json.dumps(data))
    text = table.comparison_section(tmp_path, {}, {}, tmp_path / "frontier.png")
    assert "Recorded settings that differ from the recipe (these rows are not on equal terms): segnet_basic (epochs)." in text


def test_one_command_runs_every_compared_row_not_done_at_its_swept_rate(tmp_path, monkeypatch):
    import types

    from segpapers.benchmarks import run

    swept, trained = [], []

    def fake_sweep(model, protocol, runs_dir, data_dir, record_path, **settings):
        swept.append(model)
        assert settings["data_source"] == "files"
        record = {"model": model, "epochs": 1, "chosen_learning_rate": 1e-3, "monitor": "val_miou",
                  "candidates": [{"learning_rate": 1e-4, "val_miou": 0.1}, {"learning_rate": 1e-3, "val_miou": 0.2}]}
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record))
        return record

    def fake_score(checkpoint, split, output, crf, data_source):
        scored.append(data_source)
        output.write_text(json.dumps({"params": 10 ** 9}))  # too large for a weight record

    checked, scored = [], []
    monkeypatch.setattr(run.datasets, "load", lambda dataset, split, data_dir, source: checked.append(source))
    monkeypatch.setattr(run.sweep, "sweep", fake_sweep)
    monkeypatch.setattr(run, "fit", lambda experiment: trained.append(experiment)
                        or types.SimpleNamespace(checkpoint=None, config={}))
    monkeypatch.setattr(run, "score_checkpoint", fake_score)
    folders = ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--no-crf"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "enet_compare.json").write_text("{}")  # a finished row is skipped
    run.main(["--protocol", "compare", *folders])
    assert swept == [name for name in MODELS if name != "enet"] == [experiment.model for experiment in trained]
    assert all(experiment.schedule.learning_rate == 1e-3 and experiment.protocol == "compare" for experiment in trained)
    assert checked == scored == ["files"] * len(trained)
    run.main(["--protocol", "compare", "--model", "segnet_basic", "--rerun", "--data-source", "tfds", *folders])
    assert swept.count("segnet_basic") == 1 and trained[-1].model == "segnet_basic"  # the sweep's record is reused
    assert trained[-1].data_source == checked[-1] == scored[-1] == "tfds"


def test_a_run_at_a_rate_independent_of_its_length_goes_on_from_its_trials_run(tmp_path, tiny_camvid, monkeypatch):
    from segpapers.experiment import fit
    from segpapers.experiment.runs import read_history

    runs, record_path = tmp_path / "runs", sweep.record_path(tmp_path / "results", "segnet_basic", "compare")
    decaying = papers.get_schedule("segnet_basic", "compare").replace(learning_rate_sweep=(1e-3,), epochs=2)
    monkeypatch.setitem(papers._SCHEDULES["segnet_basic"], "compare", decaying.replace(lr_policy="fixed"))
    record = sweep.sweep("segnet_basic", "compare", runs, str(tiny_camvid), record_path, **TINY_RUN)
    output = runs / "segnet_basic_compare"
    monkeypatch.setitem(papers._SCHEDULES["segnet_basic"], "compare", decaying)
    assert not sweep.start_from_trial("segnet_basic", "compare", runs, record, output)  # poly: not its first epoch
    assert not output.exists()

    monkeypatch.setitem(papers._SCHEDULES["segnet_basic"], "compare", decaying.replace(lr_policy="fixed"))
    assert sweep.start_from_trial("segnet_basic", "compare", runs, record, output)
    trial_epoch = read_history(output)
    fit(sweep.chosen_experiment("segnet_basic", "compare", output, str(tiny_camvid), record, record_path,
                                **TINY_RUN))
    history = read_history(output)
    assert len(trial_epoch) == 1 and len(history) == 2 and history[0] == trial_epoch[0]  # one epoch more, not two
    assert json.loads((output / "config.json").read_text())["schedule"]["overrides"]["learning_rate"]["reason"] \
        .startswith("picked by the learning-rate trial")
    assert not sweep.start_from_trial("segnet_basic", "compare", runs, record, output)  # a started run stays


def test_the_frontier_holds_exactly_the_rows_no_other_row_beats_on_both_time_and_miou():
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = [{"model": f"m{index}", "infer_ms": float(rng.integers(1, 6)) if rng.random() > 0.2 else None,
                 "miou": float(rng.integers(0, 6)) / 10} for index in range(6)]
        timed = [row for row in rows if row["infer_ms"]]
        beaten = {row["model"] for row in timed for other in timed
                  if other["infer_ms"] <= row["infer_ms"] and other["miou"] >= row["miou"]
                  and (other["infer_ms"], other["miou"]) != (row["infer_ms"], row["miou"])}
        front = table.frontier(rows)
        # one row per point: of equal rows the frontier keeps the first
        assert {(row["infer_ms"], row["miou"]) for row in front} == {
            (row["infer_ms"], row["miou"]) for row in timed if row["model"] not in beaten}
        assert [row["infer_ms"] for row in front] == sorted(row["infer_ms"] for row in front)


def test_a_model_that_cannot_take_the_scored_size_is_costed_at_the_next_size_it_takes():
    config = {"num_classes": 11, "model_options": {}}
    assert table.scored_size_gflops("enet", config) == f"{table.gflops_at('enet', config, (360, 480)):.1f}"
    assert table.scored_size_gflops("unet_same", config) == (
        f"{table.gflops_at('unet_same', config, (368, 480)):.1f} (at 368x480)")
