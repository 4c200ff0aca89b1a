"""One pass over every image/label pair of a split before anything trains on it or scores it.

`decode_pairs` reads images lazily, inside tf.data: a damaged file in the test split would
otherwise surface only when the final scoring reaches it, hours into a run. The scan decodes every
pair once with the pipeline's own reader (`datasets.pipeline.read_pair`: both files decodable,
sizes equal, label values known) and reports every bad pair at once. Pairs that passed are
remembered by path, size and modification time, with the label mapping they were read under, in a
cache file per dataset folder, so a resumed run or a second evaluation does not pay the scan again.

The cache lives in `$SEGPAPERS_CACHE`, else `$XDG_CACHE_HOME/segmentation_papers`, else
`~/.cache/segmentation_papers`.
"""
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras

from segpapers.common.errors import DataError

CACHE_ENV = "SEGPAPERS_CACHE"
SHOWN_ERRORS = 5  # the first few bad pairs are named; the count says how many there are
PROGRESS_FROM = 50  # pairs to scan before a progress bar is worth showing


def cache_dir():
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segmentation_papers"


def _stamp(path):
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def scan_pairs(pairs, read, reading_key):
    """Calls `read(image_path, label_path)` on every pair not yet scanned under `reading_key` (a
    string naming how labels are read: classes, ignore label, value mapping); raises one
    `DataError` naming the bad pairs. Returns the number of pairs read now (0: all cached)."""
    pairs = [(str(image), str(label)) for image, label in pairs]
    folder = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for pair in pairs for path in pair])
    cache = cache_dir() / (hashlib.sha256(f"{folder}\n{reading_key}".encode()).hexdigest()[:20] + ".json")
    try:
        passed = json.loads(cache.read_text())
    except (OSError, ValueError):
        passed = {}
    stamps = {pair: _stamp(pair[0]) + _stamp(pair[1]) for pair in pairs}
    todo = [pair for pair in pairs if passed.get("\n".join(pair)) != stamps[pair]]
    if not todo:
        return 0
    progress = keras.utils.Progbar(len(todo), unit_name="pair") if len(todo) >= PROGRESS_FROM else None
    if progress:
        print(f"checking {len(todo)} image/label pairs under {folder} (once; remembered in {cache.parent})")

    def check(pair):
        try:
            read(*pair)
            return None
        except DataError as error:
            return str(error)
        finally:
            if progress:
                progress.add(1)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # Pillow decodes outside the GIL
        problems = list(pool.map(check, todo))
    for pair, problem in zip(todo, problems):
        if problem is None:
            passed["\n".join(pair)] = stamps[pair]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(passed))
        temporary.replace(cache)
    except OSError:  # a read-only home: scan again next time rather than fail
        pass
    bad = [problem for problem in problems if problem is not None]
    if bad:
        listed = "\n  ".join(bad[:SHOWN_ERRORS]) + (f"\n  ... and {len(bad) - SHOWN_ERRORS} more" if
                                                     len(bad) > SHOWN_ERRORS else "")
        raise DataError(f"{len(bad)} of {len(pairs)} image/label pairs cannot be used:\n  {listed}\n"
                        "fix or remove these files (or their lines in the split's list) and run again")
    return len(todo)
