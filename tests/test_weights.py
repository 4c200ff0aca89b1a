import keras
import pytest

from segpapers import papers
from segpapers.common import results
from segpapers.papers import weights

# The records benchmarks.run committed: (model, protocol); each is re-scored on the full test split with
# `python evaluate.py --checkpoint <model>_<protocol> --crf` (minutes, so not here).
COMMITTED = [("enet", "compare"), ("enet", "paper"), ("enet", "reference"), ("segnet_basic", "compare"), ("segnet_basic", "paper")]


def test_the_committed_records_are_listed_under_their_models():
    assert papers.list_weights() == sorted(f"{model}_{name}" for model, name in COMMITTED)
    for model in ("enet", "segnet_basic"):
        assert papers.list_weights(model) == sorted(f"{model}_{name}" for owner, name in COMMITTED if owner == model)


@pytest.mark.parametrize("model, name", COMMITTED)
def test_a_committed_record_comes_back_with_its_numbers(model, name):
    folder = weights.WEIGHTS_DIR / f"{model}_{name}"
    record = papers.get_weights(model, name)
    written = results.read_json(folder / "record.json")
    config = results.read_json(folder / "config.json")
    assert record.path == folder / "model.keras"
    assert (record.dataset, record.split, record.command) == (written["dataset"], written["split"], written["command"])
    assert record.metrics == written["metrics"] and record.crf_metrics == written["crf_metrics"]
    assert record.num_params == config["params"]
    assert record.recipe == {"protocol": name, "source": config["schedule"]["source"]}


@pytest.mark.parametrize("model, name", COMMITTED)
def test_a_committed_record_loads_an_11_class_camvid_model(model, name):
    record = papers.get_weights(model, name)
    loaded = record.load()
    assert record.dataset == "camvid" and loaded.output_shape[-1] == 11
    assert loaded.count_params() == record.num_params


@pytest.fixture
def tiny_record(tmp_path, monkeypatch):
    """A weight record of a 3-class two-layer model, written as benchmarks.run keeps one, as the only record."""
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    folder = results.weight_record_dir(tmp_path, "segnet_basic_quick")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    results.write_json(folder / "config.json", {
        "model": "segnet_basic", "dataset": "camvid", "protocol": "quick", "num_classes": 3,
        "class_names": ["a", "b", "c"], "input_size": [8, 8], "schedule": {"source": "a test"},
        "deviations": [], "params": model.count_params()})
    results.write_json(folder / "record.json", {
        "command": "python -m benchmarks.run --model segnet_basic --protocol quick", "results": "x.json",
        "dataset": "camvid", "split": "test", "metrics": {"miou": 0.25}, "crf_metrics": None, "code_version": "x"})
    (tmp_path / "weights" / "not_a_record").mkdir()  # a folder without record.json is no record
    return folder


def test_a_record_written_as_benchmarks_run_keeps_one(tiny_record):
    assert papers.list_weights() == ["segnet_basic_quick"] and papers.list_weights("segnet") == []
    record = papers.get_weights("segnet_basic", "quick")
    assert (record.model, record.name, record.path) == ("segnet_basic", "quick", tiny_record / "model.keras")
    assert record.metrics == {"miou": 0.25} and record.crf_metrics is None and record.num_params == 12
    assert record.recipe == {"protocol": "quick", "source": "a test"}
    assert record.load().output_shape == (None, 8, 8, 3)


@pytest.mark.parametrize("model, name", [("segnet_basic", "paper"), ("segnet", "basic_quick"), ("unet", "quick")])
def test_unknown_weights_list_the_records(tiny_record, model, name):
    with pytest.raises(ValueError, match="weight records: segnet_basic_quick$"):
        papers.get_weights(model, name)


def test_resolve_checkpoint_accepts_a_file_a_record_folder_and_a_record_name(tiny_record, tmp_path):
    checkpoint = tiny_record / "model.keras"
    assert papers.resolve_checkpoint(str(checkpoint)) == checkpoint
    assert papers.resolve_checkpoint(str(tiny_record)) == checkpoint
    assert papers.resolve_checkpoint("segnet_basic_quick") == checkpoint
    assert papers.resolve_checkpoint("segnet_basic:quick") == checkpoint
    missing = tmp_path / "runs" / "model.keras"
    assert papers.resolve_checkpoint(str(missing)) == missing  # loading it says no checkpoint is there


def test_resolve_checkpoint_names_the_records_for_an_unknown_name(tiny_record):
    with pytest.raises(ValueError, match="'enet:paper' is neither .* weight records: segnet_basic_quick$"):
        papers.resolve_checkpoint("enet:paper")


def test_rescore_confirms_a_record_of_its_own_scores_and_flags_one_that_differs(tiny_run, tmp_path, monkeypatch):
    from segpapers.benchmarks import rescore, run
    from segpapers.experiment.scoring import score_checkpoint

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    config = results.read_run_config(tiny_run / "config.json")
    name = f"{config['model']}_{config['protocol']}"
    score_checkpoint(tiny_run / "model.keras", "test", tmp_path / "scores.json", verbose=False)
    run.keep_weights(tiny_run, tmp_path / "scores.json", weights.WEIGHTS_DIR / name, "a test")
    output = tmp_path / "rescore.json"
    assert rescore.main(["--output", str(output)])[name]["matches"]
    record = results.read_json(weights.WEIGHTS_DIR / name / "record.json")
    record["metrics"]["iou"][0] += 2 * rescore.TOLERANCE  # one class's score, not a headline one
    results.write_json(weights.WEIGHTS_DIR / name / "record.json", record)
    rescore.main(["--records", name, "--output", str(output)])
    (entry,) = results.read_json(output)["records"].values()
    assert not entry["matches"] and entry["largest_difference"] > rescore.TOLERANCE
    assert entry["command"] == f"python evaluate.py --checkpoint {name}" and entry["recorded"] == entry["rescored"]
