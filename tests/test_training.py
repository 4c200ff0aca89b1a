"""Schedules, stages and the training pieces train.py composes."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from segpapers.common.schedule import Schedule, Stage
from segpapers.common.layers import BatchNormalization, PReLU
from segpapers.common import backends, console
from segpapers.common.training import (SelectedCheckpoint, TrainingClock, apply_weight_decay, learning_rate,
                             machine_precision, recompute_batch_norm_statistics, transfer_weights)
from segpapers.datasets.pipeline import fit_labels_to_output

BASE = dict(dataset="camvid", input_size=(8, 8), batch_size=2, learning_rate=0.1, source="test")


def test_stages_must_add_up_and_rescale_with_the_epochs():
    stages = (Stage("encoder", 100, {"encoder_only": True}), Stage("decoder", 200))
    schedule = Schedule(epochs=300, stages=stages, **BASE)
    with pytest.raises(ValueError, match="stages add up to 300"):
        Schedule(epochs=30, stages=stages, **BASE)
    assert [s.epochs for s in schedule.replace(epochs=3).stages] == [1, 2]
    assert [s.epochs for s in schedule.replace(epochs=2).stages] == [1, 1]
    assert schedule.replace(epochs=3).stages[0].model_options == {"encoder_only": True}
    with pytest.raises(ValueError, match="cannot cover"):
        schedule.replace(epochs=1)


def test_step_policy_decays_by_gamma_every_n_epochs():
    schedule = Schedule(epochs=30, lr_policy="step", lr_step_epochs=10, lr_gamma=0.1, **BASE)
    lr = learning_rate(schedule, steps_per_epoch=5)
    assert float(lr(49)) == pytest.approx(0.1) and float(lr(50)) == pytest.approx(0.01)
    assert float(lr(100)) == pytest.approx(0.001)


def test_weight_decay_is_coupled_l2_on_kernels_only():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones")])
    apply_weight_decay(model, 0.1)
    # 0.1 / 2 * ||w||^2 over six ones: gradient 0.1 * w, as Caffe adds to the gradient.
    assert float(sum(model.losses)) == pytest.approx(0.05 * 6)
    assert model.layers[0].bias.regularizer is None


def decay_model():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 1, kernel_initializer="ones", bias_initializer="ones", name="conv")(inputs)
    x = BatchNormalization(name="bn")(x)  # gamma ones, beta zeros
    return keras.Model(inputs, PReLU(keras.initializers.Constant(1.0), shared_axes=[1, 2], name="prelu")(x))


@pytest.mark.parametrize("decayed, expected", [
    (("kernel",), 6),  # 2x3 conv kernel of ones
    (("kernel", "batch_norm"), 6 + 3),  # + gamma (beta is zero)
    (("kernel", "bias", "batch_norm", "prelu"), 6 + 3 + 3 + 3),  # Torch: every parameter
])
def test_weight_decay_covers_the_parameter_kinds_the_schedule_names(decayed, expected):
    model = decay_model()
    apply_weight_decay(model, 0.1, decayed)
    assert float(sum(model.losses)) == pytest.approx(0.05 * expected)


def test_batch_norm_statistics_are_recomputed_as_segnets_script_averages_them():
    inputs = keras.Input((4, 5, 2))
    conv = keras.layers.Conv2D(3, 3, padding="same", name="conv")
    model = keras.Model(inputs, BatchNormalization(momentum=0.9, name="bn")(conv(inputs)))
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(2, 4, 5, 2)).astype("float32") * scale + shift,)
               for scale, shift in ((1, 0), (3, 2), (0.5, -1))]
    assert recompute_batch_norm_statistics(model, batches) == 3
    features = [keras.ops.convert_to_numpy(conv(images)) for (images,) in batches]
    m = 2 * 4 * 5  # values per channel in a batch
    np.testing.assert_allclose(model.get_layer("bn").moving_mean, np.mean([f.mean((0, 1, 2)) for f in features], 0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("bn").moving_variance,
                               np.mean([f.var((0, 1, 2)) for f in features], 0) * m / (m - 1), rtol=1e-5)
    assert model.get_layer("bn").momentum == 0.9  # restored


def test_a_protocol_records_each_change_of_the_paper_with_its_reason():
    paper = Schedule(**BASE, epochs=10)
    protocol = paper.override(epochs=(2, "short"), input_size=((4, 4), "small")).override(epochs=(3, "less short"))
    assert protocol.epochs == 3 and protocol.input_size == (4, 4)
    assert protocol.deviations() == ["epochs: 10 -> 3 (less short)", "input_size: 8x8 -> 4x4 (small)"]
    with pytest.raises(ValueError, match="every change of the paper's recipe says why"):
        paper.override(epochs=2)
    assert paper.deviations() == []


def test_transfer_weights_copies_shared_layers_by_name():
    def build(extra):
        inputs = keras.Input((4,))
        x = keras.layers.Dense(3, name="shared")(inputs)
        return keras.Model(inputs, keras.layers.Dense(extra, name="head")(x))

    source, target = build(2), build(5)
    assert transfer_weights(source, target) == ["shared"]
    np.testing.assert_array_equal(target.get_layer("shared").get_weights()[0], source.get_layer("shared").get_weights()[0])


def labels_batch(height=8, width=12):
    label = np.arange(height * width, dtype=np.int32).reshape(1, height, width)
    return tf.data.Dataset.from_tensors((np.zeros((1, height, width, 3), np.float32), label)), label


def test_fit_labels_to_output_subsamples_crops_or_refuses():
    batches, label = labels_batch()
    same = next(iter(fit_labels_to_output(batches, (8, 12), (8, 12))))[1].numpy()
    np.testing.assert_array_equal(same, label)
    quarter = next(iter(fit_labels_to_output(batches, (8, 12), (2, 3))))[1].numpy()
    np.testing.assert_array_equal(quarter, label[:, ::4, ::4])
    odd, odd_label = labels_batch(9, 12)  # ceil-mode pooling: 9 rows -> 5 -> 3
    third = next(iter(fit_labels_to_output(odd, (9, 12), (3, 3))))[1].numpy()
    np.testing.assert_array_equal(third, odd_label[:, ::4, ::4])
    cropped = next(iter(fit_labels_to_output(batches, (8, 12), (6, 8))))[1].numpy()
    np.testing.assert_array_equal(cropped, label[:, 1:7, 2:10])
    with pytest.raises(ValueError, match="cannot match labels"):
        fit_labels_to_output(batches, (8, 12), (3, 7))


def test_fit_labels_to_output_moves_pixel_weights_with_the_labels():
    batches, label = labels_batch()
    weighted = batches.map(lambda image, label: (image, label, tf.cast(label, tf.float32) / 2))
    for output_size in ((2, 3), (6, 8)):
        _, labels, weights = (t.numpy() for t in next(iter(fit_labels_to_output(weighted, (8, 12), output_size))))
        assert labels.shape[1:] == output_size
        np.testing.assert_array_equal(weights, labels / 2)


def test_training_clock_adds_up_across_sittings(tmp_path):
    (tmp_path / "t.json").write_text('{"seconds": 100.0}')  # an earlier sitting's time
    clock = TrainingClock(tmp_path / "t.json")
    clock.on_train_begin()
    clock.on_epoch_end(0)
    first = json.loads((tmp_path / "t.json").read_text())["seconds"]
    assert 100 < first < 110
    clock.on_train_begin()  # another sitting
    clock.on_epoch_end(0)
    assert json.loads((tmp_path / "t.json").read_text())["seconds"] > first


def test_training_clock_lists_each_sitting_with_its_epochs_and_dtype_policy(tmp_path):
    clock = TrainingClock(tmp_path / "t.json")
    for policy, epochs in (("mixed_bfloat16", (0, 1)), ("float32", (2,))):
        keras.mixed_precision.set_global_policy(policy)
        clock.on_train_begin()
        for epoch in epochs:
            clock.on_epoch_begin(epoch)
            clock.on_epoch_end(epoch)
    keras.mixed_precision.set_global_policy("float32")
    recorded = json.loads((tmp_path / "t.json").read_text())
    assert [(s["first_epoch"], s["last_epoch"], s["precision"]) for s in recorded["sittings"]] == [
        (1, 2, "mixed_bfloat16"), (3, 3, "float32")]
    assert recorded["seconds"] == pytest.approx(sum(s["seconds"] for s in recorded["sittings"]), abs=0.2)
    assert recorded["sittings"][0]["cpu"] == backends.cpu()
    clock.on_train_begin()  # killed after epoch 3 was logged but before it was backed up: trained again
    clock.on_epoch_begin(2)
    clock.on_epoch_end(2)
    assert [(s["first_epoch"], s["last_epoch"]) for s in json.loads((tmp_path / "t.json").read_text())["sittings"]] \
        == [(1, 2), (3, 3)]


def test_each_sitting_records_what_the_rest_of_the_machine_took_and_the_run_averages_it_by_time(tmp_path, monkeypatch):
    from segpapers.benchmarks import table
    from segpapers.common import training
    from segpapers.experiment.runs import shared_cpu_share

    shares = iter([0.5, 0.0])

    class FakeLoad:  # a first sitting beside another training, then a quiet one
        def __init__(self):
            self.share = next(shares)

        def result(self):
            return {"other_cpu_share": self.share, "quiet": self.share < 0.05, "seconds": 1.0}

    monkeypatch.setattr(training, "OtherLoad", FakeLoad)
    clock = TrainingClock(tmp_path / "train_time.json")
    for epoch in (0, 1):
        clock.on_train_begin()
        clock.on_epoch_end(epoch)
    recorded = json.loads((tmp_path / "train_time.json").read_text())
    assert [sitting["other_cpu_share"] for sitting in recorded["sittings"]] == [0.5, 0.0]
    recorded["sittings"][0]["seconds"], recorded["sittings"][1]["seconds"] = 300.0, 100.0
    (tmp_path / "train_time.json").write_text(json.dumps(recorded))
    schedule = Schedule(**BASE, epochs=2)
    assert shared_cpu_share(schedule, tmp_path) == 0.375  # (0.5 x 300 s + 0 x 100 s) / 400 s
    assert table.train_time_text({"train_wall_time_s": 2400.0, "train_other_cpu_share": 0.375}) == \
        "40 min (CPUs shared: other work took 38 %)"
    assert table.train_time_text({"train_wall_time_s": 2400.0, "train_other_cpu_share": 0.01}) == "40 min"
    assert table.train_time_text({"train_wall_time_s": 2400.0}) == "40 min"  # older runs recorded nothing
    assert shared_cpu_share(schedule, tmp_path / "elsewhere") is None


@pytest.mark.parametrize("units, asked, expected", [(False, False, "float32"), (False, True, "mixed_bfloat16"),
                                                    (True, False, "mixed_bfloat16"), (None, False, "mixed_bfloat16")])
def test_a_schedules_bfloat16_falls_back_to_float32_only_on_a_cpu_known_to_lack_bfloat16_units(
        monkeypatch, units, asked, expected):
    monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: units)
    monkeypatch.setattr(console, "has_gpu", lambda: False)  # the same verdict on a machine with a GPU
    precision, why = machine_precision(Schedule(**BASE, epochs=1, precision="mixed_bfloat16"), asked)
    assert precision == expected and (why is not None) == (expected != "mixed_bfloat16")
    assert machine_precision(Schedule(**BASE, epochs=1), asked) == ("float32", None)


def test_cpu_bfloat16_units_are_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(backends, "_cpuinfo", lambda: ("a CPU", {"avx2", "fma"}))
    monkeypatch.setattr(backends.platform, "machine", lambda: "x86_64")
    assert backends.cpu_has_bfloat16_units() is False and backends.cpu() == "a CPU"
    monkeypatch.setattr(backends, "_cpuinfo", lambda: ("a CPU", {"avx2", "avx512_bf16", "amx_bf16"}))
    assert backends.cpu_has_bfloat16_units() is True
    monkeypatch.setattr(backends, "_cpuinfo", lambda: (None, None))
    assert backends.cpu_has_bfloat16_units() is None


def test_training_clock_stops_the_run_at_its_budget(tmp_path):
    (tmp_path / "t.json").write_text('{"seconds": 100.0}')
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    clock = TrainingClock(tmp_path / "t.json", budget_s=200.0)
    clock.set_model(model)
    model.stop_training = False  # as fit sets it
    clock.on_train_begin()
    clock.on_epoch_end(0)
    assert not model.stop_training
    clock.previous = 200.0  # as if an earlier sitting had spent all of it
    clock.on_epoch_end(1)
    assert model.stop_training


def test_selected_checkpoint_stops_after_patience_epochs_without_improvement(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = SelectedCheckpoint(tmp_path / "model.keras", "val_miou", patience=3)
    checkpoint.set_model(model)
    model.stop_training = False
    checkpoint.on_epoch_end(0, {"val_miou": 0.5})
    checkpoint.on_epoch_end(1, {})  # an epoch without validation
    checkpoint.on_epoch_end(2, {"val_miou": 0.4})
    assert not model.stop_training
    resumed = SelectedCheckpoint(tmp_path / "model.keras", "val_miou", patience=3)  # the best epoch survives a kill
    resumed.set_model(model)
    resumed.on_epoch_end(3, {"val_miou": 0.5})  # not better: 3 epochs since epoch 1
    assert model.stop_training and resumed.best_epoch == 1


def test_selected_checkpoint_keeps_the_best_epoch_atomically(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = SelectedCheckpoint(tmp_path / "model.keras", "val_miou")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_miou": 0.5})
    saved = (tmp_path / "model.keras").stat().st_mtime_ns
    checkpoint.on_epoch_end(1, {"val_miou": 0.4})  # worse: kept
    assert (tmp_path / "model.keras").stat().st_mtime_ns == saved
    checkpoint.on_epoch_end(2, {"val_miou": 0.6})
    assert checkpoint.best == 0.6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "model.keras.json"]  # no temporary
    resumed = SelectedCheckpoint(tmp_path / "model.keras", "val_miou")  # a new process after a kill
    assert resumed.best == 0.6
