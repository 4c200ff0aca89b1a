import argparse
import json
import shutil
import tarfile
import types
from pathlib import Path

import keras
import numpy as np

from segpapers.benchmarks import table
from segpapers.experiment import Experiment, load_checkpoint


def results_file(directory):
    data = {
        "model": "enet", "dataset": "camvid", "split": "test", "num_images": 233, "params": 372143,
        "gflops": 0.637, "input_size": [180, 240], "images_per_s": 12.5,
        "metrics": {"pixel_accuracy": 0.8312, "mean_accuracy": 0.6021, "miou": 0.4567},
        "crf": {"metrics": {"pixel_accuracy": 0.8401, "mean_accuracy": 0.6010, "miou": 0.4613},
                "delta": {"miou": 0.0046}, "seconds_per_image": 0.71},
        "train_config": {"model": "enet", "protocol": "cpu", "train_wall_time_s": 3000.0,
                         "deviations": [], "schedule": {"notes": "reduced budget"}},
    }
    (directory / "enet_cpu.json").write_text(json.dumps(data))


def test_the_table_reproduces_the_results_file_exactly(tmp_path):
    results_file(tmp_path)
    rows = {row["model"]: row for row in table.build_rows(tmp_path, tmp_path / "missing_summary.json")}
    enet = rows["enet"]
    assert enet["reproduced"] == "83.1 / 60.2 / 45.7"
    assert enet["crf"] == "84.0 / 60.1 / 46.1 (+0.5 mIoU, 0.71 s/img)"
    assert enet["params"] == "0.37M" and enet["gflops"] == "0.6 @ 180x240" and enet["train"] == "50 min"
    assert enet["protocol"] == "cpu" and enet["source"] == "enet_cpu.json"
    assert enet["inference"] == "12.5 img/s with the CRF"
    assert "68.3" in enet["reported"] and "51.3" in enet["reported"]
    assert set(rows) == set(table.papers.list_models())  # every model has a row
    assert rows["fcn8s"]["reproduced"] == "not run here (voc data is not on this machine)"
    assert rows["fcn8s"]["deviations"] == "the paper's dataset, voc, is not on this machine"


def test_isbi_rows_show_the_challenge_errors_and_voc_models_keep_their_voc_row(tmp_path):
    unet = {
        "model": "unet", "dataset": "isbi2012", "split": "val", "num_images": 5, "params": 31031810, "gflops": 301.6,
        "input_size": [380, 380], "metrics": {"pixel_accuracy": 0.92, "mean_accuracy": 0.88, "miou": 0.8,
                                              "pixel_error": 0.08, "rand_error": 0.1234, "foreground_iou": 0.7},
        "crf": {"metrics": {"pixel_error": 0.07, "rand_error": 0.1, "foreground_iou": 0.72},
                "delta": {"rand_error": -0.0234, "miou": 0.01}, "seconds_per_image": 1.5},
        "train_config": {"model": "unet", "protocol": "cpu", "deviations": [], "schedule": {"notes": ""}},
    }
    (tmp_path / "unet_cpu.json").write_text(json.dumps(unet))
    fcn = {**json.loads(json.dumps(unet)), "model": "fcn8s", "dataset": "camvid", "split": "test",
           "train_config": {"model": "fcn8s", "protocol": "cpu", "deviations": [], "schedule": {"notes": ""}}}
    fcn["metrics"] = {"pixel_accuracy": 0.5, "mean_accuracy": 0.2, "miou": 0.1}
    del fcn["crf"]
    (tmp_path / "fcn8s_cpu.json").write_text(json.dumps(fcn))
    rows = table.build_rows(tmp_path, tmp_path / "missing_summary.json")
    (unet_row,) = [row for row in rows if row["model"] == "unet"]
    assert unet_row["reproduced"] == ("pixel error 0.0800, Rand error 0.1234, membrane IoU 70.0 (the adapted Rand "
                                      "error, scored before the challenge's scorer)")
    assert unet_row["crf"].startswith("pixel error 0.0700, Rand error 0.1000") and "-0.0234 Rand error" in unet_row["crf"]
    fcn_rows = [row for row in rows if row["model"] == "fcn8s"]
    assert [row["reproduced"] for row in fcn_rows] == ["50.0 / 20.0 / 10.0", "not run here (voc data is not on this machine)"]

    # With the challenge's thresholds, the table shows them and the gap compares the paper with that rule.
    unet["metrics"]["challenge"] = {"thresholds": [0.0, 0.5], "pixel_error": [0.5, 0.08], "rand_error": [0.9, 0.1234],
                                    "best_pixel_error": 0.07, "best_rand_error": 0.05}
    (tmp_path / "unet_cpu.json").write_text(json.dumps(unet))
    (unet_row,) = [row for row in table.build_rows(tmp_path, tmp_path / "missing.json") if row["model"] == "unet"]
    assert ("at the best of the challenge's 2 thresholds: pixel error 0.0700, Rand error 0.0500 (the adapted"
            in unet_row["reproduced"])
    (gap,) = [row for row in table.gap_rows(tmp_path) if row["model"] == "unet"]
    assert gap["scores"] == "Rand error 0.0500 vs 0.0382 (+0.0118); pixel error 0.0700 vs 0.0611 (+0.0089)"

    # Scored by the challenge's scorer: its summary in the row, the warping error in the gap to six decimals,
    # and the gap section says that the paper's numbers are on the hidden test slices, these on held-out ones.
    best = {"rand_error": 0.05, "pixel_error": 0.07, "wrong_pixel_fraction": 0.09, "warping_error": 0.000412,
            "v_rand": 0.93, "v_info": 0.95}
    unet.update(headline=best, primary="rand_error", summaries={"metrics": "G / C / mIoU 92.0 / 88.0 / 80.0",
                                                                "isbi_challenge": "Rand error 0.0500 (and the rest)"})
    del unet["crf"]
    (tmp_path / "unet_cpu.json").write_text(json.dumps(unet))
    (unet_row,) = [row for row in table.build_rows(tmp_path, tmp_path / "missing.json") if row["model"] == "unet"]
    assert unet_row["reproduced"] == "Rand error 0.0500 (and the rest)"
    (gap,) = [row for row in table.gap_rows(tmp_path) if row["model"] == "unet"]
    assert gap["scores"] == ("warping error 0.000412 vs 0.000353 (+0.000059); Rand error 0.0500 vs 0.0382 (+0.0118); "
                             "pixel error 0.0700 vs 0.0611 (+0.0089)")
    section = table.gap_section(table.gap_rows(tmp_path))
    assert "unet's `cpu` run is scored on isbi2012 val (5), the paper's numbers on isbi2012 test: not the" in section
    assert "fcn8s's `cpu` run is scored" not in section  # CamVid's test split is the paper's


def test_the_command_writes_the_markdown_and_the_plot(tmp_path):
    results_file(tmp_path)
    table.main(["--results-dir", str(tmp_path), "--summary", str(tmp_path / "none.json"),
                "--output", str(tmp_path / "BENCHMARKS.md"), "--papers-dir", str(tmp_path / "papers")])
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| enet | camvid test (233) | cpu |" in text and "83.1 / 60.2 / 45.7" in text
    assert (tmp_path / "benchmarks_miou_vs_gflops.png").stat().st_size > 0
    enet = (tmp_path / "papers" / "enet" / "README.md").read_text()  # the per-paper results beside the paper
    assert enet.startswith("# ENet\n") and "| enet | camvid test (233) | cpu | 83.1 / 60.2 / 45.7 |" in enet
    assert "`python -m benchmarks.run --model enet --protocol reference`" in enet
    assert sorted(path.parent.name for path in (tmp_path / "papers").glob("*/README.md")) == [
        "deconvnet", "enet", "fcn", "segnet", "unet"]


def test_an_unfinished_run_shows_as_running_with_how_far_it_got(tmp_path):
    from segpapers.benchmarks import run

    encoder, decoder = tmp_path / "runs" / "enet_cpu" / "encoder", tmp_path / "runs" / "enet_cpu" / "decoder"
    for stage_dir, epochs in ((encoder, 20), (decoder, 3)):
        stage_dir.mkdir(parents=True)
        rows = [f"{epoch},1.0,0.5,{0.30 + epoch / 100}" for epoch in range(epochs)]
        rows.insert(2, "1,1.0,0.5,0.10")  # an epoch logged twice by a resumed run: the later row counts
        (stage_dir / "history.csv").write_text("epoch,loss,miou,val_miou\n" + "\n".join(rows) + "\n")
        (stage_dir / "train_time.json").write_text(json.dumps({"seconds": 60.0 * epochs}))
    results_dir = tmp_path / "results"
    run.main(["--model", "enet", "--protocol", "cpu", "--progress", "--runs-dir", str(tmp_path / "runs"),
              "--results-dir", str(results_dir)])
    enet_rows = [row for row in table.build_rows(results_dir, tmp_path / "none.json") if row["model"] == "enet"]
    assert [row["protocol"] for row in enet_rows] == ["cpu"]  # no separate "not run yet" row
    assert enet_rows[0]["reproduced"].startswith(
        "running: encoder 20/20 epochs (val mIoU 49.0, best 49.0), decoder 3/40 epochs (val mIoU 32.0, best 32.0)")
    assert "python -m benchmarks.run --model enet --protocol cpu" in enet_rows[0]["reproduced"]
    assert enet_rows[0]["train"] == "23 min so far"

    results_file(results_dir)  # the finished run replaces the running row
    enet_rows = [row for row in table.build_rows(results_dir, tmp_path / "none.json") if row["model"] == "enet"]
    assert [row["reproduced"] for row in enet_rows] == ["83.1 / 60.2 / 45.7"]


def saved_with_optimizer_state(path):
    """A tiny model saved as train.py's checkpoints are: compiled, with Adam's moments."""
    model = table.papers.build_model("segnet_basic", 3, (16, 16, 3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    model.save(path)
    return model


def fake_score(checkpoint, split, output, crf, data_source="files"):
    Path(output).write_text('{"params": 1e9}')  # too large for a weight record


def without_data(monkeypatch, run):
    """A row whose training and scoring are faked needs no dataset: its pre-training check of the split it
    will score passes on a machine without ../shared/data."""
    monkeypatch.setattr(run.datasets, "load", lambda dataset, split, data_dir, source: None)


def test_a_packed_run_state_continues_on_another_machine(tmp_path, monkeypatch):
    from segpapers.benchmarks import run
    without_data(monkeypatch, run)

    old_run, new_run = tmp_path / "old" / "enet_paper", tmp_path / "new" / "enet_paper"
    (old_run / "encoder" / "logs").mkdir(parents=True)
    trained = saved_with_optimizer_state(old_run / "encoder" / "model.keras")
    (old_run / "config.json").write_text("{}")
    (old_run / "encoder" / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (old_run / "encoder" / "logs" / "events").write_bytes(b"tensorboard")
    (old_run / "encoder" / "history.csv.bkp").write_text("spare copy")
    for stage in ("encoder", "decoder"):  # the encoder finished, the decoder is under way
        (old_run / stage / "backup").mkdir(parents=True, exist_ok=True)
        (old_run / stage / "backup" / "latest.weights.h5").write_bytes(b"weights and optimizer state")
    (old_run / "encoder" / "done.json").write_text("{}")
    results_dir = tmp_path / "results"
    run.main(["--model", "enet", "--protocol", "paper", "--progress", "--runs-dir", str(old_run.parent),
              "--results-dir", str(results_dir)])
    record = json.loads((results_dir / "progress" / "enet_paper.json").read_text())
    assert record["state"] == "enet_paper.state.tar.gz" and record["state_mb"] is not None

    def fake_fit(experiment):  # what training finds in its run folder when it starts
        found = sorted(str(path.relative_to(new_run)) for path in new_run.rglob("*") if path.is_file())
        # No logs, no spare copies, and no backup of the finished stage: a staged run cannot extend it.
        assert found == ["config.json", "decoder/backup/latest.weights.h5", "encoder/done.json", "encoder/history.csv",
                         "encoder/model.keras"]
        checkpoint = new_run / "encoder" / "model.keras"  # the same weights, without the optimizer's moments
        assert checkpoint.stat().st_size < 0.5 * (old_run / "encoder" / "model.keras").stat().st_size
        for unpacked, weights in zip(keras.models.load_model(checkpoint, compile=False).weights, trained.weights):
            np.testing.assert_array_equal(unpacked.numpy(), weights.numpy())

        return types.SimpleNamespace(checkpoint=checkpoint, config={})

    monkeypatch.setattr(run, "fit", fake_fit)
    monkeypatch.setattr(run, "score_checkpoint", fake_score)
    run.main(["--model", "enet", "--protocol", "paper", "--runs-dir", str(new_run.parent),
              "--results-dir", str(results_dir)])
    assert sorted(path.name for path in results_dir.rglob("*") if path.is_file()) == ["enet_paper.json"]


def test_a_finished_one_stage_run_is_packed_with_its_backup_for_more_epochs(tmp_path):
    from segpapers.benchmarks import run

    (tmp_path / "segnet_cpu" / "backup").mkdir(parents=True)
    (tmp_path / "segnet_cpu" / "backup" / "latest.weights.h5").write_bytes(b"weights and optimizer state")
    (tmp_path / "segnet_cpu" / "done.json").write_text("{}")
    assert run.pack_state(tmp_path / "segnet_cpu", tmp_path / "state.tar.gz") is not None
    with tarfile.open(tmp_path / "state.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["backup/latest.weights.h5", "done.json"]


def test_a_run_state_too_large_for_the_repository_is_not_packed(tmp_path, monkeypatch):
    from segpapers.benchmarks import run

    monkeypatch.setattr(run, "STATE_LIMIT_MB", 0)
    (tmp_path / "runs" / "segnet_cpu").mkdir(parents=True)
    saved_with_optimizer_state(tmp_path / "runs" / "segnet_cpu" / "model.keras")
    run.main(["--model", "segnet", "--protocol", "cpu", "--progress", "--runs-dir", str(tmp_path / "runs"),
              "--results-dir", str(tmp_path / "results")])
    assert [path.name for path in (tmp_path / "results" / "progress").iterdir()] == ["segnet_cpu.json"]
    assert json.loads((tmp_path / "results" / "progress" / "segnet_cpu.json").read_text())["state"] is None


def test_a_small_trained_model_is_kept_as_a_weight_record(tmp_path, monkeypatch):
    from segpapers import evaluate
    from segpapers.benchmarks import run

    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    # The row's real training, on tiny synthetic data instead of the protocol's.
    monkeypatch.setattr(run, "row_experiment", lambda args, model, folder: Experiment.of(
        "segnet_basic", folder, "quick", input_size=(32, 32), batch_size=2, epochs=1, steps_per_epoch=1, val_steps=1,
        verbose=0, eval_split="none"))
    arguments = ["--model", "segnet_basic", "--protocol", "quick", "--no-crf", "--runs-dir", str(runs),
                 "--results-dir", str(results_dir)]
    run.main(arguments)
    record = results_dir / "weights" / "segnet_basic_quick"
    kept, config = load_checkpoint(record / "model.keras")
    trained, _ = load_checkpoint(runs / "segnet_basic_quick" / "model.keras")
    # without the optimizer's state (SGD momentum: one more value per weight)
    assert (record / "model.keras").stat().st_size < 0.7 * (runs / "segnet_basic_quick" / "model.keras").stat().st_size
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(kept.predict(images, verbose=0), trained.predict(images, verbose=0))
    assert config["model"] == "segnet_basic"
    scores = json.loads((results_dir / "segnet_basic_quick.json").read_text())
    info = json.loads((record / "record.json").read_text())
    assert info["command"] == "python -m benchmarks.run --model segnet_basic --protocol quick --no-crf"
    assert info["metrics"] == scores["metrics"] and info["results"] == "segnet_basic_quick.json"
    rescored = evaluate.main(["--checkpoint", str(record / "model.keras"), "--split", scores["split"],
                              "--output", str(tmp_path / "rescored.json")])
    assert rescored["metrics"]["miou"] == scores["metrics"]["miou"]  # the record reproduces its scores

    (row,) = [row for row in table.build_rows(results_dir, tmp_path / "none.json") if row["protocol"] == "quick"]
    assert row["source"] == "segnet_basic_quick.json (weights: weights/segnet_basic_quick/)"

    monkeypatch.setattr(run, "WEIGHTS_LIMIT_MB", 0)  # a model over the limit keeps no record
    monkeypatch.setattr(run, "score_checkpoint", lambda checkpoint, split, output, crf, data_source: shutil.copy(
        results_dir / "segnet_basic_quick.json", output))  # the same scores, not computed again
    other_results = tmp_path / "other_results"
    other_results.mkdir()
    run.main([*arguments[:-1], str(other_results)])
    assert (other_results / "segnet_basic_quick.json").exists() and not (other_results / "weights").exists()


def test_the_gap_to_the_paper_is_computed_from_the_results_file(tmp_path):
    results_file(tmp_path)
    (row,) = table.gap_rows(tmp_path)
    assert row["model"] == "enet" and row["protocol"] == "cpu"
    assert row["scores"] == "C 60.2 vs 68.3 (-8.1); mIoU 45.7 vs 51.3 (-5.6)"
    assert row["budget"] == "reduced budget"
    assert "| enet | cpu | C 60.2 vs 68.3 (-8.1)" in table.gap_section([row])
    assert "`paper` run is" not in table.gap_section([row])  # no paper run to compare with


def test_the_gap_section_compares_a_paper_run_with_the_cpu_run(tmp_path):
    results_file(tmp_path)
    data = json.loads((tmp_path / "enet_cpu.json").read_text())
    data["metrics"]["miou"] = 0.4922
    data["train_config"]["protocol"] = "paper"
    (tmp_path / "enet_paper.json").write_text(json.dumps(data))
    section = table.gap_section(table.gap_rows(tmp_path))
    assert "enet's `paper` run is -2.1 mIoU from the paper, its `cpu` run -5.6." in section


def test_repeated_runs_of_the_paper_recipe_show_each_run_their_mean_and_range(tmp_path):
    results_file(tmp_path)
    data = json.loads((tmp_path / "enet_cpu.json").read_text())
    for protocol, miou in (("paper", 0.482), ("reference", 0.5)):
        data["metrics"]["miou"], data["train_config"]["protocol"] = miou, protocol
        (tmp_path / f"enet_{protocol}.json").write_text(json.dumps(data))
    section = table.gap_section(table.gap_rows(tmp_path))
    assert ("enet: 2 finished run(s) of a paper recipe (`paper` 48.2, `reference` 50.0), mean 49.1 mIoU, "
            "range 48.2-50.0, against the paper's 51.3.") in section
    (tmp_path / "enet_reference.json").unlink()  # the second run still training: named, not averaged
    section = table.gap_section(table.gap_rows(tmp_path), {"enet": [{"protocol": "reference"}]})
    assert "enet: 1 finished run(s) of a paper recipe (`paper` 48.2), against the paper's 51.3; still running: " \
           "`reference`." in section


def test_the_per_class_section_shows_each_class_iou_of_the_results_file(tmp_path):
    results_file(tmp_path)
    assert table.per_class_section(tmp_path) == ""  # no per-class scores in that file
    data = json.loads((tmp_path / "enet_cpu.json").read_text())
    data["class_names"] = ["Sky", "Pole"]
    data["metrics"].update(iou=[0.9012, 0.0123], miou=0.4567)
    (tmp_path / "enet_cpu.json").write_text(json.dumps(data))
    section = table.per_class_section(tmp_path)
    assert "### camvid: IoU per class (%), without the CRF" in section and "| model | protocol | Sky | Pole | mIoU |" in section
    assert "| enet | cpu | 90.1 | 1.2 | 45.7 |" in section


def test_a_run_of_the_current_schedule_shows_its_current_notes_and_reasons(tmp_path):
    schedule = table.papers.get_schedule("enet", "cpu")
    recorded = json.loads(json.dumps(schedule.replace(notes="old wording").to_dict()))
    field = next(iter(recorded["overrides"]))
    recorded["overrides"][field]["reason"] = "an old reason"
    config = {"protocol": "cpu", "deviations": ["random init"], "schedule": recorded}
    overrides = "; ".join(schedule.deviations())
    assert table.what_was_cut("enet", config) == f"random init; {overrides}; {schedule.notes}".strip("; ")
    changed = {**recorded, "epochs": recorded["epochs"] + 1}  # another run than the schedule describes
    cut = table.what_was_cut("enet", {**config, "schedule": changed})
    assert cut.endswith("; old wording") and "(an old reason)" in cut


def test_rerun_starts_a_finished_row_over(tmp_path, monkeypatch):
    from segpapers.benchmarks import run
    without_data(monkeypatch, run)

    runs, results_dir = tmp_path / "runs", tmp_path / "results"
    (runs / "unet_cpu").mkdir(parents=True)
    (runs / "unet_cpu" / "config.json").write_text('{"schedule": "before the change"}')
    results_dir.mkdir()
    (results_dir / "unet_cpu.json").write_text('{"old": true}')
    trained = []
    monkeypatch.setattr(run, "fit", lambda experiment: trained.append((runs / "unet_cpu").exists())
                        or types.SimpleNamespace(checkpoint=None, config={}))
    monkeypatch.setattr(run, "score_checkpoint", fake_score)
    arguments = ["--model", "unet", "--runs-dir", str(runs), "--results-dir", str(results_dir)]
    run.main(arguments)
    assert trained == []  # done already
    run.main([*arguments, "--rerun"])
    assert trained == [False] and json.loads((results_dir / "unet_cpu.json").read_text()) == {"params": 1e9}


def test_backbone_weights_reach_the_training_and_the_rerun_command(tmp_path, monkeypatch):
    from segpapers.benchmarks import run
    without_data(monkeypatch, run)

    trained = []
    monkeypatch.setattr(run, "fit", lambda experiment: trained.append(experiment)
                        or types.SimpleNamespace(checkpoint=None, config={}))
    (tmp_path / "results").mkdir()
    monkeypatch.setattr(run, "score_checkpoint", fake_score)
    run.main(["--model", "segnet", "--backbone-weights", "vgg16.h5", "--runs-dir", str(tmp_path / "runs"),
              "--results-dir", str(tmp_path / "results")])
    assert trained[0].model_options == {"backbone_weights": "vgg16.h5"}
    args = argparse.Namespace(model="segnet", protocol="cpu", backbone_weights="vgg16.h5", no_crf=True)
    assert run.rerun_command(args, "segnet") == ("python -m benchmarks.run --model segnet --protocol cpu "
                                       "--backbone-weights vgg16.h5 --no-crf")


def test_a_run_trained_partly_in_another_precision_says_which_epochs_in_which():
    schedule = {"precision": "mixed_bfloat16"}
    spans = [{"stage": "train", "precision": "mixed_bfloat16", "first_epoch": 1, "last_epoch": 25},
             {"stage": "train", "precision": "float32", "first_epoch": 26, "last_epoch": 30}]
    assert table.precision_line({"schedule": schedule, "trained_precisions": spans[:1]}) == []
    line, = table.precision_line({"schedule": schedule, "trained_precisions": spans})
    assert line.startswith("trained in mixed_bfloat16 (epochs 1-25), float32 (epochs 26-30): float32 in the") and "units" in line


def test_a_paper_run_stopped_short_says_how_far_it_got_in_its_row_and_its_gap():
    schedule = {"epochs": 327, "max_train_hours": 6.0, "stages": []}
    recorded = {"schedule": schedule, "stages_trained": [
        {"stage": "train", "epochs": 327, "epochs_trained": 36, "stopped_by": "time budget"}]}
    # A results file written before stages_trained: read from its sittings' epochs and the budget.
    older = {"schedule": schedule, "train_wall_time_s": 22171.9, "trained_precisions": [
        {"stage": "train", "precision": "mixed_bfloat16", "first_epoch": 1, "last_epoch": 25},
        {"stage": "train", "precision": "float32", "first_epoch": 26, "last_epoch": 36}]}
    for config in (recorded, older):
        assert table.extent_text(config) == "36/327 epochs (the 6.0 h training budget)"
    staged = {"schedule": {"stages": [{"name": "encoder", "epochs": 100}, {"name": "decoder", "epochs": 200}]},
              "stages_trained": [{"stage": "encoder", "epochs": 100, "epochs_trained": 100, "stopped_by": None},
                                 {"stage": "decoder", "epochs": 200, "epochs_trained": 150, "stopped_by": "patience"}]}
    assert table.extent_text(staged) == "decoder 150/200 epochs (the patience rule)"
    assert table.extent_text({"schedule": schedule}) == ""  # nothing recorded: nothing claimed

    rows = [{"model": "segnet_basic", "protocol": protocol, "stopped_short": table.extent_text(recorded), "gaps": {},
             "values": {}, "reported": {}, "scores": "", "budget": "", "paper": "",
             "scored_on": "camvid test (233)", "reported_on": "camvid test"}
            for protocol in ("paper", "cpu")]
    section = table.gap_section(rows)
    assert section.count("stopped at") == 1  # a reduced budget's short run is no news
    assert ("segnet_basic's `paper` run stopped at 36/327 epochs (the 6.0 h training budget): the rest of its "
            "schedule is what would close that part of its gap.") in section


def test_the_readme_lists_the_paper_recipe_runs_between_its_marks_and_nothing_else_changes(tmp_path):
    results_file(tmp_path)  # a cpu run: BENCHMARKS.md's only
    data = json.loads((tmp_path / "enet_cpu.json").read_text())
    data["train_config"]["protocol"] = "paper"
    (tmp_path / "enet_paper.json").write_text(json.dumps(data))
    start, end = table.README_MARKS
    readme = tmp_path / "README.md"
    readme.write_text(f"# Project\n\nbefore\n{start}\nstale rows\n{end}\nafter\n")
    table.main(["--results-dir", str(tmp_path), "--summary", str(tmp_path / "none.json"),
                "--output", str(tmp_path / "BENCHMARKS.md"), "--papers-dir", str(tmp_path / "papers")])
    text = readme.read_text()
    assert text.startswith(f"# Project\n\nbefore\n{start}\n| model | protocol |") and text.endswith(f"{end}\nafter\n")
    assert "stale rows" not in text and "| enet | paper |" in text and "| enet | cpu |" not in text
    assert "| 83.1 / 60.2 / 45.7 |" in text and "| 50 min | enet_paper.json |" in text
    readme.write_text("no marks here\n")
    assert not table.write_readme_reproductions(readme, []) and readme.read_text() == "no marks here\n"


def test_a_slow_evaluation_shows_seconds_per_image_not_zero_images_per_second():
    assert (table.rate_text(2.04), table.rate_text(0.025)) == ("2.0 img/s", "40 s/img")
