import json
import re
import zipfile

import keras
import numpy as np
import pytest

from segpapers.common.checkpoints import CheckpointError, archive_config, load_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny functional model and the .keras archive it saved."""
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(2, 3, padding="same", name="score")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    path = tmp_path_factory.mktemp("run") / "model.keras"
    model.save(path)
    return model, path


def rewritten(source, destination, edit_config=lambda config: config, drop=()):
    """A copy of the archive `source` without the members in `drop`, its config.json passed through `edit_config`."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(destination, "w") as copy:
        for member in archive.namelist():
            if member in drop:
                continue
            data = archive.read(member)
            copy.writestr(member, json.dumps(edit_config(json.loads(data))) if member == "config.json" else data)
    return destination


def raises(path, message):
    return pytest.raises(CheckpointError, match=re.escape(message.format(path=path)))


def test_good_archive_loads_and_predicts_the_same(saved):
    model, path = saved
    images = np.random.default_rng(0).random((2, 8, 8, 3), np.float32)
    np.testing.assert_allclose(load_model(path).predict(images, verbose=0), model.predict(images, verbose=0))


def test_archive_config_names_the_model_without_building_it(saved):
    config = archive_config(saved[1])
    assert (config["class_name"], config["config"]["name"]) == ("Functional", "tiny")
    assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, 8, 8, 3]


def test_errors_are_value_errors():
    assert issubclass(CheckpointError, ValueError)


def test_missing_file(tmp_path):
    with raises(tmp_path / "model.keras", "no checkpoint at {path}"):
        load_model(tmp_path / "model.keras")


def test_run_folder_points_to_its_checkpoint(saved):
    with raises(saved[1].parent, "{path} is a folder, not a checkpoint: pass " + str(saved[1])):
        load_model(saved[1].parent)


def test_saved_model_export_folder(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with raises(tmp_path, "{path} is a folder holding a SavedModel export: evaluate needs the .keras file"):
        load_model(tmp_path)


def test_random_bytes(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with raises(path, "not a .keras archive: {path}"):
        load_model(path)


def test_hdf5_file(saved, tmp_path):
    path = tmp_path / "model.h5"
    saved[0].save(path)  # Keras 2's format, which Keras 3 still writes
    with raises(path, "{path} is an HDF5 file, not a .keras archive: Keras 3 saves .keras"):
        load_model(path)


def test_truncated_archive(saved, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(saved[1].read_bytes()[:-100])
    with raises(path, "truncated or corrupt .keras archive: {path} (its zip directory is missing or damaged)"):
        load_model(path)


def test_corrupt_member(saved, tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(saved[1].read_bytes().replace(b'"tiny"', b'"tinx"', 1))  # same length: only the CRC tells
    with raises(path, "truncated or corrupt .keras archive: {path} (config.json fails its CRC check)"):
        load_model(path)


def test_zip_without_config(saved, tmp_path):
    path = rewritten(saved[1], tmp_path / "model.keras", drop=("config.json",))
    with raises(path, "{path} is a zip but not a .keras archive (missing config.json)"):
        load_model(path)


def test_archive_under_another_name(saved, tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(saved[1].read_bytes())
    with raises(path, "{path} is a .keras archive under another name"):
        load_model(path)


def test_unknown_layer_class(saved, tmp_path):
    def unregistered_conv(config):  # as if saved by code whose custom layer this code lacks
        config["config"]["layers"][1].update(module="papers.mystery", class_name="Mystery")
        return config

    path = rewritten(saved[1], tmp_path / "model.keras", unregistered_conv)
    with raises(path, 'the Functional model "tiny" with input (None, 8, 8, 3) in {path} does not match this '
                      "code's model definitions (load it with the code that saved it): Could not locate class "
                      "'Mystery'."):
        load_model(path)


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras' aside on the same mismatch
def test_weights_that_do_not_fit_the_config(saved, tmp_path):
    def widen_conv(config):
        config["config"]["layers"][1]["config"]["filters"] = 5
        return config

    path = rewritten(saved[1], tmp_path / "model.keras", widen_conv)
    with raises(path, "{path} does not match this code's model definitions") as error:
        load_model(path)
    assert "variable.shape=(3, 3, 3, 5), Received: value.shape=(3, 3, 3, 2)" in str(error.value)
