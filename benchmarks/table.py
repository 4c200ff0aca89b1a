"""Writes BENCHMARKS.md and its plot from the results files: reported vs reproduced, with cost.

    python -m benchmarks.table [--results-dir results] [--output BENCHMARKS.md]

Every number in the table comes from a file: reproduced metrics, timing and deviations from the
results JSON that `evaluate.py` / `benchmarks.run` wrote (`results/<model>_<protocol>.json`),
reported numbers from the papers' `REPORTED` records, parameters and GFLOPs of models not run yet
from `results/model_summary.json` (`python -m papers.summary --json`). Models without a results
file still get a row with the paper's number.
"""
import argparse
import importlib
import inspect
import math
from pathlib import Path

import segpapers.common.console  # noqa: F401 -- before any import of TensorFlow: its start is quiet on a CPU machine
from segpapers import papers
from segpapers.common import results
from segpapers.common.crf import DEFAULT_PRESET, PRESETS
from segpapers.common.flops import count_flops
from segpapers.common.machine_load import QUIET_SHARE
from segpapers.common.schedule import deviation_lines, schedule_differences, without_prose
from segpapers.common.training import NO_BFLOAT16_UNITS
from segpapers.experiment import sweep
from segpapers.papers import comparison

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data"  # the datasets this machine has (benchmarks.run's --data-root)
SUMMARY_KEYS = ("pixel_accuracy", "mean_accuracy", "miou")
SHORT = {"pixel_accuracy": "G", "mean_accuracy": "C", "miou": "mIoU", "rand_error": "Rand error",
         "pixel_error": "pixel error", "warping_error": "warping error"}
# Decimals in the gap section: percentages to 0.1, error fractions to 4, the warping error's to 6 (4 would
# round the paper's 0.000353 away).
DECIMALS = {**dict.fromkeys(SUMMARY_KEYS, 1), "warping_error": 6}
MONITORED = {"val_miou": "val mIoU", "val_pixel_accuracy": "val G"}  # selection metrics a progress record names


COMPARISON = comparison.PROTOCOL  # the architecture comparison's protocol
COMPARISON_SPEED = REPO / "results" / "benchmarks" / f"speed_{COMPARISON}.json"  # its benchmarks.speed run


def load_runs(results_dir, compared=False):
    """Results files written by evaluate.py (they carry `metrics` and `train_config`), by model: the
    papers' recipes and reduced budgets, or with `compared` the comparison's runs. A model's CamVid
    `cpu` run is retired from the table once its comparison run exists."""
    runs = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        data = results.read_json(path)
        if isinstance(data, dict) and "metrics" in data and "train_config" in data:
            data = results.with_headline(data)
            if (data["train_config"].get("protocol") == COMPARISON) == compared:
                runs.setdefault(data["train_config"].get("model", data["model"]), []).append((path, data))
    if not compared:
        comparison_runs = load_runs(results_dir, compared=True)
        runs = {name: [(path, data) for path, data in entries if not (
                    name in comparison_runs and data["dataset"] == comparison.RECIPE.dataset and data["train_config"].get("protocol") == "cpu")]
                for name, entries in runs.items()}
    return {name: entries for name, entries in runs.items() if entries}


def markdown_table(titles, rows):
    """A markdown table: a header of `titles`, one line per row of cells ("|" in a cell becomes "/")."""
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    return lines + ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows]


def table_of(columns, rows):
    """`markdown_table` of dict rows, with `columns` as (key, title) pairs."""
    return markdown_table([title for _, title in columns], [[row[key] for key, _ in columns] for row in rows])


def percent(value):
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def scores(section):
    """A results section's (a results file, or its "crf" part) scores in one cell: the summaries of the
    scorers beyond the confusion matrix where the dataset has them (ISBI's challenge), else G / C / mIoU."""
    extra = [summary for key, summary in section["summaries"].items() if key != "metrics"]
    return "; ".join(extra) or " / ".join(percent(section["metrics"].get(key)) for key in SUMMARY_KEYS)


def crf_change(data):
    """The CRF's change of the run's primary score (mIoU, or the challenge's Rand error); accuracies and
    IoUs in percent, errors as fractions, as the papers print them."""
    key = data["primary"]
    change = data["crf"]["headline"][key] - data["headline"][key]
    return (f"{100 * change:+.1f}" if key in SUMMARY_KEYS else f"{change:+.4f}") + f" {SHORT.get(key, key)}"


def reported_on(name, dataset):
    """The paper's reported records for `name` on `dataset`."""
    return [record for record in papers.get_reported(name) if record.dataset == dataset]


def reported_cell(name, dataset):
    records = reported_on(name, dataset) or list(papers.get_reported(name))
    if not records:
        return "—"
    record = records[0]
    values = " / ".join(f"{record.metrics[key]:g}" if key in record.metrics else "—" for key in SUMMARY_KEYS)
    if not any(key in record.metrics for key in SUMMARY_KEYS):
        values = ", ".join(f"{key} {value:g}" for key, value in record.metrics.items())
    return f"{values} ({record.source})"


def evaluated_gflops(name, data):
    """GFLOPs at the evaluated input size: from the results file, else counted on the rebuilt model."""
    if data.get("gflops"):
        return data["gflops"]
    return gflops_at(name, data["train_config"], data["input_size"])


def gflops_at(name, config, input_size):
    """GFLOPs of the run's model (its classes and options) rebuilt at `input_size`."""
    model = papers.build_model(name, config["num_classes"], (*input_size, 3), **config.get("model_options", {}))
    return count_flops(model) / 1e9


def scored_size_gflops(name, config):
    """GFLOPs at the comparison's scored size, or at the smallest size above it whose sides the model's
    poolings accept (U-Net's: multiples of 16; 360x480 becomes 368x480, as a padded input would), named."""
    sizes = dict.fromkeys(tuple(-(-side // multiple) * multiple for side in comparison.SCORED_SIZE)
                          for multiple in (1, 2, 4, 8, 16, 32))  # each size once: 360x480 is a multiple of 8
    for size in sizes:
        try:
            gflops = gflops_at(name, config, size)
        except ValueError:
            continue
        return f"{gflops:.1f}" + ("" if size == comparison.SCORED_SIZE else f" (at {size[0]}x{size[1]})")
    raise ValueError(f"{name} builds at no size near {comparison.SCORED_SIZE}")


def described_schedule(name, config):
    """The schedule (dict) whose prose (notes, override reasons) describes a run: the current one, whose
    prose is kept up to date in papers/, when the run followed it, every setting equal; else the one the
    run recorded."""
    recorded, protocol = config["schedule"], config.get("protocol")
    if protocol in papers.list_protocols(name):
        current = papers.get_schedule(name, protocol).to_dict()
        if not schedule_differences(without_prose(recorded), without_prose(current)):
            return current
    return recorded


def what_was_cut(name, config):
    """A run's departures from the paper: model deviations, the protocol's overrides of the paper's recipe
    (each with its reason) and the protocol's notes."""
    schedule = described_schedule(name, config)
    return "; ".join(config.get("deviations", []) + deviation_lines(schedule) + precision_line(config)
                     + [schedule.get("notes", "")]).strip("; ")


def precision_line(config):
    """Where a run trained in other dtype policies than its schedule's, which epochs in which: [] otherwise.
    The only way a sitting trains in another policy is `machine_precision`'s fallback."""
    spans = config.get("trained_precisions", [])
    if all(span["precision"] == config["schedule"].get("precision", "float32") for span in spans):
        return []
    staged = len({span["stage"] for span in spans}) > 1
    def epochs(span):
        first, last = span["first_epoch"], span["last_epoch"]
        return f"epoch {first}" if first == last else f"epochs {first}-{last}"

    text = ", ".join(f"{span['precision']} ({span['stage'] + ' ' if staged else ''}{epochs(span)})" for span in spans)
    return [f"trained in {text}: float32 in the sittings where {NO_BFLOAT16_UNITS}"]


def stopped_short(config):
    """The stages a run stopped before their scheduled epochs, as (stage, epochs trained, epochs, what stopped
    it). Runs written before `stages_trained` was recorded: from their sittings' epochs and the time budget."""
    schedule = config["schedule"]
    if "stages_trained" in config:
        stages = [(stage["stage"], stage["epochs_trained"], stage["epochs"], stage["stopped_by"])
                  for stage in config["stages_trained"]]
    else:
        budget = schedule.get("max_train_hours")
        spent = budget is not None and config.get("train_wall_time_s", 0) >= budget * 3600
        trained = {}
        for span in config.get("trained_precisions", []):
            trained[span["stage"]] = max(trained.get(span["stage"], 0), span["last_epoch"])
        planned = {stage["name"]: stage["epochs"] for stage in schedule.get("stages", [])} or {"train": schedule.get("epochs")}
        stages = [(stage, trained[stage], planned[stage], "time budget" if spent else "patience") for stage in trained]
    return [(stage, done, epochs, why) for stage, done, epochs, why in stages if done < epochs]


def extent_text(config):
    """"36/327 epochs (the 6.0 h training budget)" for each stage that stopped short; "" for a run trained in full."""
    budget = config["schedule"].get("max_train_hours")
    reasons = {"time budget": f"the {budget} h training budget", "patience": "the patience rule"}
    staged = len(config["schedule"].get("stages", [])) > 1
    return ", ".join(f"{stage + ' ' if staged else ''}{done}/{epochs} epochs ({reasons[why]})"
                     for stage, done, epochs, why in stopped_short(config))


def train_time_text(config):
    """"50 min", with the share of the CPUs other work took where the run did not train on a quiet machine."""
    seconds, share = config.get("train_wall_time_s"), config.get("train_other_cpu_share")
    if not seconds:
        return "—"
    shared = f" (CPUs shared: other work took {100 * share:.0f} %)" if share is not None and share >= QUIET_SHARE else ""
    return f"{seconds / 60:.0f} min{shared}"


def rate_text(images_per_s):
    """Images per second, or seconds per image where fewer than 0.1 go through a second (U-Net's test-time
    averaging over 8 symmetries of the overlap-tiled slice)."""
    return f"{images_per_s:.1f} img/s" if images_per_s >= 0.1 else f"{1 / images_per_s:.0f} s/img"


def scored_on(data):
    """The split a results file was scored on, with its size: "camvid test (233)"."""
    return f"{data['dataset']} {data['split']} ({data['num_images']})"


def run_row(name, path, data):
    config = data["train_config"]
    crf = data.get("crf")
    crf_cell = (f"{scores(crf)} ({crf_change(data)}, {crf['seconds_per_image']:.2f} s/img)"
                if crf else "not run")
    deviations = what_was_cut(name, config)
    return {
        "model": name,
        "dataset": scored_on(data),
        "protocol": config.get("protocol", "?"),
        "params": f"{data['params'] / 1e6:.2f}M",
        "gflops": f"{evaluated_gflops(name, data):.1f} @ {'x'.join(map(str, data['input_size']))}",
        "reported": reported_cell(name, data["dataset"]),
        "reproduced": scores(data),
        "crf": crf_cell,
        "train": ", ".join(filter(None, [train_time_text(config), extent_text(config)])),
        "inference": (rate_text(data["images_per_s"]) + (" with the CRF" if crf else "")
                      if data.get("images_per_s") else "—"),
        "deviations": deviations or "—",
        "source": path.name + (f" (weights: weights/{path.stem}/)"
                               if results.weight_record_dir(path.parent, path.stem).is_dir() else ""),
    }


def missing_row(name, summary):
    """A model not run on its paper's dataset: the paper's number, and whether this machine has that data
    (a folder of DATA_ROOT)."""
    schedule = papers.get_schedule(name)
    cost = summary.get(name, {})
    here = (DATA_ROOT / schedule.dataset).is_dir()
    return {
        "model": name, "dataset": schedule.dataset, "protocol": "—",
        "params": f"{cost['params'] / 1e6:.2f}M" if cost else "—",
        "gflops": f"{cost['gflops']:.1f} @ {'x'.join(map(str, cost['input_size']))}" if cost else "—",
        "reported": reported_cell(name, schedule.dataset),
        "reproduced": "not run yet" if here else f"not run here ({schedule.dataset} data is not on this machine)",
        "crf": "—", "train": "—", "inference": "—",
        "deviations": "—" if here else f"the paper's dataset, {schedule.dataset}, is not on this machine",
        "source": "—",
    }


def running_row(name, progress, summary):
    """A run still in progress (`benchmarks.run --progress`): how far it got, and how to go on."""
    stages = ", ".join(f"{stage['stage']} {stage['epochs_done']}/{stage['epochs']} epochs"
                       + (f" ({MONITORED[stage['monitor']]} {percent(stage['val_last'])}, best "
                          f"{percent(stage['val_best'])})" if stage["val_best"] is not None else "")
                       for stage in progress["stages"])
    minutes = sum(stage["train_s"] for stage in progress["stages"]) / 60
    schedule = papers.get_schedule(name, progress["protocol"])
    return {**missing_row(name, summary), "protocol": progress["protocol"],
            "reproduced": f"running: {stages}; continue with `{progress['command']}`",
            "train": f"{minutes:.0f} min so far",
            "deviations": "; ".join(filter(None, [schedule.notes,
                                                  *precision_line({"schedule": schedule.to_dict(), **progress})]))}


COLUMNS = (("model", "model"), ("dataset", "dataset (images)"), ("protocol", "protocol"), ("params", "params"),
           ("gflops", "GFLOPs @ input"), ("reported", "reported G / C / mIoU (source)"),
           ("reproduced", "reproduced G / C / mIoU"), ("crf", "+ dense CRF"), ("train", "train time"),
           ("inference", "inference"), ("deviations", "deviations from the paper"), ("source", "results file"))


def gap_rows(results_dir):
    """Per finished run: each metric the paper reports for its dataset, reproduced vs reported."""
    rows = []
    for name, entries in load_runs(results_dir).items():
        for path, data in entries:
            records = reported_on(name, data["dataset"])
            if not records:
                continue
            record, measured = records[0], data["headline"]
            differences, gaps, values = [], {}, {}
            for key, reported in record.metrics.items():
                if measured.get(key) is None:
                    continue
                # CamVid's scores are reported in percent, ISBI's errors as fractions.
                value = 100 * measured[key] if key in SUMMARY_KEYS else measured[key]
                digits = DECIMALS.get(key, 4)
                gaps[key], values[key] = value - reported, value
                differences.append(f"{SHORT.get(key, key.replace('_', ' '))} {value:.{digits}f} vs {reported:g} "
                                   f"({gaps[key]:+.{digits}f})")
            config = data["train_config"]
            rows.append({"model": name, "protocol": config.get("protocol", "?"), "gaps": gaps, "values": values,
                         "reported": record.metrics,
                         "scores": "; ".join(differences) or "no common metric",
                         "budget": what_was_cut(name, config) or "—", "stopped_short": extent_text(config),
                         "paper": record.notes or "—",
                         "scored_on": scored_on(data), "reported_on": f"{record.dataset} {record.split}"})
    return rows


def other_split_runs(rows):
    """Per run scored on a different split from the paper's numbers (ISBI 2012: the challenge's test labels are
    hidden, so the runs here are scored on held-out training slices): which split each side is on."""
    return "".join(f" {row['model']}'s `{row['protocol']}` run is scored on {row['scored_on']}, the paper's numbers "
                   f"on {row['reported_on']}: not the same images." for row in rows
                   if not row["scored_on"].startswith(row["reported_on"] + " "))


def paper_and_cpu_gaps(rows):
    """Per model with both a `cpu` and a `paper` run: each run's mIoU distance to the paper, side by side."""
    miou_gaps = {(row["model"], row["protocol"]): row["gaps"]["miou"] for row in rows if "miou" in row["gaps"]}
    return "".join(f" {model}'s `paper` run is {miou_gaps[model, 'paper']:+.1f} mIoU from the paper, its `cpu` run "
                   f"{miou_gaps[model, 'cpu']:+.1f}." for model, protocol in miou_gaps
                   if protocol == "paper" and (model, "cpu") in miou_gaps)


# Protocols that cut the paper's budget, and the comparison's; every other one follows a paper recipe.
REDUCED = ("cpu", "quick", COMPARISON)


def repeated_runs(rows, progress):
    """Per model with a finished run of a paper recipe and another run of one (finished or in progress):
    each run's mIoU, their mean and range against the paper's, and which recipe each followed."""
    lines = []
    for model in dict.fromkeys(row["model"] for row in rows):
        finished = [row for row in rows if row["model"] == model and row["protocol"] not in REDUCED
                    and "miou" in row["values"]]
        running = [record["protocol"] for record in progress.get(model, []) if record["protocol"] not in REDUCED
                   and record["protocol"] not in {row["protocol"] for row in finished}]
        if not finished or len(finished) + len(running) < 2:
            continue
        values = [row["values"]["miou"] for row in finished]
        text = (f" {model}: {len(finished)} finished run(s) of a paper recipe ("
                + ", ".join(f"`{row['protocol']}` {row['values']['miou']:.1f}" for row in finished) + ")")
        if len(values) > 1:
            text += f", mean {sum(values) / len(values):.1f} mIoU, range {min(values):.1f}-{max(values):.1f}"
        text += f", against the paper's {finished[0]['reported']['miou']:g}"
        if running:
            text += "; still running: " + ", ".join(f"`{protocol}`" for protocol in running)
        lines.append(text + ".")
    return "".join(lines)


def stopped_paper_runs(rows):
    """Per run of a paper recipe that stopped before its schedule's end: how far it got."""
    return "".join(f" {row['model']}'s `{row['protocol']}` run stopped at {row['stopped_short']}: the rest of its "
                   "schedule is what would close that part of its gap." for row in rows
                   if row["stopped_short"] and row["protocol"] not in REDUCED)


def gap_section(rows, progress=None):
    lines = ["## How far each reproduced number is from the paper", "",
             "Reproduced vs reported, from the same files as the table above. Every `cpu` run trains for a "
             "fraction of the paper's epochs, most at half resolution, and the VGG-based models from random "
             "initialisation; the paper's full schedule (`--protocol paper`) and, for SegNet, FCN and "
             "DeconvNet, ImageNet VGG16 weights (`--backbone-weights`) are what would close the gap. A `paper` "
             "run follows the paper's recipe on its data; what it still does differently is in its "
             "'what this run cut' column." + stopped_paper_runs(rows) + other_split_runs(rows) + paper_and_cpu_gaps(rows)
             + repeated_runs(rows, progress or {}), "",
             ]
    lines += table_of((("model", "model"), ("protocol", "protocol"), ("scores", "reproduced vs reported (difference)"),
                       ("budget", "what this run cut"), ("paper", "the paper's setup")), rows)
    return "\n".join(lines)


def per_class_section(results_dir):
    """Per dataset with named classes: each finished run's IoU per class, the scores the means hide."""
    by_classes = {}
    every_run = load_runs(results_dir)
    for name, entries in load_runs(results_dir, compared=True).items():
        every_run[name] = every_run.get(name, []) + entries
    for name, entries in sorted(every_run.items()):
        for _, data in entries:
            if data.get("class_names") and data["metrics"].get("iou"):
                by_classes.setdefault((data["dataset"], tuple(data["class_names"])), []).append((name, data))
    lines = []
    for (dataset, class_names), runs in by_classes.items():
        lines += ["", f"### {dataset}: IoU per class (%), without the CRF", "",
                  *markdown_table(["model", "protocol", *class_names, "mIoU"], [
                      [name, data["train_config"].get("protocol", "?"), *map(percent, data["metrics"]["iou"]),
                       percent(data["metrics"]["miou"])] for name, data in runs])]
    return "\n".join(["## Per class", "", "What the means hide: which classes each model gets and which it misses."]
                     + lines) if lines else ""


def comparison_speed(speed):
    """The float32 Keras rows of a `benchmarks.speed --protocol compare` run, by model."""
    return {row["model"]: row for row in (speed or {}).get("keras", []) if row.get("protocol") == COMPARISON
            and row["precision"] == "float32" and not row.get("xla") and "error" not in row}


def sweep_cell(results_dir, name):
    """The learning-rate trial of a comparison row: each rate's validation score, the chosen one in bold,
    and a note when the chosen rate is the grid's largest or smallest (the best rate may lie beyond it)."""
    path = sweep.record_path(results_dir, name, COMPARISON)
    if not path.exists():
        return "—"
    trial = results.read_json(path)
    rates = [candidate["learning_rate"] for candidate in trial["candidates"]]

    def cell(candidate):
        text = f"{candidate['learning_rate']:g}: {percent(candidate[trial['monitor']])}"
        return f"**{text}**" if candidate["learning_rate"] == trial["chosen_learning_rate"] else text
    edge = (" (the grid's largest)" if trial["chosen_learning_rate"] == max(rates) else
            " (the grid's smallest)" if trial["chosen_learning_rate"] == min(rates) else "")
    return ", ".join(map(cell, trial["candidates"])) + (edge if len(rates) > 1 else "")


def comparison_rows(results_dir, speed):
    """One row per finished comparison run: accuracy, with the CRF, and cost side by side."""
    timed, rows = comparison_speed(speed), []
    for name, entries in load_runs(results_dir, compared=True).items():
        for path, data in entries:
            config, crf, cost = data["train_config"], data.get("crf"), timed.get(name)
            rows.append({
                "model": name, "params": f"{data['params'] / 1e6:.2f}M",
                "gflops": f"{evaluated_gflops(name, data):.1f} / {scored_size_gflops(name, config)}",
                "sweep": sweep_cell(results_dir, name),
                "scores": scores(data), "crf": f"{scores(crf)} ({crf_change(data)})" if crf else "not run",
                "train": train_time_text(config),
                "inference": (f"{cost['infer_ms_per_image']:.0f} ms @ {'x'.join(map(str, cost['input_size']))}"
                              if cost else "—"),
                "memory": f"{cost['peak_rss_gib']:.1f} GiB" if cost and cost.get("peak_rss_gib") else "—",
                "miou": data["metrics"]["miou"], "infer_ms": cost["infer_ms_per_image"] if cost else None,
                "improving": best_at_last_epoch(config), "departures": recipe_departures(name, config),
                "source": path.name,
            })
    return rows


def best_at_last_epoch(config):
    """Whether the run's selected (best validated) epoch was its last: it was still improving when its
    budget ended. None when the results file does not record its stages."""
    stages = config.get("stages_trained")
    if not stages or not stages[-1].get("selected"):
        return None
    last = stages[-1]
    return last["selected"].get("epoch") == last["epochs_trained"]


COMPARISON_COLUMNS = (("model", "model"), ("params", "params (11 classes)"),
                      ("gflops", "GFLOPs @ {} (as run) / {}".format(
                          *("x".join(map(str, size)) for size in (comparison.RECIPE.input_size, comparison.SCORED_SIZE)))),
                      ("sweep", "lr sweep: val mIoU (chosen in bold)"), ("scores", "test G / C / mIoU"),
                      ("crf", "+ dense CRF"), ("train", "train time"), ("inference", "inference (batch 1)"),
                      ("memory", "peak memory (training)"), ("source", "results file"))


def recipe_text():
    """The shared recipe in words, from `papers.comparison.RECIPE`."""
    recipe = comparison.RECIPE
    return (f"{recipe.input_size[0]}x{recipe.input_size[1]} inputs, {recipe.epochs} epochs at batch "
            f"{recipe.batch_size}, {recipe.optimizer} with {recipe.lr_policy} decay, weight decay "
            f"{recipe.weight_decay:g}, {recipe.class_weighting.replace('_', '-')} class weights, "
            f"{'horizontal flips' if recipe.flip else 'no augmentation'}, random init, {recipe.precision}, "
            f"the checkpoint with the best {MONITORED[recipe.monitor]} scored on the {recipe.eval_split} split at "
            f"{'x'.join(map(str, comparison.SCORED_SIZE))}; learning rate per model: the best of {', '.join(f'{lr:g}' for lr in recipe.learning_rate_sweep)} "
            f"after {recipe.sweep_epochs} epoch(s) on val")


def recipe_departures(name, config):
    """The settings in which a comparison run's recorded schedule differs from the shared recipe's for its
    model, the learning rate (the one per-model value, from its trial) and the prose aside."""
    def comparable(schedule):
        schedule = without_prose(schedule)
        overrides = {field: change for field, change in schedule["overrides"].items() if field != "learning_rate"}
        return {**{key: value for key, value in schedule.items() if key != "learning_rate"}, "overrides": overrides}
    return [field for field, _, _ in schedule_differences(comparable(config["schedule"]),
                                                          comparable(comparison.protocol(name).to_dict()))]


def recipe_check_line(rows):
    """Whether the rows' results files recorded the recipe, every setting but the learning rate."""
    departures = {row["model"]: row["departures"] for row in rows if row["departures"]}
    if not departures:
        return ("Checked from the results files: every row's recorded schedule equals the recipe in every "
                "setting but the learning rate.")
    return ("Recorded settings that differ from the recipe (these rows are not on equal terms): "
            + "; ".join(f"{name} ({', '.join(fields)})" for name, fields in departures.items()) + ".")


def comparison_section(results_dir, speed, progress, plot_path):
    rows = comparison_rows(results_dir, speed)
    done = {row["model"] for row in rows}
    running = [record for records in progress.values() for record in records
               if record["protocol"] == COMPARISON and record["model"] not in done]
    waiting = [name for name in comparison.MODELS if name not in done | {record["model"] for record in running}]
    lines = ["## Architectures on equal terms", "",
             "Every CamVid architecture trained by one recipe (`papers/comparison.py`): " + recipe_text() + ". "
             "Nothing but the learning rate differs between rows (and the builder options "
             + "; ".join(f"{name} {options}" for name, options in comparison.MODEL_OPTIONS.items())
             + ", as the models' CamVid benchmarks had them), so the rows compare architectures, not budgets. "
             f"Inference and memory come from one `python -m benchmarks.speed --protocol {COMPARISON}` run "
             f"({COMPARISON_SPEED.relative_to(REPO)}). Re-run everything not done with "
             f"`python -m benchmarks.run --protocol {COMPARISON}`, one row with `--model NAME`."]
    if rows:
        lines += ["", *table_of(COMPARISON_COLUMNS, rows), "", recipe_check_line(rows)]
        improving = [row["model"] for row in rows if row["improving"]]
        if improving:
            lines += ["", f"Still improving when the budget ended (best {MONITORED[comparison.RECIPE.monitor]} at "
                      f"the last epoch): {', '.join(improving)} ({len(improving)} of {len(rows)}). Their scores are "
                      "of unfinished training, so a longer shared budget may reorder the rows."]
        front = frontier(rows)
        if front:
            lines += ["", "On the accuracy/cost frontier (no other row both infers faster and scores a higher test "
                      f"mIoU), fastest first: {', '.join(row['model'] for row in front)}."]
        if plot_comparison(rows, front, plot_path):
            lines += ["", f"![test mIoU against inference time]({Path(plot_path).name})"]
    lines += [""] if running else []
    lines += [f"- {record['model']}: running, " + ", ".join(
                  f"{stage['epochs_done']}/{stage['epochs']} epochs" for stage in record["stages"]) for record in running]
    if waiting:
        lines += ["", "Not run yet: " + ", ".join(waiting) + "."]
    return "\n".join(lines)


def frontier(rows):
    """The timed rows that no other row beats on both batch-1 inference time and test mIoU, fastest first."""
    front = []
    for row in sorted((row for row in rows if row["infer_ms"]), key=lambda row: (row["infer_ms"], -row["miou"])):
        if not front or row["miou"] > front[-1]["miou"]:
            front.append(row)
    return front


def plot_comparison(rows, front, path):
    """Test mIoU against batch-1 inference time, the `frontier` `front` drawn through. False without timings."""
    timed = [row for row in rows if row["infer_ms"]]
    if not timed:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in timed:
        axes.scatter(row["infer_ms"], 100 * row["miou"], color="tab:blue")
        axes.annotate(row["model"], (row["infer_ms"], 100 * row["miou"]), fontsize=8)
    axes.step([row["infer_ms"] for row in front], [100 * row["miou"] for row in front], where="post",
              color="tab:blue", alpha=0.4, label="frontier")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("inference ms per image (batch 1, this machine)")
    axes.set_ylabel("test mIoU (%)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def load_progress(results_dir):
    """Progress records of unfinished runs (results/progress/*.json), by model."""
    progress = {}
    for path in sorted(Path(results_dir).glob("progress/*.json")):
        data = results.read_json(path)
        progress.setdefault(data["model"], []).append(data)
    return progress


def build_rows(results_dir, summary_path):
    runs, progress, compared = load_runs(results_dir), load_progress(results_dir), load_runs(results_dir, compared=True)
    summary = ({row["model"]: row for row in results.read_json(summary_path)["models"]}
               if Path(summary_path).exists() else {})
    rows = []
    for name in papers.list_models():
        entries = runs.get(name, [])
        rows += [run_row(name, path, data) for path, data in entries]
        finished = {data["train_config"].get("protocol") for _, data in entries}
        running = [record for record in progress.get(name, [])
                   if record["protocol"] not in finished and record["protocol"] != COMPARISON]
        rows += [running_row(name, record, summary) for record in running]
        if papers.get_schedule(name).dataset not in {data["dataset"] for _, data in entries} | {
                record["dataset"] for record in running}:
            row = missing_row(name, summary)  # the paper's own benchmark, not run (yet)
            if name in compared and row["reproduced"] == "not run yet":
                row["reproduced"] = "paper recipe not run yet; trained under the shared recipe: see Architectures on equal terms"
            rows.append(row)
    return rows


def markdown(rows):
    return "\n".join(table_of(COLUMNS, rows))


def plot(runs, path):
    """mIoU against GFLOPs: reproduced runs and the papers' reported numbers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, entries in runs.items():
        for _, data in entries:
            if data["primary"] != "miou":
                continue  # boundary detection (ISBI): not on the mIoU axis
            gflops = evaluated_gflops(name, data)
            axes.scatter(gflops, 100 * data["metrics"]["miou"], color="tab:blue")
            axes.annotate(f"{name} ({data['train_config'].get('protocol')})",
                          (gflops, 100 * data["metrics"]["miou"]), fontsize=8)
            reported = [r for r in papers.get_reported(name) if r.dataset == data["dataset"] and "miou" in r.metrics]
            if reported:
                axes.scatter(gflops, reported[0].metrics["miou"], color="tab:orange", marker="*", s=80)
    axes.scatter([], [], color="tab:blue", label="reproduced")
    axes.scatter([], [], color="tab:orange", marker="*", label="reported by the paper")
    if axes.collections and any(len(c.get_offsets()) for c in axes.collections):
        axes.set_xscale("log")
    axes.set_xlabel("GFLOPs per image at the evaluated input size")
    axes.set_ylabel("mIoU (%)")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def timing(row, figure):
    """A row's ms per image: the median of its rounds, their min-max beside it where there were several."""
    rounds = row.get(f"{figure}_rounds") or []
    return f"{row[figure]:.0f}" + (f" ({min(rounds):.0f}-{max(rounds):.0f})" if len(rounds) > 1 else "")


def speed_section(speed):
    """Markdown for results/benchmarks/speed.json (python -m benchmarks.speed)."""
    peak = speed["peak"]
    lines = [
        "## Speed and memory on this machine",
        "",
        f"Generated from `results/benchmarks/speed.json` (`{speed['command']}`; "
        f"{speed['environment']['cpus']} CPUs{cpu_of_latest_run(speed['environment'])}, TensorFlow {speed['environment']['tensorflow']}, "
        f"Keras {speed['environment']['keras']}). Measured peak through TensorFlow (the latest run): matmul {speed.get('peak_size', 2048)}² "
        f"{peak['matmul_float32_gflops_per_s']:.0f} GFLOP/s float32, {peak['matmul_bfloat16_gflops_per_s']:.0f} bfloat16; "
        f"3x3 convolution {peak['conv3x3_float32_gflops_per_s']:.0f} float32, {peak['conv3x3_bfloat16_gflops_per_s']:.0f} "
        "bfloat16. Training = train.py's compiled `fit` step with the paper schedule's optimizer at the "
        f"paper's input size, batch = the schedule's capped at {speed['step_budget_gflop']:.0f} GFLOP per step; "
        "GFLOP/s counts a training step as 3x the forward FLOPs; inference = a compiled batch-1 forward pass: in "
        "TensorFlow's graph on the plain rows (evaluate.py's `--no-xla`), compiled whole by XLA on the `+ XLA` rows "
        "(`--xla`; evaluate.py's default is the faster of the two for each model); the `+ XLA` rows' training step is the same step compiled by XLA, which train.py "
        "does not do on a CPU; "
        "RSS = the peak of the process that measured the model. A model's Keras rows, PyTorch twins and other "
        "backends were measured in interleaved rounds (`--rounds`): ms/img is their median, (min-max) the "
        "rounds' range, and a ratio's range that of the rounds' paired ratios." + peaks_by_run(speed),
        "",
    ]

    def keras_cells(row):
        if "error" in row:
            return [row["model"], row["precision"], f"failed: {row['error'][:120]}", "", "", "", "", ""]
        return [row["model"], row["precision"] + (" + XLA" if row.get("xla") else ""), "x".join(map(str, row["input_size"])),
                f"{row['train_batch']} (schedule {row['schedule_batch']})", timing(row, "train_ms_per_image"),
                f"{row['train_gflops_per_s']:.0f} ({100 * row['train_fraction_of_conv_peak']:.0f} %)",
                timing(row, "infer_ms_per_image"), f"{row['peak_rss_gib']:.1f}"]

    # Sorted by model (stable: each model's variants keep their order), as --update appends its rows.
    lines += markdown_table(["model", "precision", "input", "train batch", "train ms/img",
                             "train GFLOP/s (of conv peak)", "inference ms/img", "peak RSS GiB"],
                            [keras_cells(row) for row in sorted(speed["keras"], key=lambda row: row["model"])])
    lines += ["", summary] if (summary := bfloat16_summary(speed["keras"])) else []
    if speed["torch"]:
        lines += ["", "PyTorch twins (`benchmarks/torch_models.py`: same layers, shapes and parameter counts, float32, "
                  "channels-last, same threads, input, batch and optimizer), ms per image:", "",
                  *markdown_table(["model", "framework", "train ms/img", "inference ms/img", "peak RSS GiB"], [
                      [row["model"], row["framework"], f"failed: {row['error'][:120]}", "", ""] if "error" in row else
                      [row["model"], f"{row['framework']} {row.get('torch', '')}", timing(row, "train_ms_per_image"),
                       timing(row, "infer_ms_per_image"), f"{row['peak_rss_gib']:.1f}"]
                      for row in sorted(speed["torch"], key=lambda row: row["model"])])]
    lines += backend_lines(speed)
    lines += export_lines(speed)
    lines += quietness_line(speed)
    if speed.get("pipeline"):
        pipeline = speed["pipeline"]
        lines += ["", f"Input pipeline alone (decode + augment + batch of the CamVid training files, no cache, "
                  f"{'x'.join(map(str, pipeline['input_size']))}, batch {pipeline['batch_size']}): "
                  f"{pipeline['images_per_s']:.0f} images/s."]
    crf = speed["crf"]
    lines += ["", "Dense CRF, one core, " + "; ".join(
        f"{name}: {row['seconds_median']:.3f} s" for name, row in crf["presets"].items())
        + f" per {'x'.join(map(str, crf['size']))} image at {next(iter(crf['presets'].values()))['params']['iterations']} "
        f"mean-field iterations (evaluate.py's default, the {DEFAULT_PRESET} preset, runs {PRESETS[DEFAULT_PRESET].iterations})"
        + (f"; the rest of the machine took {100 * crf['other_cpu_share']:.0f} % of the CPUs' time meanwhile"
           if crf.get("other_cpu_share") is not None else "") + ".", "",
        *markdown_table(["target", "threshold", "measured", "met", "what"], [
            [check["target"], f"{check['threshold']:g}", f"{check['value']:.4g}" + (
                f" ({check['range'][0]:.3g}-{check['range'][1]:.3g})" if "range" in check else ""),
             "yes" if check["met"] else "no", check["detail"]] for check in speed["targets"]])]
    lines += ["", "What holds the unmet targets back: [benchmarks/SPEED_ANALYSIS.md](benchmarks/SPEED_ANALYSIS.md) "
              "(hand-written; it quotes these files)."]
    return "\n".join(lines)


def quietness_line(speed):
    """Which timed rows were measured on a quiet machine (the rest of it under QUIET_SHARE of the CPUs'
    time in every round, common.machine_load), which were not, and which predate the record."""
    labelled = ([(f"{row['model']} {row['precision']}{' + XLA' if row.get('xla') else ''}", row) for row in speed["keras"]]
                + [(f"{row['model']} {row['framework']}", row) for row in speed["torch"]]
                + [(f"{row['model']} on {row['backend']}", row) for row in speed.get("backends", [])])
    labelled = [(label, row) for label, row in labelled if "error" not in row]
    quiet = [label for label, row in labelled if row.get("quiet")]
    busy = [f"{label} ({100 * row['other_cpu_share']:.0f} %)" for label, row in labelled
            if "quiet" in row and not row["quiet"]]
    unknown = [label for label, row in labelled if "quiet" not in row]
    parts = ([f"quiet (the rest of the machine under {100 * QUIET_SHARE:.0f} % of the CPUs' time in every round): "
              + ", ".join(quiet)] if quiet else [])
    parts += ([f"NOT quiet (the share of the CPUs the rest of the machine took in the busiest round; slower than "
               f"a quiet machine would time them): {', '.join(busy)}"] if busy else [])
    parts += ([f"not recorded for {len(unknown)} other row{'s' * (len(unknown) != 1)} (measured before runs "
               "recorded it)"] if unknown else [])
    return ["", "Measured " + "; ".join(parts) + "."] if quiet or busy else []


def cpu_of_latest_run(environment):
    return f" ({environment['cpu']} in the latest run)" if environment.get("cpu") else ""


def backend_lines(speed):
    """The Keras backend rows beside the same run's TensorFlow rows (float32, no XLA), ms per image."""
    if not speed.get("backends"):
        return []
    tensorflow = {row["model"]: row for row in speed["keras"] if "error" not in row and row["precision"] == "float32"
                  and not row.get("xla") and row.get("protocol", "paper") == "paper"}

    def cells(row, backend):
        if "error" in row:
            return [row["model"], backend, f"failed: {row['error'][:120]}", "", ""]
        return [row["model"], backend, timing(row, "train_ms_per_image"), timing(row, "infer_ms_per_image"),
                f"{row['peak_rss_gib']:.1f}"]

    rows = []
    for row in sorted(speed["backends"], key=lambda row: (row["model"], row["backend"])):
        same_run = row["model"] in tensorflow and tensorflow[row["model"]].get("command") == row.get("command")
        if same_run and not any(cell[0] == row["model"] for cell in rows):  # never beside another run's row
            rows.append(cells(tensorflow[row["model"]], "tensorflow"))
        rows.append(cells(row, f"{row['backend']} {row.get('environment', {}).get(row['backend'], '')}".strip()))
    return ["", "Keras backends (`--backends`; each in its own process, the same training step and batch-1 "
            "inference as the float32 rows above, JAX's predict step jit-compiled, PyTorch's eager), ms per image:",
            "", *markdown_table(["model", "backend", "train ms/img", "inference ms/img", "peak RSS GiB"], rows)]


def export_lines(speed):
    """The export rows: batch-1 inference of a model's exports in their runtimes beside Keras'."""
    if not speed.get("exports"):
        return []
    rows = [[row["model"], row.get("runtime", ""), f"failed: {row['error'][:120]}", ""] if "error" in row else
            [row["model"], row["runtime"], row["precision"], f"{row['infer_ms_per_image']:.0f}"]
            for row in speed["exports"]]
    return ["", "Exports (`predict.py --export --format`; batch 1 at the paper's input size, random weights, int8 "
            "calibrated on synthetic images): inference ms per image in each runtime:", "",
            *markdown_table(["model", "runtime", "precision", "inference ms/img"], rows)]


def peaks_by_run(speed):
    """Where `--update` runs re-measured some rows: which rows each run's conv peak (and CPU, where the
    row records it) belongs to (a model by name when all its rows share the run, else its variants)."""
    runs, rows_per_model = {}, {}
    for row in speed["keras"]:
        if "conv_peak_gflops_per_s" in row:
            peaks = row["conv_peak_gflops_per_s"]
            label = f"{row['model']} {row['precision']}{' + XLA' if row.get('xla') else ''}"
            run = (peaks["float32"], peaks["bfloat16"], row.get("cpu"))
            runs.setdefault(run, {}).setdefault(row["model"], []).append(label)
            rows_per_model[row["model"]] = rows_per_model.get(row["model"], 0) + 1
    if len(runs) < 2:
        return ""

    def names(models):
        return ", ".join(model if len(labels) == rows_per_model[model] else ", ".join(labels)
                         for model, labels in models.items())

    return (" The rows come from several runs (the command above), each with its own measured conv peak, "
            "which its rows' share of the peak uses: " + "; ".join(
                f"{names(models)}: {float32:.0f} float32, {bfloat16:.0f} bfloat16"
                f"{f' on {cpu}' if cpu else ''}" for (float32, bfloat16, cpu), models in runs.items()) + "."
            + (" Rows of different CPUs compare only with their own CPU's; a run without one named predates "
               "rows recording it." if len({cpu for *_, cpu in runs}) > 1 else ""))


def bfloat16_summary(rows):
    """mixed_bfloat16's speed-up over float32 per model (TensorFlow graph rows, not XLA), in one sentence;
    empty without models measured in both. A model's two precisions are compared only where one run
    measured both (--update): the machine's speed drifts between runs."""
    plain = {(row["model"], row["precision"]): row for row in rows if not row.get("xla") and "error" not in row}
    speedups, other_runs = {"training": {}, "inference": {}}, []
    for (model, precision), row in plain.items():
        if precision == "mixed_bfloat16" and (model, "float32") in plain:
            if plain[(model, "float32")].get("command") != row.get("command"):
                other_runs.append(model)
                continue
            for what, key in (("training", "train_ms_per_image"), ("inference", "infer_ms_per_image")):
                speedups[what][model] = plain[(model, "float32")][key] / row[key]

    skipped = (f" Not compared: {', '.join(sorted(other_runs))}, whose precisions were measured by different runs."
               if other_runs else "")
    if not speedups["training"]:
        return skipped.lstrip()

    def words(by_model):
        faster = [speedup for speedup in by_model.values() if speedup > 1]
        others = sorted(model for model, speedup in by_model.items() if speedup <= 1)
        if faster:
            low, high = f"{min(faster):.1f}", f"{max(faster):.1f}"
            text = f"{low}x faster" if low == high else f"{low}-{high}x faster"
        else:
            text = "nowhere faster"
        return text + (f", not faster for {', '.join(others)}" if others else "")

    return ("mixed_bfloat16 against float32 (the rows above without XLA): training "
            f"{words(speedups['training'])}; inference {words(speedups['inference'])}.{skipped}")


def profile_section(profile, top=10):
    """The op types that take a profiled training step's or inference's time (python -m benchmarks.profile)."""
    ops = ", ".join(f"{row['op']} {100 * row['share']:.1f} %" for row in profile["ops"][:top])
    what, batch, how = (("batch-1 inference", 1, "TensorFlow's graph as evaluate.py `--no-xla` runs it")
                        if profile.get("profiled") == "inference"
                        else ("training step", profile["train_batch"], "as train.py runs it"))
    return (f"Profile of {profile['model']}'s {what} ({profile['precision']}, batch {batch}, "
            f"{'x'.join(map(str, profile['input_size']))}, {how}; `{profile['command']}`), share of op time by op type: {ops}.")


PAPER_COLUMNS = (("model", "model"), ("dataset", "dataset (images)"), ("protocol", "protocol"),
                 ("reproduced", "reproduced"), ("crf", "+ dense CRF"), ("train", "train time"),
                 ("deviations", "deviations from the paper"), ("source", "results file"))


def paper_readme(paper, rows):
    """papers/<paper>/README.md: the paper, its reported numbers, this project's rows, commands, weights."""
    models = list(paper.MODELS)
    model_doc = inspect.getdoc(importlib.import_module(f"{paper.__name__}.model")).split("\n\n")
    lines = [f"# {model_doc[0].rstrip('.')}", "", "Generated by `python -m benchmarks.table`; do not edit.", "",
             " ".join(model_doc[1].split()), "", "## Reported by the paper", ""]
    lines += markdown_table(["model", "dataset", "split", "metrics", "source", "notes"], [
        [name, record.dataset, record.split, ", ".join(f"{key} {value:g}" for key, value in record.metrics.items()),
         record.source, record.notes or "—"] for name in models for record in papers.get_reported(name)])
    lines += ["", "## Reproduced here", "", "From the results files in `results/` (BENCHMARKS.md has the cost columns).", ""]
    lines += table_of(PAPER_COLUMNS, [row for row in rows if row["model"] in models])
    lines += ["", "## Commands", ""]
    lines += [f"- `{name}` `{protocol}`: `python -m benchmarks.run --model {name} --protocol {protocol}`"
              + (" (" + "; ".join(deviations) + ")" if (deviations := papers.get_schedule(name, protocol).deviations())
                 else "") for name in models for protocol in papers.list_protocols(name)]
    weights = [(name, record) for name in models for record in papers.list_weights(name)]
    lines += ["", "## Weights", ""]
    lines += ([f"- `{record}`: `python evaluate.py --checkpoint {record}` (folder `results/weights/{record}/`)"
               for _, record in weights] or ["None committed yet."])
    return "\n".join(lines) + "\n"


README_MARKS = ("<!-- reproductions: written by python -m benchmarks.table from results/; do not edit -->",
                "<!-- end of reproductions -->")
README_COLUMNS = (("model", "model"), ("protocol", "protocol"), ("reported", "reported (source)"),
                  ("reproduced", "reproduced"), ("crf", "+ dense CRF"), ("train", "train time"),
                  ("source", "results file"))


def write_readme_reproductions(readme, rows):
    """Replaces the block between README_MARKS in `readme` with every run of a paper recipe, finished or
    running (BENCHMARKS.md has the reduced budgets, costs and gaps); a file without the marks is left alone."""
    text = readme.read_text() if readme.exists() else ""
    start, end = README_MARKS
    if start not in text or end not in text:
        return False
    before, rest = text.split(start, 1)
    block = table_of(README_COLUMNS, [row for row in rows if row["protocol"] not in (*REDUCED, "—")])
    readme.write_text(before + start + "\n" + "\n".join(block) + "\n" + end + rest.split(end, 1)[1])
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--summary", default=str(REPO / "results" / "model_summary.json"))
    parser.add_argument("--speed", default=str(REPO / "results" / "benchmarks" / "speed.json"))
    parser.add_argument("--profiles", nargs="*", help="benchmarks.profile JSON files "
                        "(default: results/benchmarks/profile_*.json)")
    parser.add_argument("--compare-speed", default=str(COMPARISON_SPEED),
                        help="the comparison's timings (python -m benchmarks.speed --protocol compare)")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--papers-dir", default=str(REPO / "papers"),
                        help="where the per-paper results go (<dir>/<paper>/README.md; default: beside each paper)")
    args = parser.parse_args(argv)
    rows = build_rows(args.results_dir, args.summary)
    profiles = args.profiles if args.profiles is not None else sorted(
        (REPO / "results" / "benchmarks").glob("profile_*.json"))
    plot_path = Path(args.output).with_name("benchmarks_miou_vs_gflops.png")
    plot(load_runs(args.results_dir), plot_path)
    Path(args.output).write_text(
        "# Benchmarks\n\n"
        "Generated by `python -m benchmarks.table` from the results files in `results/`; do not edit.\n"
        "Re-run a row with `python -m benchmarks.run --model NAME --protocol cpu --rerun`. G = global (pixel)\n"
        "accuracy, C = class-average accuracy, in percent. `cpu` protocols follow the paper's recipe and\n"
        "evaluation rule with a budget a 2-core CPU can finish (the train time column says how long it\n"
        "took), on the paper's data except FCN and DeconvNet (CamVid; their PASCAL VOC is not here); where\n"
        "a run needed another learning rate or rule, the deviations column says so. Reported numbers come\n"
        "from the paper's own setup (see the source column).\n\n"
        + markdown(rows) + f"\n\n![mIoU against GFLOPs]({plot_path.name})\n\n"
        + gap_section(gap_rows(args.results_dir), load_progress(args.results_dir)) + "\n"
        + "\n" + comparison_section(args.results_dir, results.read_json(args.compare_speed)
                                     if Path(args.compare_speed).exists() else None,
                                     load_progress(args.results_dir), plot_path.with_name("benchmarks_comparison.png"))
        + "\n"
        + (f"\n{section}\n" if (section := per_class_section(args.results_dir)) else "")
        + (f"\n{speed_section(results.read_json(args.speed))}\n" if Path(args.speed).exists() else "")
        + "".join(f"\n{profile_section(results.read_json(path))}\n" for path in profiles))
    for paper in papers.PAPERS:
        folder = Path(args.papers_dir) / paper.__name__.split(".")[-1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").write_text(paper_readme(paper, rows))
    readme = Path(args.output).with_name("README.md")  # the repository's, beside the default BENCHMARKS.md
    written = write_readme_reproductions(readme, rows)
    print(f"wrote {args.output}, {plot_path}, {args.papers_dir}/<paper>/README.md" + (f" and {readme}'s reproductions"
                                                                                     if written else ""))
    return rows


if __name__ == "__main__":
    main()
