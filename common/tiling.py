"""Overlap-tile prediction (Ronneberger et al., U-Net, MICCAI 2015, sec. 1 and Fig. 2).

A network with unpadded convolutions predicts a `tile_output` region from a larger `tile_input`
tile centred on it. The image is covered with adjacent output tiles; each is predicted from its
input tile, the context missing beyond the image border being "extrapolated by mirroring"
(reflection without repeating the edge pixel). Tiles that overrun the bottom/right edge are
predicted on mirrored content too, and the stitched map is cropped back to the image.
"""
import math

import numpy as np


def _pair(size):
    return (size, size) if np.isscalar(size) else tuple(size)


def overlap_tile_predict(predict_fn, image, tile_input, tile_output, batch_size=1):
    """Seamless prediction of an image of any size (H x W x C) by tiles.

    `predict_fn` maps a batch of input tiles [N, *tile_input, C] to outputs [N, *tile_output, K]
    (e.g. `lambda tiles: model.predict(tiles, verbose=0)`). `tile_input` and `tile_output` are
    sizes (an int or (height, width)), e.g. 572 and 388 for U-Net. Returns H x W x K.
    """
    image = np.asarray(image)
    (in_h, in_w), (out_h, out_w) = _pair(tile_input), _pair(tile_output)
    border_h, border_w = in_h - out_h, in_w - out_w
    if min(border_h, border_w) < 0 or border_h % 2 or border_w % 2:
        raise ValueError(f"tile_input {tile_input} must exceed tile_output {tile_output} by an even border "
                         "on each axis, centring the output in the input")
    height, width = image.shape[:2]
    rows, cols = math.ceil(height / out_h), math.ceil(width / out_w)
    pad_h, pad_w = border_h // 2, border_w // 2
    padded = np.pad(image, ((pad_h, pad_h + rows * out_h - height), (pad_w, pad_w + cols * out_w - width))
                    + ((0, 0),) * (image.ndim - 2), mode="reflect")
    corners = [(row * out_h, col * out_w) for row in range(rows) for col in range(cols)]
    stitched = None
    for start in range(0, len(corners), batch_size):
        batch = corners[start:start + batch_size]
        tiles = np.stack([padded[top:top + in_h, left:left + in_w] for top, left in batch])
        outputs = np.asarray(predict_fn(tiles))
        if outputs.shape[1:3] != (out_h, out_w):
            raise ValueError(f"predict_fn returned tiles of {outputs.shape[1:3]}, expected {(out_h, out_w)}")
        if stitched is None:
            stitched = np.empty((rows * out_h, cols * out_w, *outputs.shape[3:]), outputs.dtype)
        for (top, left), output in zip(batch, outputs):
            stitched[top:top + out_h, left:left + out_w] = output
    return stitched[:height, :width]
