"""Prints every registered model's parameters and GFLOPs at its paper's input size and class count.

    python -m papers.summary [--num-classes K] [--json FILE]
"""
import argparse

from segpapers import datasets
from segpapers import papers
from segpapers.common.flops import count_flops
from segpapers.common.results import write_json


def summarize(num_classes=None):
    """One row per model; `num_classes` defaults to that of the paper's dataset."""
    rows = []
    for name in papers.list_models():
        schedule = papers.get_schedule(name)
        classes = num_classes or datasets.get_info(schedule.dataset).num_classes
        model = papers.build_model(name, classes, (*schedule.input_size, 3))
        rows.append({"model": name, "params": model.count_params(), "gflops": count_flops(model) / 1e9,
                     "num_classes": classes,
                     "input_size": list(schedule.input_size), "output_size": list(model.output_shape[1:3]),
                     "dataset": schedule.dataset})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-classes", type=int, help="output classes (default: the paper dataset's)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = summarize(args.num_classes)
    print(f"{'model':<14} {'params':>13} {'GFLOPs':>9}  input      output     classes  paper dataset")
    for row in rows:
        print(f"{row['model']:<14} {row['params']:>13,} {row['gflops']:>9.2f}  "
              f"{'x'.join(map(str, row['input_size'])):<10} {'x'.join(map(str, row['output_size'])):<10} "
              f"{row['num_classes']:>7}  {row['dataset']}")
    if args.json:
        write_json(args.json, {"models": rows})
    return rows


if __name__ == "__main__":
    main()
