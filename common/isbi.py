"""The ISBI 2012 EM segmentation challenge's own scores, computed as its Fiji code computes them.

Arganda-Carreras et al. 2015, "Crowdsourcing the creation of image segmentation algorithms for connectomics"
(Front. Neuroanat. 9:142), scored each submitted map with the Java classes of fiji/Trainable_Segmentation,
`src/main/java/trainableSegmentation/`. This module re-implements them in numpy/scipy. "RandError.java:1831" below
is that file at commit 41c7083 (2024); "2014 RandError.java:1170" is the file at f52fda2 (2014-11-05), the version
the leaderboard used before the 2015 rescoring.

The map. A submission is a [0, 1] image in the labels' colours (cells white, membranes black), and every class
binarises it as "cell where value > t" (`> binaryThreshold`). The models here give the membrane probability p, so
the submitted map is 1 - p, in float32 as the 32-bit TIFF a submission is (`proposal_map`). The thresholds are the
Java loop `for (th = 0.0; th <= 1.0; th += 0.1)` with its rounding: 11 levels, the last 0.9999999999999999
(`THRESHOLDS`). The warping error's documented call stops at 0.9 (imagej.net "Minimum Splits and Mergers Warping
error": `getMinimumSplitsAndMergersErrorValue(0.0, 0.9, 0.1, false)`), 10 levels (`WARPING_THRESHOLDS`).
`common.metrics.CHALLENGE_THRESHOLDS` is not this rule: it cuts p itself ("boundary where p > t", 10 levels).

Scores, each kept at its best threshold as the Java keeps it (the first strictly better value):
- rand_error: the leaderboard's "foreground-restricted Rand error", 1 - the maximal F-score of the Rand index
  over pixel pairs inside ground-truth regions, pairs counted n(n-1)/2 (`rand_pair_counts`); counts are pooled
  over slices before the F-score. 2014 RandError.java:159-204 (pooling), 495-519 (binarise, 4-connected
  regions), 1170-1313 (counts), 1323-1338 (max over thresholds). The current Java's method of that name,
  `getForegroundRestrictedRandIndexMaximalFScore`, counts pairs as V_rand does (changed 2015-01, commits affb802
  and fb6051a); this is the earlier count, the one the 2012 challenge and its leaderboard were scored with
  until then.
- pixel_error: 1 - the maximal F-score of classifying pixels as cell, counts pooled over slices
  (PixelError.java:511-553, 286-331, 630-645). This is the leaderboard's "pixel error", the one papers quote.
- wrong_pixel_fraction: the plain fraction of labelled pixels put in the wrong class, at its best threshold (what
  `common.metrics.challenge_scores` reports as "pixel_error"); not a challenge score, named apart.
- v_rand, v_info: the leaderboard's scores since 2015 (brainiac2.mit.edu/isbi_challenge/evaluation), on the map
  thinned to 1-pixel boundaries (`thin_boundaries`, a port of utils/WatershedTransform2D.java:165-381). V_rand is
  the F-score of pixel pairs counted n^2 (`vrand_counts`, RandError.java:1831-1927); V_info its information
  analogue (VariationOfInformation.java:1288-1442). Both are averaged over slices, not pooled: the official
  script calls `getMaximalVRandAfterThinning(0.0, 1.0, 0.1, true)`, a per-slice average (RandError.java:364-422,
  1022-1055), and `getMaximalVInfoAfterThinning(0.0, 1.0, 0.1)` (VariationOfInformation.java:713-729, 959-1000).
- warping_error: Jain et al. 2010's warping error in the challenge's "minimum splits and mergers" form: the
  ground truth is warped onto the thresholded map by flipping simple points (`warp_ground_truth`,
  WarpingError.java:1257-1412), the remaining mismatches are classified (`classify_mismatches`, 1998-2135), and
  the error is the number of merge and split pixels over all pixels, pooled over slices (222-263, 437-473).

Ground-truth pixels equal to `ignore_label` (the challenge's labels have none) belong to no ground-truth region,
as in `common.metrics.regions`; the pixel counts skip them, as PixelError's masked variant does
(PixelError.java:565-619), and the warping masks them, as WarpingError's `mask` does.
"""
import collections
import functools
import math

import numpy as np
from scipy import ndimage

from segpapers.common.metrics import regions


def java_thresholds(minimum, maximum, step):
    """The levels of the Java loop `for (th = minimum; th <= maximum; th += step)`, float rounding included."""
    levels, threshold = [], minimum
    while threshold <= maximum:
        levels.append(threshold)
        threshold += step
    return tuple(levels)


THRESHOLDS = java_thresholds(0.0, 1.0, 0.1)
WARPING_THRESHOLDS = java_thresholds(0.0, 0.9, 0.1)
SCORES = ("rand_error", "pixel_error", "wrong_pixel_fraction", "warping_error", "v_rand", "v_info")
LOWER_IS_BETTER = {"rand_error", "pixel_error", "wrong_pixel_fraction", "warping_error"}
DEFINITIONS = {
    "rand_error": "1 - max over thresholds of the F-score of the foreground-restricted Rand index, pairs n(n-1)/2, "
                  "pooled over slices (Trainable_Segmentation 2014 RandError.getRandIndexMaximalFScore)",
    "pixel_error": "1 - max over thresholds of the F-score of cell pixels, pooled over slices "
                   "(PixelError.getPixelErrorMaximalFScore)",
    "wrong_pixel_fraction": "min over thresholds of the fraction of labelled pixels in the wrong class",
    "warping_error": "min over thresholds of merge + split pixels after simple-point warping, over all pixels "
                     "(WarpingError.getMinimumSplitsAndMergersErrorValue, Jain et al. 2010)",
    "v_rand": "max over thresholds of the per-slice mean V_rand on watershed-thinned boundaries, pairs n^2 "
              "(RandError.getMaximalVRandAfterThinning, per-slice average)",
    "v_info": "max over thresholds of the per-slice mean V_info on watershed-thinned boundaries "
              "(VariationOfInformation.getMaximalVInfoAfterThinning)",
}


def proposal_map(boundary_probability):
    """The map the challenge receives from a membrane probability p: 1 - p (cells white), in float32."""
    return np.float32(1) - np.asarray(boundary_probability, np.float32)


def _cells(proposal, threshold):
    # float64, as Java promotes the float pixel to the double threshold (numpy would compare in float32)
    return np.asarray(proposal, np.float64) > threshold


def fscore(counts):
    """F-score of counts (true positives, false positives, false negatives, ...) as ClassificationStatistics.java:81-113
    computes it: precision is 1 without false positives, recall 1 without false negatives, F 0 if both are 0."""
    true_positives, false_positives, false_negatives = (float(count) for count in counts[:3])
    precision = 1.0 if false_positives == 0 else true_positives / (true_positives + false_positives)
    recall = 1.0 if false_negatives == 0 else true_positives / (true_positives + false_negatives)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def challenge_error(counts_per_threshold):
    """1 - the best F-score over thresholds of pooled counts (one row of `fscore` counts per threshold): the
    challenge's Rand error from `rand_pair_counts`, its pixel error from pixel counts."""
    return 1.0 - _best([fscore(counts) for counts in counts_per_threshold], largest=True)[0]


def _best(values, largest):
    """(best value, its index) the way the Java loops keep them: the first strictly better value, NaN never, starting
    from F = 0 (`if (score > max)`) or from Double.MAX_VALUE (`if (error < min)`), at the first threshold."""
    best, index = (0.0 if largest else math.inf), 0
    for position, value in enumerate(values):
        if value > best if largest else value < best:
            best, index = value, position
    return best, index


def _contingency(true_regions, predicted_regions):
    """Over the pixels inside ground-truth regions: the region sizes a_i, the overlaps n_ij with predicted regions
    j > 0, the predicted region sizes b_j, and the number of pixels the prediction puts on a boundary (j = 0)."""
    inside = true_regions > 0
    true = true_regions[inside].astype(np.int64)
    predicted = predicted_regions[inside].astype(np.int64)
    assigned = predicted > 0
    pairs = true[assigned] * (predicted.max(initial=0) + 1) + predicted[assigned]
    overlaps = np.unique(pairs, return_counts=True)[1].astype(np.int64)
    return np.bincount(true), overlaps, np.bincount(predicted[assigned]), int(np.count_nonzero(~assigned))


def _pairs(sizes):
    sizes = np.asarray(sizes, np.int64)
    return int(np.sum(sizes * (sizes - 1) // 2))


def rand_pair_counts(true_regions, predicted_regions):
    """(true positives, false positives, false negatives, true negatives) of the unordered pairs of pixels inside
    ground-truth regions (2014 RandError.java:1170-1313): a pair is positive when both pixels lie in one region.
    A pixel on a predicted boundary (label 0) is in no predicted region and so together with nothing, though it
    counts in its ground-truth region. Region images are label arrays, 0 outside regions; sum counts to pool."""
    sizes, overlaps, predicted_sizes, _ = _contingency(true_regions, predicted_regions)
    pixels = int(sizes.sum())
    true_positives = _pairs(overlaps)
    false_positives = _pairs(predicted_sizes) - true_positives
    false_negatives = _pairs(sizes) - true_positives
    true_negatives = pixels * (pixels - 1) // 2 - true_positives - false_positives - false_negatives
    return np.array([true_positives, false_positives, false_negatives, true_negatives], np.int64)


def challenge_rand_counts(label, boundary_probability, threshold, boundary_class, ignore_label=255):
    """`rand_pair_counts` of one slice at one threshold: ground-truth regions are `common.metrics.regions`, predicted
    regions the 4-connected cells of `proposal_map(boundary_probability) > threshold`."""
    predicted = ndimage.label(_cells(proposal_map(boundary_probability), threshold))[0]
    return rand_pair_counts(regions(label, boundary_class, ignore_label), predicted)


def pixel_counts(true_cells, predicted_cells, labelled):
    """(true positives, false positives, false negatives, true negatives) of labelled pixels, cell the positive class
    (PixelError.java:511-553: label > 0 against map > t)."""
    true_cells, predicted_cells = true_cells & labelled, predicted_cells & labelled
    true_boundary = labelled & ~true_cells
    return np.array([np.count_nonzero(true_cells & predicted_cells), np.count_nonzero(true_boundary & predicted_cells),
                     np.count_nonzero(true_cells & ~predicted_cells),
                     np.count_nonzero(true_boundary & ~predicted_cells)], np.int64)


def vrand_counts(true_regions, predicted_regions):
    """(true positives, false positives, false negatives, true negatives) of ordered pixel pairs, self-pairs included
    (the n^2 normalisation of RandError.java:1831-1927), inside ground-truth regions. A pixel on a predicted
    boundary is a region of its own: it pairs with itself only."""
    sizes, overlaps, predicted_sizes, unassigned = _contingency(true_regions, predicted_regions)
    pixels = int(sizes.sum())
    true_positives = int(np.sum(overlaps ** 2)) + unassigned
    false_positives = int(np.sum(predicted_sizes ** 2)) + unassigned - true_positives
    false_negatives = int(np.sum(sizes ** 2)) - true_positives
    true_negatives = pixels ** 2 - true_positives - false_positives - false_negatives
    return np.array([true_positives, false_positives, false_negatives, true_negatives], np.int64)


def vrand_fscore(true_regions, thinned_regions):
    """V_rand of one slice: `fscore` of `vrand_counts`."""
    counts = vrand_counts(true_regions, thinned_regions)
    # Without ground-truth regions the Java divides 0 by 0, and its NaN counts leave the F-score at 0.
    return fscore(counts) if counts.any() else 0.0


def vinfo_fscore(true_regions, thinned_regions):
    """V_info of one slice (VariationOfInformation.java:1329-1442): 2 I / (H(true) + H(predicted)) over the pixels
    inside ground-truth regions, written as the Java writes it, precision I/H(true) and recall I/H(predicted). A
    pixel on a predicted boundary is a region of its own. One region on either side gives 0, as in the Java."""
    sizes, overlaps, predicted_sizes, unassigned = _contingency(true_regions, thinned_regions)
    pixels = int(sizes.sum())
    if pixels == 0:
        return 0.0  # no ground-truth region: H(true) = 0, which the Java scores 0

    def entropy(counts):
        probabilities = counts[counts > 0] / pixels
        return -float(np.sum(probabilities * np.log(probabilities)))

    singletons = unassigned / pixels * math.log(pixels)  # each boundary pixel adds -(1/n) log(1/n)
    true_entropy, predicted_entropy = entropy(sizes), entropy(predicted_sizes) + singletons
    joint_entropy = entropy(overlaps) + singletons
    information = true_entropy + predicted_entropy - joint_entropy
    if predicted_entropy == 0:
        precision, recall = 1.0, 0.0
    elif true_entropy == 0:
        precision, recall = 0.0, 1.0
    else:
        precision, recall = information / true_entropy, information / predicted_entropy
    # an image with no shared information has precision + recall 0: the Java's 0/0, NaN
    return 2 * precision * recall / (precision + recall) if precision + recall else math.nan


_WATERSHED, _MASK, _IN_QUEUE, _OUTSIDE = 0, -2, -3, -4  # WatershedTransform2D's WSHED, MASK, INQUEUE; and the pad


def thin_boundaries(cells):
    """Regions 1..n of a binary map after the classic watershed that thins its boundaries to 1-pixel lines (label 0),
    a port of WatershedTransform2D.apply (Soille & Vincent 1990; utils/WatershedTransform2D.java:165-381) on the
    map RandError / VariationOfInformation give it: boundaries 255, cells 0, 4-connectivity.

    Level 0 floods each 4-connected cell region as a basin. At level 255 the boundary pixels beside a basin are
    queued in the Java's pixel order (x outer, y inner) and the queue grows basins into the boundary, pixel by
    pixel, in the Java's neighbour order (x-1, y-1, x+1, y+1), with its single `flag` shared across the queue;
    where fronts meet a pixel becomes a line. Boundary pieces no basin reaches become regions of their own.
    """
    cells = np.asarray(cells, bool)
    height, width = cells.shape
    stride = width + 2
    basins, count = ndimage.label(cells)
    padded = np.full((height + 2, stride), _OUTSIDE, np.int64)
    padded[1:-1, 1:-1] = np.where(cells, basins, _MASK)
    beside_basin = ~cells & ndimage.binary_dilation(cells)
    xs, ys = np.nonzero(beside_basin.T)  # transposed: x outer, y inner, as the Java lists its pixels
    queue = collections.deque(((ys + 1) * stride + xs + 1).tolist())
    labels = padded.ravel().tolist()
    for pixel in queue:
        labels[pixel] = _IN_QUEUE
    flag = False
    while queue:
        pixel = queue.popleft()
        for neighbour in (pixel - 1, pixel - stride, pixel + 1, pixel + stride):
            value = labels[neighbour]
            if value > 0:
                own = labels[pixel]
                if own == _IN_QUEUE or (own == _WATERSHED and flag):
                    labels[pixel] = value
                elif own > 0 and own != value:
                    labels[pixel] = _WATERSHED
                    flag = False
            elif value == _WATERSHED:
                if labels[pixel] == _IN_QUEUE:
                    labels[pixel] = _WATERSHED
                    flag = True
            elif value == _MASK:
                labels[neighbour] = _IN_QUEUE
                queue.append(neighbour)
    thinned = np.array(labels, np.int64).reshape(height + 2, stride)[1:-1, 1:-1]
    unreached = thinned == _MASK
    pieces = ndimage.label(unreached)[0]
    thinned = np.where(unreached, pieces + count, thinned)
    return np.maximum(thinned, 0)  # ImageJ's short conversion clamps the leftover negative codes to 0


@functools.cache
def _simple_points():
    """For each 3x3 patch (bit k = pixel k in row-major order, 1 = cell), whether its centre is a simple point: one
    4-connected cell component and one 8-connected boundary component among the 8 neighbours (Bertrand & Malandain
    1994). The Java tests this with simple2DBertrand (WarpingError.java:1113-1133, the patch as the middle plane of
    a 3x3x3 block, 6/26-connectivity); on all 512 patches the two tests agree (checked against a port of simple3d)."""
    table = []
    for code in range(512):
        patch = ((code >> np.arange(9)) & 1).reshape(3, 3)
        ring_cells, ring_boundary = patch.copy(), 1 - patch
        ring_cells[1, 1] = ring_boundary[1, 1] = 0
        pieces = ndimage.label(ring_cells)[0]
        four_neighbour_pieces = {pieces[0, 1], pieces[1, 0], pieces[1, 2], pieces[2, 1]} - {0}
        boundary_pieces = ndimage.label(ring_boundary, np.ones((3, 3)))[1]
        table.append(len(four_neighbour_pieces) == 1 and boundary_pieces == 1)
    return tuple(table)


def warp_ground_truth(true_cells, proposal, threshold, mask=None):
    """The ground truth (cells True) warped onto `proposal > threshold` by simple-point flips: WarpingError.java's
    simplePointWarp2d (1257-1412). Each sweep lists the mismatched pixels (inside `mask`) in the Java's order,
    sorted by |map - threshold| descending (stably), and flips each that is simple at that moment; sweeps repeat
    until no mismatch is left or a sweep changes nothing. The image is padded with boundary, as the Java pads it."""
    height, width = true_cells.shape
    stride = width + 2
    target = np.pad(_cells(proposal, threshold), 1)
    allowed = np.pad(np.ones_like(target[1:-1, 1:-1]) if mask is None else np.asarray(mask, bool), 1)
    distance = np.pad(np.abs(np.asarray(proposal, np.float64) - threshold).astype(np.float32), 1)
    source = bytearray(np.pad(np.asarray(true_cells, bool), 1).astype(np.uint8).tobytes())
    source_image = np.frombuffer(source, np.uint8).reshape(height + 2, stride)  # a view: flips show in it
    simple = _simple_points()
    previous = None
    while True:
        mismatched = (source_image.astype(bool) != target) & allowed
        mismatches = np.count_nonzero(mismatched)
        if mismatches == 0 or mismatches == previous:
            break
        previous = mismatches
        xs, ys = np.nonzero(mismatched.T)
        order = np.argsort(-distance[ys, xs], kind="stable")
        for pixel in (ys[order] * stride + xs[order]).tolist():
            up, down = pixel - stride, pixel + stride
            code = (source[up - 1] | source[up] << 1 | source[up + 1] << 2 | source[pixel - 1] << 3
                    | source[pixel] << 4 | source[pixel + 1] << 5 | source[down - 1] << 6 | source[down] << 7
                    | source[down + 1] << 8)
            if simple[code]:
                source[pixel] = 1 - source[pixel]
    return source_image[1:-1, 1:-1].astype(bool)


def classify_mismatches(warped_cells, mismatched):
    """Counter of the mismatched pixels by kind, as classifyMismatches2d (WarpingError.java:1998-2135, radius -1)
    sorts them from the 4-connected cell components of the warped ground truth around each pixel: "merge",
    "split", "hole_addition", "hole_deletion", "object_addition", "object_deletion"."""
    components = ndimage.label(warped_cells)[0]
    boxes = ndimage.find_objects(components)
    ys, xs = np.nonzero(mismatched)
    padded = np.pad(components, 1, constant_values=-1)  # -1: outside the image, not a neighbour
    rings = np.stack([padded[ys + 1 + dy, xs + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], 1)
    kinds = collections.Counter()
    for y, x, own, ring in zip(ys.tolist(), xs.tolist(), components[ys, xs].tolist(), rings.tolist()):
        around = set(ring) - {-1}
        if len(around) == 1 and 0 in around:
            kind = "object_deletion" if own else "object_addition"
        elif len(around) == 1:
            kind = "hole_addition" if own else "hole_deletion"
        elif len(around) == 2 and not own:
            kind = "hole_addition"
        elif len(around) == 2:
            # a cell pixel beside one object: a split only if removing it parts that object
            kind = "split" if _ids_without(components, boxes, y, x) > 2 else "hole_deletion"
        else:
            kind = "split" if own else "merge"
        kinds[kind] += 1
    return kinds


def _ids_without(components, boxes, y, x):
    """The number of distinct component ids around (y, x) once that cell pixel is set to boundary and the components
    recomputed (the Java relabels the whole image; only the pixel's own component can change, so this relabels it)."""
    own = components[y, x]
    box = boxes[own - 1]
    region = components[box] == own
    region[y - box[0].start, x - box[1].start] = False
    pieces = ndimage.label(region)[0]
    ids = set()
    for neighbour_y in range(max(y - 1, 0), min(y + 2, components.shape[0])):
        for neighbour_x in range(max(x - 1, 0), min(x + 2, components.shape[1])):
            if (neighbour_y, neighbour_x) == (y, x):
                continue
            value = int(components[neighbour_y, neighbour_x])
            # pieces of the split component get negative ids, apart from the other components' ids (>= 0)
            ids.add(-int(pieces[neighbour_y - box[0].start, neighbour_x - box[1].start]) if value == own else value)
    return len(ids)


def splits_and_mergers(true_cells, proposal, threshold, mask=None):
    """Counter of mismatch kinds left after `warp_ground_truth`; the challenge's warping error counts "merge" and
    "split" (WarpingError.java:222-263 with flags MERGE + SPLIT)."""
    warped = warp_ground_truth(true_cells, proposal, threshold, mask)
    mismatched = warped != _cells(proposal, threshold)
    if mask is not None:
        mismatched &= np.asarray(mask, bool)
    # The Java turns the warped labels into 8 bits with the ground truth's display range: a ground truth without
    # boundary (min = max = 255) maps every pixel to 0, so no component is seen and nothing is a split or merge.
    return classify_mismatches(warped if not np.all(true_cells) else np.zeros_like(warped), mismatched)


class ChallengeScorer:
    """Accumulates the challenge's scores over slices; `result()` gives each per threshold and at its best.

    `update(label, probabilities)` takes a label image (H x W class indices, `ignore_label` skipped) and the model's
    class probabilities (H x W x C); the challenge's map is built from the `boundary_class` channel, and the
    thresholds cut that map (cell where 1 - p > t). Pass `warping_thresholds=()` to skip the warping error, the
    slowest score (on a 512 x 512 slice, about twice the time of all the others together).
    """

    key = "isbi_challenge"  # its entry in a results file (common.scorers)
    primary = "rand_error"

    def __init__(self, boundary_class, ignore_label=255, thresholds=THRESHOLDS, warping_thresholds=WARPING_THRESHOLDS):
        self.boundary_class = boundary_class
        self.ignore_label = ignore_label
        self.thresholds = tuple(float(threshold) for threshold in thresholds)
        if not self.thresholds:
            raise ValueError("thresholds is empty: every score but the warping error is read at these thresholds")
        self.warping_thresholds = tuple(float(threshold) for threshold in warping_thresholds)
        self.slices = 0
        self._rand = np.zeros((len(self.thresholds), 4), np.int64)
        self._pixels = np.zeros((len(self.thresholds), 4), np.int64)
        self._v_rand, self._v_info = [], []  # one row per slice: V_rand and V_info are averaged over slices
        self._splits_and_mergers = np.zeros(len(self.warping_thresholds), np.int64)
        self._all_pixels = 0

    def update(self, label, probabilities):
        label, probabilities = np.asarray(label), np.asarray(probabilities)
        if label.ndim != 2 or probabilities.ndim != 3 or probabilities.shape[:2] != label.shape:
            raise ValueError(f"expected an H x W label and H x W x C probabilities, got {label.shape} and "
                             f"{probabilities.shape}")
        proposal = proposal_map(probabilities[..., self.boundary_class])
        true_regions = regions(label, self.boundary_class, self.ignore_label)
        true_cells, labelled = true_regions > 0, label != self.ignore_label
        v_rand, v_info = [], []
        for index, threshold in enumerate(self.thresholds):
            cells = _cells(proposal, threshold)
            self._rand[index] += rand_pair_counts(true_regions, ndimage.label(cells)[0])
            self._pixels[index] += pixel_counts(true_cells, cells, labelled)
            thinned = thin_boundaries(cells)
            v_rand.append(vrand_fscore(true_regions, thinned))
            v_info.append(vinfo_fscore(true_regions, thinned))
        self._v_rand.append(v_rand)
        self._v_info.append(v_info)
        for index, threshold in enumerate(self.warping_thresholds):
            kinds = splits_and_mergers(true_cells, proposal, threshold, labelled)
            self._splits_and_mergers[index] += kinds["merge"] + kinds["split"]
        self._all_pixels += label.size
        self.slices += 1

    def result(self):
        """JSON-ready: thresholds, each score per threshold and at its best (with that threshold), definitions."""
        if not self.slices:
            raise ValueError("no slices scored: call update() first")
        labelled = self._pixels.sum(axis=1)
        per_threshold = {
            "rand_error": [1.0 - fscore(counts) for counts in self._rand],
            "pixel_error": [1.0 - fscore(counts) for counts in self._pixels],
            "wrong_pixel_fraction": ((self._pixels[:, 1] + self._pixels[:, 2]) / labelled).tolist(),
            "v_rand": np.mean(self._v_rand, axis=0).tolist(),
            "v_info": np.mean(self._v_info, axis=0).tolist(),
        }
        thresholds = dict.fromkeys(per_threshold, self.thresholds)
        if self.warping_thresholds:
            per_threshold["warping_error"] = (self._splits_and_mergers / self._all_pixels).tolist()
            thresholds["warping_error"] = self.warping_thresholds
        names = [name for name in SCORES if name in per_threshold]
        best = {name: _best(per_threshold[name], largest=name not in LOWER_IS_BETTER) for name in names}
        return {
            "slices": self.slices,
            "threshold_count": len(self.thresholds),
            "thresholds": list(self.thresholds),
            "warping_thresholds": list(self.warping_thresholds),
            "per_threshold": {name: per_threshold[name] for name in names},
            "best": {name: float(best[name][0]) for name in names},
            "best_threshold": {name: thresholds[name][best[name][1]] for name in names},
            "definitions": {name: DEFINITIONS[name] for name in names},
        }

    @staticmethod
    def headline(result):
        """The challenge's scores at their best thresholds, as U-Net's Table 1 reports them."""
        return dict(result["best"])

    @staticmethod
    def summary(result):
        """One line for a console or a table row."""
        best = result["best"]
        parts = [f"Rand error {best['rand_error']:.4f}", f"pixel error {best['pixel_error']:.4f}",
                 f"wrong pixels {best['wrong_pixel_fraction']:.4f}"]
        if "warping_error" in best:
            parts.append(f"warping error {best['warping_error']:.6f}")
        parts += [f"V_rand {best['v_rand']:.4f}", f"V_info {best['v_info']:.4f}"]
        counts = f"best of {result['threshold_count']} thresholds"
        if "warping_error" in best:
            counts += f", warping of {len(result['warping_thresholds'])}"
        return ", ".join(parts) + f" ({counts})"
