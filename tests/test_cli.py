"""train.py and evaluate.py end to end on the embedded synthetic dataset, with tiny shapes."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

from segpapers import datasets
from segpapers import evaluate
from segpapers import papers
from segpapers import train
from segpapers.common.crf import DEFAULT_PRESET, PRESETS
from segpapers.common.errors import UserError
from segpapers.common import backends, checkpoints, console, training
from segpapers.experiment import Experiment, cli, load_checkpoint, runs, score, scoring
from segpapers.experiment.prediction import export
from tests.model_checks import TINY as TINY_CONFIGURATIONS, TINY_RUN as TINY
from tests.test_datasets import camvid_label, write_camvid
from tests.test_isbi_elastic import membrane_label, write_isbi
from tests.paths import REPO



def history_epochs(run):
    with open(run / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


# Per model: its tiny configuration (tests/model_checks.py) as train.py flags, and flags that keep a
# training step small. (ENet trains with SGD here: tracing Keras' Adam update over ENet's ~450 variables
# alone takes ~30 s; it and FCN-8s take a one-stage protocol: staged training has its own test.)
CLI_FLAGS = {"enet": ["--optimizer=sgd", "--protocol=compare"], "fcn8s": ["--protocol=reference_atonce"]}
# U-Net predicts by tiles: at 252x252 its 68x68 output covers a 64x64 synthetic image in one tile (at its
# smallest size, 188, a tile is 4x4 pixels: 256 forward passes per image and symmetry).
CLI_SIZES = {"unet": (252, 252)}
TINY_MODELS = {name: ("{}x{}".format(*CLI_SIZES.get(name, size)),
                      [f"--model-option={key}={value}" for key, value in options.items()] + CLI_FLAGS.get(name, []))
               for name, (size, options) in TINY_CONFIGURATIONS.items()}


def test_every_registered_model_has_a_tiny_configuration():
    assert sorted(TINY_MODELS) == papers.list_models()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_every_model_trains_and_evaluates_through_the_clis(tmp_path, name):
    size, flags = TINY_MODELS[name]
    protocol = next((flag.split("=")[1] for flag in flags if flag.startswith("--protocol=")), "paper")
    epochs = max(1, len(papers.get_schedule(name, protocol).stages))  # an epoch per stage
    run = tmp_path / "run"
    train.main(["--model", name, "--dataset", "synthetic", "--input-size", size, "--batch-size", "2",
                "--epochs", str(epochs), "--steps-per-epoch", "1", "--val-steps", "1", "--eval-split", "none", "--verbose", "0",
                "--precision", "float32",
                "--output", str(run), *flags])
    assert json.loads((run / "config.json").read_text())["model"] == name
    scored = evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "2", "--no-xla",
                            "--output", str(tmp_path / "val.json")])  # XLA's compilation has its own test (test_predict)
    assert scored["num_images"] == 2
    assert sum(map(sum, scored["confusion_matrix"])) == 2 * 64 * 64  # every label pixel, at 64x64


def test_train_then_evaluate_end_to_end(tmp_path):
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "2", "--steps-per-epoch", "3", "--output", str(run)])
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "segnet_basic" and config["input_size"] == [32, 32]
    # What was run is recorded: the schedule holds the run's size and dataset, with the paper's and why.
    assert config["schedule"]["input_size"] == [32, 32] and config["schedule"]["dataset"] == "synthetic"
    assert config["schedule"]["overrides"]["input_size"] == {"paper": [360, 480], "reason": "--input-size"}
    assert config["schedule"]["learning_rate"] == 0.1 and config["schedule"]["epochs"] == 2
    assert config["class_weights_source"].startswith("median_frequency computed")
    assert len(config["class_weights"]) == config["num_classes"]
    assert history_epochs(run) == [0, 1]
    assert (run / "logs").is_dir()
    results = json.loads((run / "results_synthetic_test.json").read_text())
    assert results["num_images"] == 200 and results["params"] == config["params"]
    assert set(results["metrics"]) >= {"pixel_accuracy", "mean_accuracy", "iou", "miou", "fwiou"}

    output = tmp_path / "val.json"
    evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "5",
                   "--output", str(output), "--save-overlays", str(tmp_path / "overlays"), "--num", "2"])
    scored = json.loads(output.read_text())
    assert scored["split"] == "val" and scored["num_images"] == 5 and scored["dataset"] == "synthetic"
    assert sum(map(sum, scored["confusion_matrix"])) == 5 * 64 * 64  # scored at the labels' 64x64
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == ["val_0000.png", "val_0001.png"]
    batched = evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "5",
                             "--batch-size", "2", "--output", str(tmp_path / "val_batched.json")])
    moved = np.abs(np.subtract(batched["confusion_matrix"], scored["confusion_matrix"])).sum() / 2
    assert moved <= 1e-3 * 5 * 64 * 64  # the same pixels, a last smaller batch included; only near-ties may flip


def test_evaluate_names_its_overlays_after_the_images(tmp_path):
    root = tmp_path / "camvid"
    write_camvid(root, [camvid_label(), camvid_label(1)])
    names = ["Seq05VD_f00000", "0001TP_008550"]  # CamVid's own names, listed out of sorted order
    for index, name in enumerate(names):
        for split_dir in ("val", "valannot"):
            (root / split_dir).mkdir(exist_ok=True)
            shutil.copy(root / split_dir.replace("val", "train") / f"f{index}.png", root / split_dir / f"{name}.png")
    (root / "val.txt").write_text("".join(f"val/{name}.png valannot/{name}.png\n" for name in names))
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", "--data-dir", str(root), "--input-size", "32x32", "--batch-size", "2",
                "--epochs", "1", "--steps-per-epoch", "1", "--eval-split", "none", "--verbose", "0", "--output", str(run)])
    overlays = tmp_path / "overlays"
    evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--output", str(tmp_path / "val.json"),
                   "--save-overlays", str(overlays), "--num", "1"])
    assert [path.name for path in overlays.iterdir()] == ["Seq05VD_f00000.png"]  # the first image of the split


def test_unet_trains_with_the_eq2_weight_map_on_isbi_files(tmp_path, monkeypatch):
    write_isbi(tmp_path / "isbi", 7)  # 2 training slices, 5 held out
    weight_map, weight_maps = runs.unet_weight_map, []
    monkeypatch.setattr(runs, "unet_weight_map", lambda *a, **k: weight_maps.append(weight_map(*a, **k)) or
                        weight_maps[-1])
    run = tmp_path / "run"
    train.main(["--model", "unet_same", "--protocol", "cpu", "--data-dir", str(tmp_path / "isbi"), "--input-size",
                "16x16", "--epochs", "1", "--eval-split", "none", "--model-option=base_filters=4", "--verbose", "0",
                "--output", str(run)])
    config = json.loads((run / "config.json").read_text())
    assert config["schedule"]["weight_map"] == [10.0, 5.0]
    assert config["class_weights_source"].startswith("median_frequency computed")
    assert len(weight_maps) >= 2  # computed for the training slices: the sample weights fit gives the loss
    with open(run / "history.csv") as f:
        assert all(np.isfinite(float(row["loss"])) for row in csv.DictReader(f))
    # The map's w_c are the class weights; the membrane row between two cells gets the border term.
    schedule = papers.get_schedule("unet_same", "cpu")
    _, info = datasets.load("isbi2012", "train", tmp_path / "isbi")
    label = membrane_label(3).astype(bool).astype(np.uint8)
    weights = runs.resolve_pixel_weights(schedule, info, config["class_weights"])(label)
    membrane_weight, cell_weight = config["class_weights"]
    np.testing.assert_allclose(weights[label == 1], cell_weight)
    np.testing.assert_allclose(weights[3], membrane_weight + 10 * np.exp(-(1 + 1) ** 2 / 50), rtol=1e-6)  # d1 = d2 = 1 px
    with pytest.raises(UserError, match="two-class boundary dataset"):
        runs.resolve_pixel_weights(schedule, datasets.get_info("synthetic"), None)

    # Scored as the 2012 challenge scores (common.isbi), and at argmax with the adapted Rand error.
    scored = evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--output",
                            str(tmp_path / "val.json")])
    challenge = scored["isbi_challenge"]
    assert challenge["slices"] == 5 and challenge["threshold_count"] == 11
    assert set(challenge["best"]) == {"rand_error", "pixel_error", "wrong_pixel_fraction", "warping_error", "v_rand",
                                      "v_info"}
    assert challenge["best"]["wrong_pixel_fraction"] <= scored["metrics"]["pixel_error"] + 1e-9  # argmax is one cut
    assert 0 <= scored["metrics"]["adapted_rand_error"] <= 1
    assert scored["summaries"]["isbi_challenge"].startswith("Rand error ")
    with pytest.raises(UserError, match="overlap-tiles"):  # trained on crops: served by tiles, not resized
        export(run / "model.keras", tmp_path / "export")


def test_precision_flag_trains_in_mixed_bfloat16_and_restores_the_global_policy(tmp_path, monkeypatch):
    """--precision mixed_bfloat16 is kept even on a CPU without bfloat16 units; there its checkpoint
    is scored in float32 with the same weights (bfloat16 would be emulated), unless loaded as trained."""
    monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: False)
    monkeypatch.setattr(console, "has_gpu", lambda: False)  # the same verdict on a machine with a GPU
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--precision",
                "mixed_bfloat16", "--eval-split", "none", "--output", str(run)])
    assert json.loads((run / "config.json").read_text())["schedule"]["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("conv1").compute_dtype == "bfloat16" and model.get_layer("conv1").kernel.dtype == "float32"
    converted = load_checkpoint(run / "model.keras")[0]
    assert checkpoints.compute_dtypes(converted) == ["float32"]
    for converted_array, trained_array in zip(converted.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(converted_array, trained_array)
    assert "bfloat16" in checkpoints.compute_dtypes(load_checkpoint(run / "model.keras", as_trained=True)[0])
    monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: True)
    assert "bfloat16" in checkpoints.compute_dtypes(load_checkpoint(run / "model.keras")[0])


def test_a_schedules_bfloat16_becomes_float32_without_bfloat16_units_and_the_run_resumes_across(tmp_path, monkeypatch,
                                                                                                 capsys):
    """SegNet-Basic's paper protocol trains in mixed_bfloat16 (its A/B passed): started on a CPU with
    bfloat16 units and resumed on one without, the run continues in float32, each sitting recorded."""
    assert papers.get_schedule("segnet_basic", "paper").precision == "mixed_bfloat16"
    schedule_precision = [flag for flag in TINY if flag not in ("--precision", "float32")]
    run = tmp_path / "run"
    flags = ["--model", "segnet_basic", *schedule_precision, "--steps-per-epoch", "1", "--val-steps", "1",
             "--eval-split", "none", "--output", str(run)]
    monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: True)
    monkeypatch.setattr(console, "has_gpu", lambda: False)  # the same verdict on a machine with a GPU
    train.main([*flags, "--epochs", "1"])
    monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: False)
    capsys.readouterr()
    train.main([*flags, "--epochs", "2"])
    assert training.NO_BFLOAT16_UNITS in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["schedule"]["precision"] == "mixed_bfloat16"  # the protocol's, unchanged
    sittings = json.loads((run / "train_time.json").read_text())["sittings"]
    assert [(s["first_epoch"], s["last_epoch"], s["precision"]) for s in sittings] == [
        (1, 1, "mixed_bfloat16"), (2, 2, "float32")]
    assert [(s["precision"], s["first_epoch"], s["last_epoch"]) for s in config["trained_precisions"]] == [
        ("mixed_bfloat16", 1, 1), ("float32", 2, 2)]
    assert history_epochs(run) == [0, 1]
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("conv1").compute_dtype == "float32"


def test_evaluate_refuses_a_dataset_with_another_class_count(tmp_path, tiny_run):
    run = tiny_run
    camvid_dir = tmp_path / "camvid"
    camvid_dir.mkdir()
    with pytest.raises(UserError, match="predicts 6 classes"):
        score(load_checkpoint(run / "model.keras")[0], "camvid", "test", camvid_dir)


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="valid models"):
        train.main(["--model", "segnet_large", *TINY, "--output", str(tmp_path)])


def test_killed_run_resumes_from_the_last_completed_epoch_to_the_uninterrupted_weights(tmp_path):
    def command(run):
        # Epochs of 25 steps (a few seconds each) leave time to kill the run inside the second, last one.
        return [sys.executable, str(REPO / "train.py"), "--model", "segnet_basic", *TINY, "--epochs", "2",
                "--steps-per-epoch", "25", "--val-steps", "2", "--eval-split", "none", "--deterministic",
                "--output", str(run)]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = tmp_path / "killed"
    process = subprocess.Popen(command(run), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (run / "history.csv").exists() and history_epochs(run):
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = history_epochs(run)
    assert killed_after == [0]
    resumed = subprocess.run(command(run), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from epoch 1 of 2" in resumed.stdout
    assert history_epochs(run) == [0, 1]

    uninterrupted = subprocess.run(command(tmp_path / "whole"), cwd=REPO, env=env, capture_output=True, text=True,
                                   timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    resumed_weights = keras.models.load_model(run / "model.keras", safe_mode=True).get_weights()
    whole_weights = keras.models.load_model(tmp_path / "whole" / "model.keras", safe_mode=True).get_weights()
    for resumed_array, whole_array in zip(resumed_weights, whole_weights, strict=True):
        np.testing.assert_array_equal(resumed_array, whole_array)


def test_a_staged_run_keeps_its_finished_stage_and_hands_its_weights_on(tmp_path, monkeypatch):
    """ENet's encoder, then the whole network (its `reference_torch7` protocol: the `reference` one, whose encoder
    stage weights its classes with its own constant, started from Torch7's draws): a run stopped in the second
    stage does not train the first again, and starts the second from the first's selected checkpoint."""
    class StoppedInTheDecoder(Exception):
        pass

    transfer, handovers = runs.transfer_weights, []

    def stop_at_the_first_handover(source, target):
        handovers.append((source.get_weights(), transfer(source, target)))
        if len(handovers) == 1:  # the first run stops before the decoder's first epoch ends
            raise StoppedInTheDecoder
        return handovers[-1][1]

    monkeypatch.setattr(runs, "transfer_weights", stop_at_the_first_handover)
    run = tmp_path / "run"
    flags = ["--model", "enet", "--protocol", "reference_torch7", *TINY, "--optimizer=sgd", "--epochs", "2",
             "--steps-per-epoch", "1", "--val-steps", "1", "--eval-split", "none", "--output", str(run)]
    with pytest.raises(StoppedInTheDecoder):
        train.main(flags)
    config = json.loads((run / "config.json").read_text())
    encoder_weights, whole = np.array(config["stage_class_weights"]["encoder"]), np.array(config["class_weights"])
    assert encoder_weights.shape == whole.shape and np.all(encoder_weights < whole)  # 1/ln(1.2 + p) < 1/ln(1.02 + p)
    assert config["schedule"]["loss_normalization"] == "weights" and config["schedule"]["adam_epsilon"] == 1e-8
    assert "stages: encoder 1 epochs" not in papers.get_schedule("enet", "reference").deviations()[-1]
    encoder_checkpoint = run / "encoder" / "model.keras"
    written = encoder_checkpoint.stat().st_mtime_ns
    train.main(flags)
    assert history_epochs(run / "encoder") == [0] and encoder_checkpoint.stat().st_mtime_ns == written
    assert history_epochs(run / "decoder") == [0] and len(handovers) == 2
    encoder = keras.models.load_model(encoder_checkpoint, compile=False, safe_mode=True)
    handed, copied = handovers[-1]
    for handed_array, selected_array in zip(handed, encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(handed_array, selected_array)
    assert set(copied) == {layer.name for layer in encoder.layers if layer.weights} - {"encoder_classifier"}
    # Each stage starts from Torch7's draws, batch-norm scales from U[0, 1] where the builder's are 1 (one SGD
    # step at 5e-4 keeps them spread): the encoder's layers in its stage, the decoder's own in the second,
    # where the encoder's come from the first stage, not from a second draw.
    decoder = keras.models.load_model(run / "decoder" / "model.keras", compile=False, safe_mode=True)

    def scales(model, layer):
        return keras.ops.convert_to_numpy(model.get_layer(layer).gamma)

    for model, layer in ((encoder, "initial_bn"), (decoder, "bottleneck5_0_main_bn")):
        assert np.std(scales(model, layer)) > 0.2, layer
    np.testing.assert_allclose(scales(decoder, "initial_bn"), scales(encoder, "initial_bn"), atol=2e-3)


def test_class_weighting_flag_computes_its_own_weights_instead_of_the_published(tmp_path):
    write_camvid(tmp_path / "camvid", [camvid_label(), camvid_label(3)])
    source, info = datasets.load("camvid", "train", tmp_path / "camvid")

    def weights(class_weighting=None):
        run = Experiment.of("segnet", tmp_path / "run", class_weighting=class_weighting)
        return runs.resolve_class_weights(run.schedule, source, info)

    published, origin = weights()
    assert origin.startswith("published median_frequency weights")
    computed, origin = weights("enet")
    assert origin == "enet computed from the camvid train split"
    assert len(computed) == len(published) == 11 and computed != published
    assert weights("none") == (None, "none")


def test_nan_loss_stops_with_the_epoch_and_a_hint(tmp_path):
    with pytest.raises(UserError, match=r"loss became (nan|inf|-inf) at epoch 1, batch \d+; .* try a lower --learning-rate"):
        train.main(["--model", "segnet_basic", *TINY, "--learning-rate", "1e30", "--epochs", "2",
                    "--steps-per-epoch", "4", "--eval-split", "none", "--output", str(tmp_path / "run")])


def test_distribute_flag_trains_under_mirrored_strategy(tmp_path, monkeypatch):
    strategies = []
    mirrored = tf.distribute.MirroredStrategy
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", lambda: strategies.append(mirrored()) or strategies[-1])
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--distribute",
                "--eval-split", "none", "--output", str(run)])
    assert history_epochs(run) == [0] and len(strategies) == 1


def test_evaluate_scores_with_and_without_the_crf_in_one_pass(tmp_path, tiny_run):
    run = tiny_run
    params = tmp_path / "crf.json"
    params.write_text(json.dumps({"best": {"bilateral_sxy": 30.0, "iterations": 2}}))
    result = evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "4", "--crf",
                            "--crf-params", str(params), "--crf-param", "bilateral_srgb=7",
                            "--output", str(tmp_path / "crf.json.out")])
    crf = result["crf"]
    assert crf["params"]["bilateral_sxy"] == 30.0 and crf["params"]["bilateral_srgb"] == 7.0
    assert crf["params"]["iterations"] == 2
    assert set(crf["metrics"]) >= {"pixel_accuracy", "miou"} and crf["seconds_per_image"] > 0
    assert crf["delta"]["miou"] == pytest.approx(crf["metrics"]["miou"] - result["metrics"]["miou"])
    assert sum(map(sum, crf["confusion_matrix"])) == 4 * 64 * 64


def test_crf_parameters_come_from_a_file_a_preset_or_the_schedule_then_single_overrides(tmp_path):
    resolved = scoring.crf_params
    scheduled = {"schedule": {"crf": {**PRESETS["fast"].to_dict(), "iterations": 3}}}
    (tmp_path / "crf.json").write_text(json.dumps({"best": {**PRESETS["deconvnet"].to_dict(), "iterations": 4}}))
    assert resolved({}) == PRESETS[DEFAULT_PRESET]
    assert resolved(scheduled).iterations == 3
    assert resolved(scheduled, preset="fast") == PRESETS["fast"]
    assert resolved({}, tmp_path / "crf.json", "fast").iterations == 4
    assert resolved({}, preset="fast", overrides=["iterations=2"]) == replace(PRESETS["fast"], iterations=2)
    with pytest.raises(UserError, match="expected KEY=VALUE with KEY one of"):
        resolved({}, overrides=["sxy=3"])


def test_crf_grid_search_writes_the_best_parameters(tmp_path, monkeypatch, tiny_run):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    monkeypatch.setattr(scoring, "CRF_GRID", {"bilateral_sxy": (10, 40), "iterations": (1,)})
    evaluate.main(["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "2",
                   "--crf-search", str(tmp_path / "best.json")])
    found = json.loads((tmp_path / "best.json").read_text())
    assert len(found["trials"]) == 2 and found["best"]["bilateral_sxy"] in (10, 40)
    assert found["best_miou"] == max(trial["miou"] for trial in found["trials"])


def test_num_classes_that_disagree_with_the_data_are_refused(tmp_path):
    with pytest.raises(UserError, match="--num-classes 11 disagrees with dataset 'synthetic', which has 6"):
        train.main(["--model", "segnet_basic", *TINY, "--num-classes", "11", "--output", str(tmp_path)])


def test_a_protocol_validating_every_few_epochs_selects_on_recomputed_statistics(tmp_path, monkeypatch):
    """SegNet-Basic's paper protocol: validation every 3 epochs and at the last, each after batch-norm
    statistics recomputed over the training images; epochs without validation log NA."""
    recompute, calls = training.recompute_batch_norm_statistics, []
    monkeypatch.setattr(training, "recompute_batch_norm_statistics",
                        lambda model, batches: calls.append(recompute(model, batches)) or calls[-1])
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "4", "--steps-per-epoch", "2", "--val-steps", "1",
                "--eval-split", "none", "--output", str(run)])
    with open(run / "history.csv") as f:
        logged = [row["val_pixel_accuracy"] for row in csv.DictReader(f)]
    assert [value == "NA" for value in logged] == [True, True, False, False]
    assert calls == [2, 2]  # two validations, each over the two training batches
    selected = json.loads((run / "model.keras.json").read_text())
    assert selected["epoch"] in (3, 4)
    (trained,) = json.loads((run / "config.json").read_text())["stages_trained"]  # what the results file keeps
    assert trained["epochs_trained"] == trained["epochs"] == 4 and trained["stopped_by"] is None
    assert trained["selected"] == selected
    assert [epoch["val_pixel_accuracy"] is None for epoch in trained["history"]] == [True, True, False, False]


def test_a_runs_stages_say_what_stopped_each_short(tmp_path):
    """The encoder stopped by patience with time left, the decoder by the run's time budget."""
    from segpapers.experiment import runs
    schedule = replace(papers.get_schedule("enet", "paper"), max_train_hours=1.0)
    for stage, epochs, seconds in (("encoder", 2, 1000.0), ("decoder", 1, 2700.0)):
        folder = tmp_path / stage
        folder.mkdir()
        (folder / "history.csv").write_text("epoch,loss\n" + "".join(f"{epoch},0.5\n" for epoch in range(epochs)))
        (folder / "train_time.json").write_text(json.dumps({"seconds": seconds}))
        (folder / "done.json").write_text(json.dumps({"stopped_early": True}))
    encoder, decoder = runs.stages_trained(schedule, tmp_path)
    assert (encoder["epochs_trained"], encoder["epochs"], encoder["stopped_by"]) == (2, 100, "patience")
    assert (decoder["epochs_trained"], decoder["stopped_by"], decoder["selected"]) == (1, "time budget", None)
    assert encoder["history"] == [{"epoch": 0.0, "loss": 0.5}, {"epoch": 1.0, "loss": 0.5}]


def test_a_run_directory_is_not_resumed_with_another_model(tmp_path, tiny_run):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    with pytest.raises(UserError, match="holds a run with other settings:\n  model: 'segnet_basic' -> 'unet_same'"):
        train.main(["--model", "unet_same", *TINY, "--epochs", "1", "--steps-per-epoch", "1",
                    "--eval-split", "none", "--output", str(run)])


def test_resuming_names_each_schedule_key_that_differs_and_accepts_fields_an_older_run_lacks(tmp_path):
    run = tmp_path / "run"
    flags = ["--model", "segnet_basic", *TINY, "--steps-per-epoch", "1", "--eval-split", "none", "--output", str(run)]
    train.main([*flags, "--epochs", "1"])
    config = json.loads((run / "config.json").read_text())
    for field in ("flip", "decayed", "bn_statistics"):  # as if written before these fields existed
        config["schedule"].pop(field)
    (run / "config.json").write_text(json.dumps(config))
    # flip keeps its default (False); decayed's default is ["kernel"] and bn_statistics' "moving", not this protocol's.
    with pytest.raises(UserError, match=r"other settings:\n  schedule.decayed: \['kernel'\] -> \['kernel', 'batch_norm'\]"
                                         r"\n  schedule.bn_statistics: 'moving' -> 'recomputed'\nresume it"):
        train.main([*flags, "--epochs", "1"])
    # The schedule's prose edited since is no other setting.
    config["schedule"].update(decayed=["kernel", "batch_norm"], bn_statistics="recomputed", notes="older notes",
                              source="an older reading of the paper")
    (run / "config.json").write_text(json.dumps(config))
    train.main([*flags, "--epochs", "1"])  # resumes: the finished run is kept


def test_more_epochs_continue_a_finished_run_and_fewer_are_refused(tmp_path, capsys):
    run = tmp_path / "run"
    flags = ["--model", "segnet_basic", *TINY, "--steps-per-epoch", "1", "--eval-split", "none", "--output", str(run)]
    train.main([*flags, "--epochs", "1"])
    train.main([*flags, "--epochs", "2"])
    assert "continuing the run to 2 epochs (it was started with 1" in capsys.readouterr().out
    assert [row["epoch"] for row in csv.DictReader((run / "history.csv").open())] == ["0", "1"]
    assert json.loads((run / "done.json").read_text())["epochs"] == 2
    with pytest.raises(UserError, match=r"schedule.epochs: 2 -> 1 \(fewer epochs than the run was started with are "
                                         r"refused: .* --epochs 2 or more continues it\)"):
        train.main([*flags, "--epochs", "1"])
    done = json.loads((run / "done.json").read_text())
    (run / "done.json").write_text(json.dumps({**done, "stopped_early": True}))  # as if patience had stopped it
    with pytest.raises(UserError, match="stopped early by its own rule after 2 epochs"):
        train.main([*flags, "--epochs", "3"])
    assert json.loads((run / "config.json").read_text())["schedule"]["epochs"] == 2  # the folder stays resumable
    assert not list((run / "backup").glob("*.bkp"))  # a finished run keeps its last state once


def test_a_foreign_config_next_to_a_checkpoint_is_refused(tmp_path, tiny_run):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    (run / "config.json").write_text(json.dumps({"model": "segnet_basic", "num_classes": "six"}))
    with pytest.raises(ValueError, match="config.json is not a run config written by train.py: .*num_classes"):
        evaluate.main(["--checkpoint", str(run / "model.keras"), "--limit", "1"])
    (run / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        evaluate.main(["--checkpoint", str(run / "model.keras"), "--limit", "1"])


def test_a_bad_flag_is_one_line_and_exit_status_2_before_any_folder_is_made(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.run(train.main, ["--model", "segnet_basic", *TINY, "--epochs", "0", "--output", str(tmp_path / "run")])
    assert exit_.value.code == 2 and not (tmp_path / "run").exists()
    assert capsys.readouterr().err == ("error: --epochs 0, --batch-size 4, --precision float32 does not fit the 'paper' protocol: "
                                       "Schedule.epochs=0 must be at least 1\n")
    with pytest.raises(UserError, match="--steps-per-epoch -1 must be at least 1"):
        train.main(["--model", "segnet_basic", *TINY, "--steps-per-epoch", "-1", "--output", str(tmp_path / "run")])


def test_evaluate_never_replaces_a_results_file_without_overwrite(tmp_path, tiny_run):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    flags = ["--checkpoint", str(run / "model.keras"), "--split", "val", "--limit", "1"]
    evaluate.main(flags)
    written = (run / "results_synthetic_val.json").read_bytes()
    with pytest.raises(UserError, match="results_synthetic_val.json exists: pass --overwrite"):
        evaluate.main([*flags, "--crf"])
    assert (run / "results_synthetic_val.json").read_bytes() == written
    assert "crf" in evaluate.main([*flags, "--crf", "--overwrite"])


def train_camvid_damaged(tmp_path, capsys, damage_after_scan):
    root = tmp_path / "camvid"
    write_camvid(root, [camvid_label(), camvid_label(1)])
    (root / "val.txt").write_text((root / "train.txt").read_text())
    image = root / "train" / "f1.png"
    if damage_after_scan:  # the scan passed it; then it changed behind the cache's back (same size and time)
        datasets.load("camvid", "train", data_dir=root)
        stat = image.stat()
        image.write_bytes(b"not a png".ljust(stat.st_size, b"\0"))
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    else:
        image.write_bytes(b"not a png")
    with pytest.raises(SystemExit) as exit_:
        cli.run(train.main, ["--model", "segnet_basic", "--data-dir", str(root), "--input-size", "32x32",
                             "--batch-size", "2", "--epochs", "1", "--eval-split", "none", "--verbose", "0",
                             "--output", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and f"{image}" in error
    return error


def test_a_corrupt_image_is_found_before_training_and_named(tmp_path, capsys):
    error = train_camvid_damaged(tmp_path, capsys, damage_after_scan=False)
    assert error.startswith("error: 1 of 2 image/label pairs cannot be used:\n  cannot decode image ")
    assert not (tmp_path / "run" / "history.csv").exists()


def test_a_corrupt_image_met_inside_the_data_pipeline_is_one_line_and_status_2(tmp_path, capsys):
    error = train_camvid_damaged(tmp_path, capsys, damage_after_scan=True)
    assert error.startswith("error: cannot decode image ") and error.count("\n") == 1


def test_symmetries_out_of_range_are_refused_by_both_clis(capsys):
    from segpapers import predict

    for parse in (evaluate.parse_args, predict.parse_args):
        with pytest.raises(SystemExit) as exit_:
            parse(["--checkpoint", "x.keras", "--symmetries", "9"])
        assert exit_.value.code == 2 and "--symmetries: 9: between 1 (the image as it is) and 8" in capsys.readouterr().err
    assert evaluate.parse_args(["--checkpoint", "x.keras", "--symmetries", "8"]).symmetries == 8
