"""train.py and evaluate.py end to end on the embedded synthetic dataset, with tiny shapes."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import evaluate
import train

REPO = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--input-size", "32x32", "--batch-size", "4", "--verbose", "0"]


def history_epochs(run):
    with open(run / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_train_then_evaluate_end_to_end(tmp_path):
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "2", "--steps-per-epoch", "3", "--output", str(run)])
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "segnet_basic" and config["input_size"] == [32, 32]
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


def test_evaluate_refuses_a_dataset_with_another_class_count(tmp_path):
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "1", "--steps-per-epoch", "1",
                "--eval-split", "none", "--output", str(run)])
    camvid_dir = tmp_path / "camvid"
    camvid_dir.mkdir()
    with pytest.raises(ValueError, match="predicts 6 classes"):
        evaluate.evaluate(evaluate.load_checkpoint(run / "model.keras")[0], "camvid", "test", camvid_dir)


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="valid models"):
        train.main(["--model", "segnet_large", *TINY, "--output", str(tmp_path)])


def test_killed_run_resumes_from_the_last_completed_epoch(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, str(REPO / "train.py"), "--model", "segnet_basic", *TINY, "--epochs", "3",
               "--steps-per-epoch", "6", "--eval-split", "none", "--output", str(run)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (run / "history.csv").exists() and history_epochs(run):
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = history_epochs(run)
    assert killed_after and killed_after[-1] < 2
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)
    epochs = history_epochs(run)
    assert epochs == killed_after + list(range(killed_after[-1] + 1, 3))
    assert (run / "model.keras").exists()


def test_nan_loss_stops_with_the_epoch_and_a_hint(tmp_path):
    with pytest.raises(SystemExit, match=r"loss became (nan|inf|-inf) at epoch 1, batch \d+; try a lower --learning-rate"):
        train.main(["--model", "segnet_basic", *TINY, "--learning-rate", "1e30", "--epochs", "2",
                    "--steps-per-epoch", "4", "--eval-split", "none", "--output", str(tmp_path / "run")])


def test_distribute_flag_trains_under_mirrored_strategy(tmp_path):
    run = tmp_path / "run"
    train.main(["--model", "segnet_basic", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--distribute",
                "--eval-split", "none", "--output", str(run)])
    assert history_epochs(run) == [0]
