"""Fully connected CRF post-processing (Krähenbühl & Koltun, NIPS 2011) for any model's output.

`dense_crf(image, probs, **params)` refines softmax probabilities with mean-field inference on
unary -log(p) plus a Gaussian (smoothness) and a bilateral (appearance) pairwise kernel, through
the `pydensecrf` module. On Python 3.11 the PyPI distribution `pydensecrf` (1.0rc3) does not
build; `pydensecrf2` does and provides the same module, so the project depends on `pydensecrf2`.
The module is imported only when the CRF is used, and its absence is an error that says how to
install it.

Parameters are data (`CrfParams`); `PRESETS` holds the ones the papers used.
"""
import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

# -log(p) of a zero probability would be inf; pydensecrf's own unary_from_softmax clips likewise.
MIN_PROBABILITY = 1e-8


@dataclasses.dataclass(frozen=True)
class CrfParams:
    gaussian_sxy: float = 3.0
    gaussian_compat: float = 3.0
    bilateral_sxy: float = 20.0
    bilateral_srgb: float = 3.0
    bilateral_compat: float = 5.0
    iterations: int = 10

    @classmethod
    def from_dict(cls, values):
        unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown CRF parameters {sorted(unknown)}; valid: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)


PRESETS = {
    # DeconvNet (ICCV 2015, "+CRF" rows of Table 1): HyeonwooNoh/DeconvNet
    # inference/generate_EDeconvNet_CRF_results.m — Gaussian sxy 3 weight 3, bilateral sxy 20,
    # srgb 3, weight 5, 10 mean-field iterations.
    "deconvnet": CrfParams(3.0, 3.0, 20.0, 3.0, 5.0, 10),
    # The 5-iteration setting the speed target is stated for, with the appearance kernel of
    # pydensecrf's documented example (sxy 80, srgb 13, compat 10) that DeepLab-style searches
    # range over.
    "fast": CrfParams(3.0, 3.0, 80.0, 13.0, 10.0, 5),
}
DEFAULT_PRESET = "deconvnet"  # what a schedule uses unless it says otherwise (Schedule.crf)


def _densecrf_module():
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError as error:
        raise ImportError("the dense CRF needs the `pydensecrf` module: pip install pydensecrf2 "
                          "(the PyPI package `pydensecrf` 1.0rc3 does not build on Python 3.11)") from error
    return densecrf


def _validate(image, probs):
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be a uint8 H x W x 3 array, got {getattr(image, 'dtype', type(image))} "
                         f"{getattr(image, 'shape', '')}")
    if not isinstance(probs, np.ndarray) or probs.ndim != 3 or not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"probs must be a float H x W x K array, got {getattr(probs, 'dtype', type(probs))} "
                         f"{getattr(probs, 'shape', '')}")
    if probs.shape[:2] != image.shape[:2]:
        raise ValueError(f"image is {image.shape[0]}x{image.shape[1]} but probs are {probs.shape[0]}x{probs.shape[1]}: "
                         "resize the probabilities to the image first")
    if probs.shape[2] < 2:
        raise ValueError(f"probs need at least 2 classes, got {probs.shape[2]}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1 + 1e-3:
        raise ValueError("probs must be probabilities in [0, 1] (softmax outputs), not logits")
    if not np.allclose(probs.sum(axis=2), 1.0, atol=1e-2):
        raise ValueError("probs must sum to 1 over the class axis (softmax outputs)")


def dense_crf(image, probs, **params):
    """Refines `probs` (H x W x K softmax) for `image` (H x W x 3 uint8); returns H x W x K float32.

    `params` are `CrfParams` fields (gaussian_sxy, gaussian_compat, bilateral_sxy,
    bilateral_srgb, bilateral_compat, iterations); missing ones take the DeconvNet values.
    """
    settings = CrfParams.from_dict(params)
    _validate(image, probs)
    densecrf = _densecrf_module()
    height, width, num_classes = probs.shape
    crf = densecrf.DenseCRF2D(width, height, num_classes)
    unary = -np.log(np.clip(probs, MIN_PROBABILITY, 1.0)).astype(np.float32)
    # pydensecrf takes writable C-contiguous buffers: K x (H*W) float32 unaries, an H x W x 3 image.
    crf.setUnaryEnergy(np.ascontiguousarray(unary.transpose(2, 0, 1).reshape(num_classes, -1)))
    crf.addPairwiseGaussian(sxy=settings.gaussian_sxy, compat=settings.gaussian_compat)
    crf.addPairwiseBilateral(sxy=settings.bilateral_sxy, srgb=settings.bilateral_srgb,
                             rgbim=np.require(image, requirements=["C", "W"]), compat=settings.bilateral_compat)
    refined = np.asarray(crf.inference(settings.iterations), np.float32)
    return refined.reshape(num_classes, height, width).transpose(1, 2, 0)


def refine_to_labels(image, probs, params):
    """(CRF label map uint8, seconds the CRF took) — the unit of work of `CrfPool`."""
    start = time.perf_counter()
    labels = np.argmax(dense_crf(image, probs, **params), axis=-1).astype(np.uint8)
    return labels, time.perf_counter() - start


class CrfPool:
    """Runs the CRF over many images on all CPU cores (a process pool).

    `submit(image, probs)` returns a future of (label map, CRF seconds). With `workers=1` the work
    runs in this process; results are identical either way.
    """

    def __init__(self, params=None, workers=None):
        self.params = (params if isinstance(params, CrfParams) else CrfParams.from_dict(params or {})).to_dict()
        self.workers = workers or os.cpu_count() or 1
        _densecrf_module()  # fail now, with the install hint, rather than inside a worker
        # Spawned, not forked: the parent usually runs TensorFlow, whose threads make fork unsafe.
        context = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(self.workers, mp_context=context) if self.workers > 1 else None

    def submit(self, image, probs):
        if self.executor is not None:
            return self.executor.submit(refine_to_labels, image, probs, self.params)
        future = Future()
        future.set_result(refine_to_labels(image, probs, self.params))
        return future

    def close(self):
        if self.executor is not None:
            self.executor.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
