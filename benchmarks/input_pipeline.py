"""Images per second of the training input pipeline reading CamVid from its files or from the TFDS
records prepared from them (`--data-source files|tfds`).

    python -m benchmarks.input_pipeline [--model enet] [--camvid-dir ../shared/data/camvid] [--repeats 3]
                                        [--output results/benchmarks/input_pipeline.json]

Each pass builds the source afresh (`datasets.load`, its checks included) and draws one epoch of
`datasets.pipeline.train_pipeline` with the model's paper schedule (batch size, input size,
augmentation): the first epoch, which decodes every image; later epochs read the decoded images
from the pipeline's in-memory cache, whatever the source. A second figure times the decoding alone
(the unbatched source). The two sources alternate, pass by pass, after one warm-up pass each (so
both read from a warm page cache); the median pass counts. Preparing the records happens once,
before the passes, and is reported on its own (`prepared_now`: whether this run prepared them,
or found them prepared).
"""
import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from segpapers import datasets, papers
from segpapers.common import results
from segpapers.datasets import camvid, tfds_builders
from segpapers.datasets.pipeline import Augmentation, train_pipeline

DEFAULT_CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"
SOURCES = ("files", "tfds")


def _images_per_second(count, seconds):
    return round(count / seconds, 2)


def one_pass(source, camvid_dir, split, schedule, decode_only):
    """(images, seconds) of one epoch from a freshly built source."""
    start = time.perf_counter()
    examples, _ = datasets.load("camvid", split, camvid_dir, source)
    if decode_only:
        stream = examples
    else:
        stream = train_pipeline(examples, schedule.batch_size, schedule.input_size, Augmentation.of(schedule), seed=0)
    count = 0
    for batch in stream:
        count += 1 if decode_only else int(batch[0].shape[0])
    return count, time.perf_counter() - start


def folder_bytes(paths):
    return sum(os.path.getsize(path) for path in paths)


def measure(model, camvid_dir, split="train", repeats=3):
    schedule = papers.get_schedule(model, "paper")
    start = time.perf_counter()
    prepared_now = not tfds_builders.Camvid().is_current(Path(camvid_dir))
    builder = tfds_builders.prepared("camvid", camvid_dir)
    prepare_s = time.perf_counter() - start
    image_paths, label_paths = camvid.pairs(split, camvid_dir)
    records = sorted(Path(builder.data_dir).glob(f"camvid-{split}.tfrecord-*"))
    rows = {}
    for stage, decode_only in (("train_pipeline_first_epoch", False), ("decode_only", True)):
        for source in SOURCES:
            one_pass(source, camvid_dir, split, schedule, decode_only)  # warm-up: page cache, graph tracing
        passes = {source: [] for source in SOURCES}
        for repeat in range(repeats):
            order = SOURCES if repeat % 2 == 0 else SOURCES[::-1]  # neither source always runs first
            for source in order:
                count, seconds = one_pass(source, camvid_dir, split, schedule, decode_only)
                passes[source].append(_images_per_second(count, seconds))
                print(f"{stage:<27} {source:<5} {passes[source][-1]:7.1f} images/s ({count} images, {seconds:.1f} s)")
        rows[stage] = {source: {"images_per_s_median": statistics.median(values), "images_per_s_all": values}
                       for source, values in passes.items()}
        rows[stage]["tfds_over_files"] = round(rows[stage]["tfds"]["images_per_s_median"]
                                               / rows[stage]["files"]["images_per_s_median"], 3)
    return {
        "dataset": "camvid", "split": split, "images": len(image_paths), "model": model,
        "schedule": {"batch_size": schedule.batch_size, "input_size": list(schedule.input_size),
                     "augmentation": {key: value for key, value in dataclasses.asdict(Augmentation.of(schedule)).items()
                                      if value not in (None, False)}},
        "repeats": repeats, "prepare_s": round(prepare_s, 1), "prepared_now": prepared_now,
        "bytes": {"files": folder_bytes(image_paths + label_paths), "tfds_records": folder_bytes(records)},
        **rows,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="enet", help="whose paper schedule sets the batch and augmentation")
    parser.add_argument("--camvid-dir", default=str(DEFAULT_CAMVID))
    parser.add_argument("--split", default="train")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile")
    parser.add_argument("--output", default="results/benchmarks/input_pipeline.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    measured = measure(args.model, args.camvid_dir, args.split, args.repeats)
    results.write_json(args.output, {
        **measured, "note": args.note, "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "cpu_count": os.cpu_count(), "code_version": results.code_version(), "environment": results.environment()})
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
