"""U-Net's pixel-wise loss weight map (Ronneberger et al., MICCAI 2015, sec. 3, eq. 2):

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

w_c balances the class frequencies; d1 and d2 are the distances from x to the nearest and the
second-nearest cell, a cell being a 4-connected component of the foreground class (4-connectivity
keeps cells apart across one-pixel diagonal membranes). As the introduction puts it, "the
separating background labels between touching cells obtain a large weight": the border term is
added on pixels outside the cells only.

Plain numpy (no scipy): components by min-label propagation with pointer jumping, distances by an
exact two-pass Euclidean distance transform of each cell inside its bounding box grown by 6 sigma.
Farther away the border term is below w0 * exp(-18) and is left out.
"""
import numpy as np

REACH_IN_SIGMAS = 6  # the border term at d2 > 6 sigma is under w0 * exp(-18) = 1.5e-7 w0
_BLOCK_ELEMENTS = 2 ** 22  # bounds the memory of the distance transform's second pass (rows x width^2 floats)


def unet_weight_map(label, class_weights=None, w0=10.0, sigma=5.0, foreground=1, ignore_label=255):
    """float32 weight map of eq. 2 for one label image (H x W class ids).

    `class_weights` (one per class id) give w_c; by default each class present in `label` gets
    1 / (number of classes present x its pixel share), so every class carries the same total weight
    and the map averages 1 before the border term. Pixels equal to `ignore_label` weigh 0.
    """
    label = np.asarray(label)
    valid = label != ignore_label
    if class_weights is None:
        classes, counts = np.unique(label[valid], return_counts=True)
        lookup = np.zeros(int(classes.max(initial=0)) + 1)
        lookup[classes] = counts.sum() / (len(classes) * counts)
    else:
        lookup = np.asarray(class_weights, dtype=np.float64)
        present = np.unique(label[valid])
        if present.size and present.max() >= len(lookup):
            raise ValueError(f"label has class {present.max()} but only {len(lookup)} class weights were given")
    weights = np.where(valid, lookup[np.where(valid, label, 0)], 0.0)
    cells = valid & (label == foreground)
    d1, d2 = _two_nearest_distances(connected_components(cells), reach=REACH_IN_SIGMAS * sigma)
    border = w0 * np.exp(-np.square(d1 + d2) / (2 * sigma ** 2))  # exp(-inf) = 0 where fewer than 2 cells are near
    return np.where(valid & ~cells, weights + border, weights).astype(np.float32)


def connected_components(mask):
    """4-connected components of a boolean mask: int array with ids 0..n-1 on the mask, -1 off it."""
    height, width = mask.shape
    size = height * width
    # Each mask pixel holds the flat index of a pixel of its component (off the mask: `size`); taking
    # the neighbours' minimum and following the indices (pointer jumping) converges to the smallest index.
    parent = np.where(mask, np.arange(size).reshape(height, width), size)
    while True:
        smallest = parent.copy()
        np.minimum(smallest[1:], parent[:-1], out=smallest[1:])
        np.minimum(smallest[:-1], parent[1:], out=smallest[:-1])
        np.minimum(smallest[:, 1:], parent[:, :-1], out=smallest[:, 1:])
        np.minimum(smallest[:, :-1], parent[:, 1:], out=smallest[:, :-1])
        smallest = np.where(mask, smallest, size)
        flat = np.append(smallest.ravel(), size)
        while True:
            jumped = flat[flat]
            if np.array_equal(jumped, flat):
                break
            flat = jumped
        smallest = flat[:-1].reshape(height, width)
        if np.array_equal(smallest, parent):
            break
        parent = smallest
    _, ids = np.unique(parent, return_inverse=True)
    return np.where(mask, ids.reshape(height, width), -1)


def _two_nearest_distances(components, reach):
    """Per pixel, the distances to the nearest and the second-nearest component (inf when none
    lies within `reach`)."""
    d1 = np.full(components.shape, np.inf)
    d2 = np.full(components.shape, np.inf)
    margin = int(np.ceil(reach))
    for component in range(components.max() + 1):
        rows, cols = np.nonzero(components == component)
        top, left = max(rows.min() - margin, 0), max(cols.min() - margin, 0)
        bottom, right = rows.max() + margin + 1, cols.max() + margin + 1
        window = (slice(top, bottom), slice(left, right))
        distance = euclidean_distance_transform(components[window] == component)
        near1, near2 = d1[window], d2[window]
        d2[window] = np.minimum(near2, np.maximum(near1, distance))
        d1[window] = np.minimum(near1, distance)
    return d1, d2


def euclidean_distance_transform(features):
    """Exact Euclidean distance from every pixel to the nearest True pixel of `features` (inf if none).

    Two passes: along each column, the distance to the nearest feature in that column; then along
    each row, D(y, x)^2 = min over x' of (x - x')^2 + column_distance(y, x')^2.
    """
    height, width = features.shape
    rows = np.arange(height)[:, None].astype(np.float64)
    above = np.maximum.accumulate(np.where(features, rows, -np.inf), axis=0)
    below = np.minimum.accumulate(np.where(features, rows, np.inf)[::-1], axis=0)[::-1]
    column_squared = np.square(np.minimum(rows - above, below - rows))
    offsets_squared = np.square(np.arange(width)[:, None] - np.arange(width)[None, :]).astype(np.float64)
    squared = np.empty((height, width))
    chunk = max(1, _BLOCK_ELEMENTS // width ** 2)
    for start in range(0, height, chunk):
        block = column_squared[start:start + chunk]
        squared[start:start + chunk] = (block[:, None, :] + offsets_squared[None]).min(axis=2)
    return np.sqrt(squared)
