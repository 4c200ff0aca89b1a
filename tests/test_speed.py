"""benchmarks.speed end to end at a tiny size, and its section of BENCHMARKS.md."""
import importlib.util
import itertools
import json

import pytest

from segpapers.benchmarks import profile, speed, table
from segpapers.experiment.inference import XLA_FASTER
from segpapers.papers.comparison import MODELS as COMPARED
from tests.paths import REPO


def test_speed_command_measures_a_model_and_checks_the_targets(tmp_path):
    output = tmp_path / "speed.json"
    # U-Net at 32x32 fails in its child (no valid tile size): recorded as its row, not fatal to the others.
    record = speed.main(["--models", "segnet_basic", "unet", "--precisions", "float32", "--xla-models", "segnet_basic",
                         "--input-size", "32", "32", "--repeats", "1", "--rounds", "1", "--no-torch", "--peak-size", "256",
                         "--backends", *([] if importlib.util.find_spec("jax") is None else ["jax"]),
                         "--camvid-dir", str(tmp_path / "no_camvid"), "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(record))
    assert record["peak"]["conv3x3_float32_gflops_per_s"] > 0
    row, xla, unet = record["keras"]
    assert "not a valid tile size" in unet["error"] and "failed: ValueError" in table.speed_section(record)
    assert "error" not in xla and (row["xla"], xla["xla"]) == (False, True)
    assert row["model"] == "segnet_basic" and row["input_size"] == [32, 32] and row["train_batch"] == 12
    assert row["train_ms_per_image"] > 0 and row["infer_ms_per_image"] > 0 and row["peak_rss_gib"] > 0.1
    assert len(row["step_seconds"]) == 2 + 1  # warm-up steps, then the timed one
    # what the rest of the machine took meanwhile, per row and for the CRF (common.machine_load)
    assert 0 <= row["other_cpu_share"] <= 1 and "quiet" in row and 0 <= record["crf"]["other_cpu_share"] <= 1
    assert record["pipeline"] is None  # no CamVid files
    checks = {check["target"]: check for check in record["targets"]}
    assert checks["segnet_basic_train_ms_per_image"]["value"] == row["train_ms_per_image"]  # not the XLA row's
    assert checks["crf_seconds_per_image"]["threshold"] == speed.TARGETS["crf_seconds_per_image"]

    section = table.speed_section(record)
    assert f"| segnet_basic | float32 | 32x32 | 12 (schedule 12) | {row['train_ms_per_image']:.0f} |" in section
    assert "| segnet_basic | float32 + XLA | 32x32 |" in section
    for under_jax in record["backends"]:  # the same step and inference, in a process under Keras' JAX backend
        assert under_jax["backend"] == under_jax["environment"]["keras_backend"] == "jax"
        assert under_jax["train_ms_per_image"] > 0 and under_jax["infer_ms_per_image"] > 0
        assert f"| segnet_basic | tensorflow | {row['train_ms_per_image']:.0f} |" in section
        assert f"| segnet_basic | jax {under_jax['environment']['jax']} | {under_jax['train_ms_per_image']:.0f} |" in section


def test_a_models_children_are_measured_in_interleaved_rounds_and_report_their_medians(monkeypatch):
    times = {"keras": [300.0, 100.0, 200.0], "torch_eager": [150.0, 100.0, 400.0]}
    calls = []

    def fake_child(kind, *arguments, backend=None):
        calls.append(kind)
        value = times[kind][calls.count(kind) - 1]
        return {"train_ms_per_image": value, "infer_ms_per_image": value / 2, "peak_rss_gib": float(len(calls))}

    monkeypatch.setattr(speed, "run_child", fake_child)
    rows = speed.measured_in_rounds({"keras": ({"model": "enet", "precision": "float32"}, ("keras",), {}),
                                     "torch": ({"model": "enet", "framework": "torch_eager"}, ("torch_eager",), {})}, 3)
    assert calls == ["keras", "torch_eager"] * 3  # A, B, A, B, A, B
    keras_row, torch_row = rows["keras"], rows["torch"]
    assert keras_row["train_ms_per_image"] == 200.0 and keras_row["train_ms_per_image_rounds"] == times["keras"]
    assert keras_row["infer_ms_per_image"] == 100.0 and keras_row["peak_rss_gib"] == 5.0 and keras_row["rounds"] == 3
    assert table.timing(torch_row, "train_ms_per_image") == "150 (100-400)"
    # The ratio is of the medians; its range that of the rounds' paired ratios.
    run = {"command": "python -m benchmarks.speed", "train_batch": 10, "input_size": [360, 480]}
    checks = speed.check_targets([{**keras_row, **run}], [{**torch_row, **run}], None, {"presets": {}})
    (ratio,) = [check for check in checks if check["detail"] == "enet train, Keras float32 vs torch_eager"]
    assert ratio["value"] == 200.0 / 150.0 and ratio["range"] == [0.5, 2.0]

    # Each round says what the rest of the machine took while it ran: a row is quiet when every round was.
    shares = iter([0.01, 0.30, 0.02, 0.0, 0.01, 0.04])
    monkeypatch.setattr(speed, "run_child", lambda *arguments, **options: {
        "train_ms_per_image": 1.0, "peak_rss_gib": 1.0, "other_cpu_share": next(shares)})
    rows = speed.measured_in_rounds({"keras": ({"model": "enet", "precision": "float32"}, ("keras",), {}),
                                     "torch": ({"model": "enet", "framework": "torch_eager"}, ("torch_eager",), {})}, 3)
    assert (rows["keras"]["other_cpu_share"], rows["keras"]["quiet"]) == (0.02, True)
    assert (rows["torch"]["other_cpu_share"], rows["torch"]["quiet"]) == (0.30, False)
    line = "".join(table.quietness_line({"keras": [rows["keras"], {"model": "unet", "precision": "float32"}],
                                         "torch": [rows["torch"]]}))
    assert "quiet (the rest of the machine under 5 % of the CPUs' time in every round): enet float32;" in line
    assert "NOT quiet" in line and "enet torch_eager (30 %)" in line
    assert "not recorded for 1 other row (measured before runs recorded it)." in line


    # A child that failed in any round is reported failed.
    outcomes = iter([{"train_ms_per_image": 1.0, "peak_rss_gib": 1.0}, {"error": "killed"},
                     {"train_ms_per_image": 1.0, "peak_rss_gib": 1.0}])
    monkeypatch.setattr(speed, "run_child", lambda *arguments, **options: next(outcomes))
    assert speed.measured_in_rounds({"torch": ({"model": "enet"}, ("torch_eager",), {})}, 3) == {
        "torch": {"model": "enet", "error": "killed"}}

    # Nothing timed has no median: the command refuses before measuring anything.
    for flag in ("--rounds", "--repeats"):
        with pytest.raises(SystemExit):
            speed.main(["--models", "enet", flag, "0"])


def test_a_backend_row_sits_beside_tensorflow_only_when_one_run_measured_both():
    timed = {"train_ms_per_image": 100.0, "infer_ms_per_image": 20.0, "peak_rss_gib": 1.0}
    tensorflow = {"model": "enet", "precision": "float32", **timed, "command": "python -m benchmarks.speed --update"}
    jax = {"model": "enet", "backend": "jax", **timed, "command": "python -m benchmarks.speed"}
    assert "| enet | tensorflow |" not in "\n".join(table.backend_lines({"keras": [tensorflow], "backends": [jax]}))
    same_run = {**jax, "command": tensorflow["command"]}
    assert "| enet | tensorflow |" in "\n".join(table.backend_lines({"keras": [tensorflow], "backends": [same_run]}))


def fake_measurements(monkeypatch, child, conv_peaks=itertools.repeat(1.0)):
    """speed.main's measuring faked: each child's by `child`, the float32 convolution peak by the next of
    `conv_peaks` (bfloat16's twice that), the CRF's by one preset's time."""
    monkeypatch.setattr(speed, "run_child", child)
    monkeypatch.setattr(speed, "measure_peak", lambda repeats, size: {
        "matmul_float32_gflops_per_s": 1.0, "matmul_bfloat16_gflops_per_s": 1.0,
        "conv3x3_float32_gflops_per_s": (peak := next(conv_peaks)), "conv3x3_bfloat16_gflops_per_s": 2 * peak})
    monkeypatch.setattr("segpapers.benchmarks.crf_speed.measure", lambda *args, **kwargs: {
        "size": [32, 32], "presets": {"fast": {"seconds_median": 0.1, "params": {"iterations": 5}}}})


def test_update_replaces_only_the_remeasured_rows(tmp_path, monkeypatch):
    # The bookkeeping of --update, with each child's measurement and the peak faked: the measuring
    # itself is the first test's.
    measured = iter(range(1, 100))

    def fake_child(kind, *arguments, backend=None):
        step = float(next(measured))
        return {"input_size": [32, 32], "train_batch": 2, "schedule_batch": 2, "train_ms_per_image": step,
                "train_gflops_per_s": 1.0, "infer_ms_per_image": step, "peak_rss_gib": 0.5, "step_seconds": [step]}

    fake_measurements(monkeypatch, fake_child, conv_peaks=iter([100.0, 80.0]))
    output = tmp_path / "speed.json"
    common = ["--precisions", "float32", "--xla-models", "--no-torch", "--camvid-dir", str(tmp_path),
              "--output", str(output)]
    first = speed.main(["--models", "segnet_basic", "segnet", *common])
    second = speed.main(["--models", "segnet", "--update", *common])
    rows = {row["model"]: row for row in second["keras"]}
    assert rows["segnet_basic"] == first["keras"][0]
    assert rows["segnet"]["step_seconds"] != first["keras"][1]["step_seconds"]
    assert second["command"].count("python -m benchmarks.speed") == 2
    assert rows["segnet"]["cpu"] == rows["segnet_basic"]["cpu"] == second["environment"]["cpu"]
    # each row keeps the peak of the run that measured it (the machine's speed drifts between runs)
    assert rows["segnet_basic"]["conv_peak_gflops_per_s"] == speed.conv_peaks(first["peak"]) == {
        "float32": 100.0, "bfloat16": 200.0}
    assert rows["segnet"]["conv_peak_gflops_per_s"] == speed.conv_peaks(second["peak"])
    section = table.speed_section(second)  # by model, not by when each row was measured
    assert section.index("| segnet | float32 |") < section.index("| segnet_basic | float32 |")


def test_a_share_of_the_peak_is_of_the_peak_its_row_was_measured_against():
    # not the file's latest peak: a later --update run may have met a slower moment of the machine
    row = {"model": "segnet", "precision": "mixed_bfloat16", "train_ms_per_image": 500, "train_gflops_per_s": 300.0,
           "train_batch": 4, "input_size": [360, 480], "conv_peak_gflops_per_s": {"float32": 200.0, "bfloat16": 900.0}}
    (check,) = [check for check in speed.check_targets([row], [], None, {"presets": {}})
                if check["target"] == "vgg_train_fraction_of_fp32_conv_peak"]
    assert check["value"] == 1.5


def test_the_section_says_which_rows_each_run_measured():
    def row(model, float32, precision="float32"):
        return {"model": model, "precision": precision,
                "conv_peak_gflops_per_s": {"float32": float32, "bfloat16": 4 * float32}}

    assert table.peaks_by_run({"keras": [row("enet", 300.0), row("unet", 300.0)]}) == ""  # one run
    text = table.peaks_by_run({"keras": [row("enet", 300.0), row("unet", 300.0), row("enet", 250.0, "mixed_bfloat16")]})
    assert "enet float32, unet: 300 float32, 1200 bfloat16; enet mixed_bfloat16: 250 float32, 1000 bfloat16." in text
    assert "CPU" not in text  # no row names one
    # a run on another machine kind, merged by --update: each run names its CPU where its rows record it
    text = table.peaks_by_run({"keras": [row("enet", 300.0), {**row("unet", 100.0), "cpu": "AMD EPYC"}]})
    assert "enet: 300 float32, 1200 bfloat16; unet: 100 float32, 400 bfloat16 on AMD EPYC." in text
    assert "compare only with their own CPU's" in text


def test_bfloat16_speedups_are_computed_from_the_rows():
    def row(model, precision, train, infer):
        return {"model": model, "precision": precision, "train_ms_per_image": train, "infer_ms_per_image": infer}

    assert table.bfloat16_summary([row("unet", "float32", 400, 100)]) == ""  # nothing to compare
    rows = [row("unet", "float32", 400, 100), row("unet", "mixed_bfloat16", 100, 50),
            row("enet", "float32", 200, 90), row("enet", "mixed_bfloat16", 220, 30),
            row("segnet", "float32", 500, 100), row("segnet", "mixed_bfloat16", 250, 100)]
    assert table.bfloat16_summary(rows) == ("mixed_bfloat16 against float32 (the rows above without XLA): training "
                                            "2.0-4.0x faster, not faster for enet; inference 2.0-3.0x faster, "
                                            "not faster for segnet.")
    rows[3]["command"] = "python -m benchmarks.speed --models enet --precisions mixed_bfloat16 --update"
    assert table.bfloat16_summary(rows) == ("mixed_bfloat16 against float32 (the rows above without XLA): training "
                                            "2.0-4.0x faster; inference 2.0x faster, not faster for segnet. "
                                            "Not compared: enet, whose precisions were measured by different runs.")
    assert table.bfloat16_summary(rows[2:4]) == ("Not compared: enet, whose precisions were measured by different "
                                                 "runs.")


def test_keras_and_pytorch_are_compared_only_within_one_run():
    keras_row = {"model": "segnet_basic", "precision": "float32", "train_ms_per_image": 200, "infer_ms_per_image": 90,
                 "train_batch": 10, "input_size": [360, 480], "command": "python -m benchmarks.speed"}
    torch_row = {"model": "segnet_basic", "framework": "torch_eager", "train_ms_per_image": 100,
                 "infer_ms_per_image": 100}
    crf = {"presets": {}}
    same_run = speed.check_targets([keras_row], [{**torch_row, "command": keras_row["command"]}], None, crf)
    later_run = speed.check_targets([keras_row], [{**torch_row, "command": "python -m benchmarks.speed --update"}],
                                    None, crf)
    assert [check["target"] for check in same_run].count("keras_over_torch_ratio") == 2
    assert "keras_over_torch_ratio" not in [check["target"] for check in later_run]


def test_profile_splits_an_inference_by_op_type(tmp_path):
    output = tmp_path / "profile.json"
    record = profile.main(["--model", "segnet_basic", "--inference", "--input-size", "32", "32", "--steps", "1",
                           "--logdir", str(tmp_path / "trace"), "--output", str(output)])
    assert json.loads(output.read_text()) == json.loads(json.dumps(record))
    shares = {row["op"]: row["share"] for row in record["ops"]}
    assert abs(sum(shares.values()) - 1) < 1e-6
    assert any("Conv2D" in op for op in shares) and not any("Backprop" in op for op in shares)
    assert 0 <= record["other_cpu_share"] <= 1 and "quiet" in record
    assert "segnet_basic's batch-1 inference (float32, batch 1, 32x32" in table.profile_section(record)


def test_targets_compare_like_with_like():
    def keras(model, precision, xla, train, infer):
        return {"model": model, "precision": precision, "xla": xla, "train_ms_per_image": train,
                "infer_ms_per_image": infer, "train_batch": 10, "input_size": [360, 480], "train_gflops_per_s": 1.0}

    rows = [keras(model, *figures) for model in ("enet", "segnet_basic")
            for figures in (("float32", False, 200, 90), ("float32", True, 300, 50), ("mixed_bfloat16", False, 140, 80))]
    torch_rows = [{"model": model, "framework": "torch_eager", "train_ms_per_image": 100, "infer_ms_per_image": 100}
                  for model in ("enet", "segnet_basic")]
    checks = speed.check_targets(rows, torch_rows, None, {"presets": {}})
    by_detail = {check["detail"]: check["value"] for check in checks}
    assert by_detail["mixed_bfloat16, batch 10, 360x480"] == 140  # the fastest precision train.py runs
    assert by_detail["enet train, Keras float32 vs torch_eager"] == 2.0  # float32 against the float32 twin
    # Inference on evaluate.py's default path for each model: XLA for ENet, TensorFlow's graph for SegNet-Basic.
    assert by_detail["enet infer, Keras float32 + XLA vs torch_eager"] == 0.5
    assert by_detail["segnet_basic infer, Keras float32 vs torch_eager"] == 0.9


def test_the_default_inference_path_is_the_faster_one_measured():
    """XLA_FASTER (evaluate.py's and predict.py's default) against speed.json: for every model whose
    float32 inference one run measured with and without XLA, XLA is the default exactly where it was faster."""
    record = json.loads((REPO / "results" / "benchmarks" / "speed.json").read_text())
    measured = {}
    for row in record["keras"]:
        if row["precision"] == "float32" and "error" not in row:
            measured.setdefault((row["model"], row.get("command")), {})[row.get("xla", False)] = row["infer_ms_per_image"]
    faster_with_xla = {model: times[True] < times[False] for (model, _), times in measured.items() if len(times) == 2}
    assert len(faster_with_xla) >= 3
    assert {model for model, faster in faster_with_xla.items() if faster} == XLA_FASTER & set(faster_with_xla)


@pytest.mark.slow  # six runtimes, four exports: a minute and a half on two busy cores
def test_export_rows_time_keras_and_each_runtime_and_are_recorded(tmp_path, monkeypatch):
    for name in ("tf2onnx", "onnxruntime", "ai_edge_litert"):
        pytest.importorskip(name, reason="the export rows need the `export` extra")
    measured = speed.run_child("exports", "--model", "segnet_basic", "--repeats", "1", "--input-size", "32", "32")
    assert "error" not in measured, measured
    rows = {row["runtime"]: row for row in measured["rows"]}
    assert list(rows) == ["keras", "keras_xla", "onnxruntime", "litert", "litert_int8", "litert_dynamic"]
    assert all(row["infer_ms_per_image"] > 0 and row["input_size"] == [32, 32] and row["batch"] == 1
               for row in rows.values())
    assert [rows[runtime]["precision"] for runtime in ("keras", "litert", "litert_int8", "litert_dynamic")] == [
        "float32", "float32", "int8", "dynamic"]

    # Into the record: the command's other children and the peak faked, as in the --update test.
    keras_row = {"input_size": [32, 32], "train_batch": 2, "schedule_batch": 2, "train_ms_per_image": 1.0,
                 "train_gflops_per_s": 1.0, "infer_ms_per_image": 1.0, "peak_rss_gib": 0.5, "step_seconds": [1.0]}
    fake_measurements(monkeypatch, lambda kind, *arguments, backend=None: measured if kind == "exports" else keras_row)
    record = speed.main(["--models", "segnet_basic", "--precisions", "float32", "--xla-models", "--no-torch",
                         "--export-models", "segnet_basic", "--camvid-dir", str(tmp_path),
                         "--output", str(tmp_path / "speed.json")])
    assert [row["runtime"] for row in record["exports"]] == list(rows)
    assert all("--export-models segnet_basic" in row["command"] for row in record["exports"])


def test_the_comparison_run_times_only_its_models_in_its_precision(tmp_path, monkeypatch):
    # What `--protocol compare` asks of the children, with their measurements faked
    children = []

    def fake_child(kind, *arguments, backend=None):
        children.append((kind, *arguments, backend))
        return {"input_size": [224, 288], "train_batch": 4, "schedule_batch": 4, "train_ms_per_image": 1.0,
                "train_gflops_per_s": 1.0, "infer_ms_per_image": 1.0, "peak_rss_gib": 0.5, "step_seconds": [1.0]}

    fake_measurements(monkeypatch, fake_child)
    record = speed.main(["--protocol", "compare", "--rounds", "1", "--camvid-dir", str(tmp_path),
                         "--output", str(tmp_path / "speed_compare.json")])
    # one Keras child per compared model: no PyTorch twins, other backends, exports or XLA variants
    assert [child[0] for child in children] == ["keras"] * len(COMPARED)
    assert not any("--xla" in child or child[-1] for child in children)
    assert [row["model"] for row in record["keras"]] == list(COMPARED)
    assert all(row["precision"] == "float32" and row["protocol"] == "compare" for row in record["keras"])


def test_retarget_rechecks_the_targets_of_the_recorded_rows_without_measuring(tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "run_child", lambda *arguments, **options: pytest.fail("measured"))
    monkeypatch.setattr(speed, "measure_peak", lambda *arguments, **options: pytest.fail("measured"))
    run = {"command": "python -m benchmarks.speed", "train_batch": 7, "input_size": [360, 480]}
    keras_rows = [{"model": "segnet_basic", "precision": "float32", "xla": xla, "train_ms_per_image": 1000.0,
                   "infer_ms_per_image": infer, **run} for xla, infer in ((False, 300.0), (True, 450.0))]
    torch_rows = [{"model": "segnet_basic", "framework": "torch_eager", "train_ms_per_image": 1000.0,
                   "infer_ms_per_image": 400.0, **run}]
    output = tmp_path / "speed.json"
    output.write_text(json.dumps({"keras": keras_rows, "torch": torch_rows, "pipeline": None, "crf": {"presets": {}},
                                  "targets": [], "command": run["command"]}))
    record = speed.main(["--retarget", "--output", str(output)])
    assert json.loads(output.read_text()) == record and record["keras"] == keras_rows
    (infer,) = [check for check in record["targets"] if " infer" in check["detail"]]
    assert infer["detail"] == "segnet_basic infer, Keras float32 vs torch_eager" and infer["value"] == 0.75
