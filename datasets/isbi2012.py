"""ISBI 2012 EM segmentation challenge (U-Net paper sec. 4): 30 labelled 512x512 serial-section
TEM slices of the Drosophila larva ventral nerve cord, membranes against cells.

`data_dir` holds `train/images/N.png` and `train/labels/N.png`, N = 0..29 (the layout of
../shared/data/README.md sec. 2): grayscale slices (replicated to RGB by the pipeline) and labels
with 0 = membrane and 255 = cell, mapped to classes 0 and 1; any other value is an error.

Splits of the labelled slices, in numeric order: "train" = all but the last `val_images` (0..24
by default), "val" = the last `val_images` (25..29), "trainval" = all 30, what the paper trained
on. The challenge's test slices (`test/images`) have hidden labels, scored only by its server:
"test" is refused rather than yielding examples without labels.
"""
from segpapers.common.errors import DataError, MissingFile
from segpapers.datasets.base import DatasetInfo, data_root
from segpapers.datasets.pipeline import decode_pairs, label_map_from

CLASS_NAMES = ("membrane", "cell")
PALETTE = ((0, 0, 0), (255, 255, 255))  # the label PNGs' own colours
INFO = DatasetInfo("isbi2012", CLASS_NAMES, PALETTE, ("train", "val", "trainval"), boundary_class="membrane")
LABEL_MAP = label_map_from({0: 0, 255: 1}, len(CLASS_NAMES))
VAL_IMAGES = 5


def info(data_dir=None, **options):
    return INFO


def _numbered_pngs(folder):
    if not folder.is_dir():
        raise MissingFile(f"folder not found: {folder}")
    paths = list(folder.glob("*.png"))
    unnumbered = [path.name for path in paths if not path.stem.isdigit()]
    if unnumbered:
        raise DataError(f"expected slices named N.png in {folder}, found {unnumbered[0]}")
    if not paths:
        raise DataError(f"no N.png slices in {folder}")
    return sorted(paths, key=lambda path: int(path.stem))


def pairs(split, data_dir=None, val_images=VAL_IMAGES):
    """(image paths, label paths) of `split`, in slice order."""
    if split == "test":
        raise DataError("isbi2012 has no 'test' split to load: the challenge keeps the test labels hidden and "
                         "scores submissions on its server; evaluate on 'val' (held-out labelled slices)")
    INFO.check_split(split)
    root = data_root(data_dir, "isbi2012", "../shared/data/isbi2012")
    images = _numbered_pngs(root / "train" / "images")
    if not 0 < val_images < len(images):
        raise DataError(f"val_images={val_images} must leave both splits non-empty ({len(images)} labelled slices)")
    selected = {"train": images[:-val_images], "val": images[-val_images:], "trainval": images}[split]
    return selected, [root / "train" / "labels" / path.name for path in selected]


def load(split, data_dir=None, val_images=VAL_IMAGES):
    return decode_pairs(*pairs(split, data_dir, val_images), INFO.num_classes, label_map=LABEL_MAP)
