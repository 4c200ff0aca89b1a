"""Prints every registered model's parameters and GFLOPs at its paper's input size.

    python -m papers.summary [--num-classes 11] [--json FILE]
"""
import argparse

import papers
from common.flops import count_flops
from common.results import write_json


def summarize(num_classes):
    rows = []
    for name in papers.list_models():
        schedule = papers.get_schedule(name)
        model = papers.build_model(name, num_classes, (*schedule.input_size, 3))
        rows.append({"model": name, "params": model.count_params(), "gflops": count_flops(model) / 1e9,
                     "input_size": list(schedule.input_size), "output_size": list(model.output_shape[1:3]),
                     "dataset": schedule.dataset})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-classes", type=int, default=11, help="output classes (default 11, CamVid)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = summarize(args.num_classes)
    print(f"{'model':<14} {'params':>13} {'GFLOPs':>9}  input      output     paper dataset")
    for row in rows:
        print(f"{row['model']:<14} {row['params']:>13,} {row['gflops']:>9.2f}  "
              f"{'x'.join(map(str, row['input_size'])):<10} {'x'.join(map(str, row['output_size'])):<10} {row['dataset']}")
    if args.json:
        write_json(args.json, {"num_classes": args.num_classes, "models": rows})
    return rows


if __name__ == "__main__":
    main()
