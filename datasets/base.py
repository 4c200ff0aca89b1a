"""What every dataset module shares: the description of its labels and the checks on what a user
passes in (data folder, split, list files)."""
from dataclasses import dataclass
from pathlib import Path

from segpapers.common.errors import DataError, MissingFile

IGNORE_LABEL = 255  # label value that the loss and the metrics skip, in every dataset


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]  # RGB per class, for overlays
    splits: tuple[str, ...]
    ignore_label: int = IGNORE_LABEL
    # For boundary-detection data such as ISBI 2012's membranes: the boundary class, whose
    # complement's connected regions are the objects that the Rand error compares.
    boundary_class: str | None = None

    def __post_init__(self):
        if len(self.palette) != len(self.class_names):
            raise ValueError(f"{self.name}: {len(self.class_names)} classes but {len(self.palette)} palette colours")
        if self.boundary_class is not None and self.boundary_class not in self.class_names:
            raise ValueError(f"{self.name}: boundary class {self.boundary_class!r} is not one of {self.class_names}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check_split(self, split):
        if split not in self.splits:
            raise DataError(f"unknown split {split!r} for dataset {self.name!r}; "
                             f"valid splits: {', '.join(self.splits)}")


def color_map(num_colors):
    """The PASCAL VOC colour map (bits of the index spread over R, G, B): distinct colours for up
    to 256 classes, index 0 black."""
    colors = []
    for index in range(num_colors):
        rgb = [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
        colors.append(tuple(rgb))
    return tuple(colors)


def data_root(data_dir, dataset, example):
    """`data_dir` as a Path, or a clear error when a file-based dataset was given none."""
    if data_dir is None:
        raise DataError(f"dataset {dataset!r} reads files: pass --data-dir (e.g. {example})")
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingFile(f"data dir for dataset {dataset!r} not found: {root}")
    return root


def read_list(path):
    """The non-blank lines of a split list file, stripped."""
    if not path.is_file():
        raise MissingFile(f"list file not found: {path}")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"list file is empty: {path}")
    return lines
