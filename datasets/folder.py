"""A user's own data in a plain folder layout:

    data_dir/images/<stem>.png|.jpg|.jpeg   RGB or grayscale inputs
    data_dir/masks/<stem>.png               8-bit masks (mode L, P or 1), same stem as the image
    data_dir/classes.txt                    one class per line: `name`, or `name value` where value
                                            is the class's mask pixel value (e.g. `background 0`,
                                            `road 255` for binary road masks)
    data_dir/splits/<split>.txt             optional: the stems of each split, one per line

Without values in classes.txt, class i has mask value i. With values, those are the only valid
mask values, plus 255 (the ignore label) when no class claims it. Without `splits/`, the sorted
stems are shuffled with a fixed seed and split 80/10/10 into train/val/test (val and test get at
least one image each), so the split is the same on every run and machine.
"""
from pathlib import Path

import numpy as np

from segpapers.common.errors import DataError, MissingFile
from segpapers.datasets.base import IGNORE_LABEL, DatasetInfo, color_map, data_root, read_list
from segpapers.datasets.pipeline import decode_pairs, label_map_from

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_SEED = 0


def _read_classes(path):
    """(class names, mask values or None when classes.txt gives no values)."""
    rows = [line.split() for line in read_list(path)]
    if {len(row) for row in rows} == {1}:
        return tuple(row[0] for row in rows), None
    if {len(row) for row in rows} != {2} or not all(row[1].isdigit() and int(row[1]) <= 255 for row in rows):
        raise DataError(f"{path}: every line must be `name` or every line `name value` with value 0..255")
    values = [int(value) for _, value in rows]
    if len(set(values)) != len(values):
        raise DataError(f"{path}: two classes share a mask value: {values}")
    return tuple(name for name, _ in rows), values


def _split_names(root):
    split_dir = root / "splits"
    if split_dir.is_dir():
        return tuple(sorted(path.stem for path in split_dir.glob("*.txt")))
    return ("train", "val", "test")


def info(data_dir=None, **options):
    root = data_root(data_dir, "folder", "path/to/my_data")
    class_names, _ = _read_classes(root / "classes.txt")
    return DatasetInfo("folder", class_names, color_map(len(class_names)), _split_names(root))


def _files_by_stem(folder, suffixes):
    if not folder.is_dir():
        raise MissingFile(f"folder not found: {folder}")
    files = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in suffixes:
            if path.stem in files:
                raise DataError(f"two files with stem {path.stem!r}: {files[path.stem]} and {path}")
            files[path.stem] = path
    if not files:
        raise DataError(f"no {'/'.join(suffixes)} files in {folder}")
    return files


def _pairs_by_stem(root):
    """{stem: (image path, mask path)}; an image without a mask or a mask without an image is an error."""
    images, masks = _files_by_stem(root / "images", IMAGE_SUFFIXES), _files_by_stem(root / "masks", (".png",))
    without_mask, without_image = sorted(images.keys() - masks.keys()), sorted(masks.keys() - images.keys())
    if without_mask:
        raise MissingFile(f"image {images[without_mask[0]]} has no mask {root / 'masks' / without_mask[0]}.png"
                                f" ({len(without_mask)} images without a mask)")
    if without_image:
        raise MissingFile(f"mask {masks[without_image[0]]} has no image in {root / 'images'}"
                                f" ({len(without_image)} masks without an image)")
    return {stem: (images[stem], masks[stem]) for stem in sorted(images)}


def _split_stems(root, split, by_stem):
    if (root / "splits").is_dir():
        split_file = root / "splits" / f"{split}.txt"
        listed = read_list(split_file)
        for stem in listed:
            if stem not in by_stem:
                raise MissingFile(f"{split_file} lists {stem!r}, which has no image/mask pair")
        return listed
    stems = list(by_stem)
    shuffled = [stems[i] for i in np.random.default_rng(SPLIT_SEED).permutation(len(stems))]
    num_eval = max(1, len(stems) // 10)
    parts = {"val": shuffled[:num_eval], "test": shuffled[num_eval:2 * num_eval], "train": shuffled[2 * num_eval:]}
    if not parts[split]:
        raise DataError(f"split {split!r} of {root} is empty: {len(stems)} images are too few for an 80/10/10 split")
    return sorted(parts[split])


def pairs(split, data_dir=None):
    """(image paths, mask paths) of `split`, in its list's order (sorted stems without `splits/`)."""
    info(data_dir).check_split(split)
    root = Path(data_dir)
    by_stem = _pairs_by_stem(root)
    stems = _split_stems(root, split, by_stem)
    return [by_stem[stem][0] for stem in stems], [by_stem[stem][1] for stem in stems]


def load(split, data_dir=None):
    image_paths, mask_paths = pairs(split, data_dir)
    class_names, values = _read_classes(Path(data_dir) / "classes.txt")
    label_map = None
    if values is not None:
        label_map = label_map_from({IGNORE_LABEL: IGNORE_LABEL} | {value: c for c, value in enumerate(values)},
                                   len(class_names))
    return decode_pairs(image_paths, mask_paths, len(class_names), label_map=label_map)
