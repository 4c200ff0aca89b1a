"""PASCAL VOC 2012 segmentation: 20 object classes plus background, 255 on object borders.

`data_dir` is the `VOC2012` folder (`JPEGImages/`, `SegmentationClass/` palette PNGs,
`ImageSets/Segmentation/{train,val,trainval}.txt`) or a folder holding `VOCdevkit/VOC2012/`.
The border value 255 stays the ignore label (never background), as in the official evaluation.

TensorFlow Datasets' own VOC builder (`voc`, configs 2007 and 2012, checked with tensorflow-datasets
4.9.10) has images, boxes and per-image labels but no segmentation masks; `--data-source tfds` reads
records that this project's builder `voc_segmentation` (datasets/tfds_builders.py) prepares from
this folder.
"""
from segpapers.common.errors import MissingFile
from segpapers.datasets.base import DatasetInfo, color_map, data_root, read_list
from segpapers.datasets.pipeline import decode_pairs

CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
INFO = DatasetInfo("voc", CLASS_NAMES, color_map(len(CLASS_NAMES)), ("train", "val", "trainval"))


def info(data_dir=None, **options):
    return INFO


def _voc2012_dir(data_dir):
    given = data_root(data_dir, "voc", "path/to/VOCdevkit/VOC2012")
    for root in (given, given / "VOCdevkit" / "VOC2012"):
        if (root / "JPEGImages").is_dir():
            return root
    raise MissingFile(f"no PASCAL VOC 2012 layout in {given}: expected JPEGImages/, SegmentationClass/ "
                            "and ImageSets/Segmentation/ there or in its VOCdevkit/VOC2012/")


def pairs(split, data_dir=None):
    """(image paths, label paths) of `split`, in its ImageSets list's order."""
    INFO.check_split(split)
    root = _voc2012_dir(data_dir)
    ids = read_list(root / "ImageSets" / "Segmentation" / f"{split}.txt")
    return [root / "JPEGImages" / f"{id_}.jpg" for id_ in ids], [root / "SegmentationClass" / f"{id_}.png" for id_ in ids]


def load(split, data_dir=None):
    return decode_pairs(*pairs(split, data_dir), INFO.num_classes)
