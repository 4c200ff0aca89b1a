"""The dataset registry: every dataset by name, each yielding the same (image, label) examples.

A dataset is one module exposing `info(data_dir=None, **options) -> DatasetInfo` and
`load(split, data_dir=None, **options) -> tf.data.Dataset` of unbatched (uint8 [H, W, 3] RGB
image, uint8 [H, W] label) pairs in a fixed order, labels 0..K-1 with 255 ignored. A dataset read
from files also exposes `pairs(split, data_dir=None, **options) -> (image paths, label paths)`, the
files `load` decodes, in its order. Adding a dataset is adding its module and one line to `_MODULES`.

`load(..., source="tfds")` serves the same examples, in the same order, from TensorFlow Datasets
records prepared once from the same folder (`datasets.tfds_builders`: camvid, isbi2012, voc,
mnist_cifar); "files" (the default) decodes the files on every read.
"""
from pathlib import Path

from segpapers.common.errors import UnknownName
from segpapers.datasets import camvid, folder, isbi2012, mnist_cifar, synthetic, voc
from segpapers.datasets.base import DatasetInfo

__all__ = ["SOURCES", "DatasetInfo", "get_info", "image_names", "list_datasets", "load"]

_MODULES = {"camvid": camvid, "folder": folder, "isbi2012": isbi2012, "mnist_cifar": mnist_cifar,
            "synthetic": synthetic, "voc": voc}
SOURCES = ("files", "tfds")  # where `load` reads the examples from


def list_datasets():
    return sorted(_MODULES)


def _module(name):
    if name not in _MODULES:
        raise UnknownName(f"unknown dataset {name!r}; valid datasets: {', '.join(list_datasets())}")
    return _MODULES[name]


def get_info(name, data_dir=None, **options):
    return _module(name).info(data_dir, **options)


def load(name, split, data_dir=None, source="files", **options):
    """(unbatched dataset of (image, label), its DatasetInfo), read from `source` (one of SOURCES)."""
    module = _module(name)
    if source not in SOURCES:
        raise UnknownName(f"unknown data source {source!r}; valid sources: {', '.join(SOURCES)}")
    if source == "tfds":
        from segpapers.datasets import tfds_builders  # imports TensorFlow Datasets, which only this source needs
        return tfds_builders.load(name, split, data_dir, **options), module.info(data_dir, **options)
    return module.load(split, data_dir, **options), module.info(data_dir, **options)


def image_names(name, split, data_dir=None, **options):
    """The file names, without suffix, of the images `load` yields, in its order (e.g. "0001TP_008550");
    None for a generated dataset, whose images have no files."""
    module = _module(name)
    if not hasattr(module, "pairs"):
        return None
    image_paths, _ = module.pairs(split, data_dir, **options)
    return [Path(path).stem for path in image_paths]
