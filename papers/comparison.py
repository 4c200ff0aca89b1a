"""The `compare` protocol: every CamVid architecture trained under one shared recipe.

The papers' own recipes differ in budget, resolution, optimiser and initialisation, so their rows
rank recipes as much as architectures (the SegNet paper's Table 3 trained FCN, DeconvNet and SegNet
under one protocol for this reason). Here every model gets the same `RECIPE`; the only value that
differs is the learning rate, picked per model from `LEARNING_RATES` by a short trial on the
validation split (`Schedule.learning_rate_sweep`, `experiment.sweep`), and the one builder option a model's CamVid benchmark
fixes (`MODEL_OPTIONS`). No model gets weights the others lack: all start from random init.

Why the recipe trains every model stably from scratch: Adam adapts its step per parameter, which
FCN-8s and U-Net (no batch norm) need to leave the initial all-one-class prediction, where SGD at
the papers' rates collapsed here (the `cpu` rows' notes); median-frequency balancing keeps the
small classes (pole, sign, pedestrian, bicyclist) in the loss in a short run; the poly decay ends
at a small rate, so the last epochs refine instead of oscillating.
"""
from segpapers.common.schedule import Schedule

PROTOCOL = "compare"
MODELS = ("segnet_basic", "segnet", "enet", "fcn8s", "deconvnet", "unet_same")
# Adam's usual range for training from scratch; the sweep picks by best val mIoU.
LEARNING_RATES = (1e-4, 3e-4, 1e-3)
SWEEP_EPOCHS = 1  # each candidate rate trains this many epochs of the recipe before the vote
# DeconvNet as the SegNet paper benchmarked it on CamVid (its sec. 4): fc6/fc7 cut to 1024 channels.
MODEL_OPTIONS = {"deconvnet": {"fc_channels": 1024}}
# CamVid's label size: the test scores are taken at it, and the papers quote their costs at it.
SCORED_SIZE = (360, 480)

RECIPE = Schedule(
    dataset="camvid",
    # Multiples of 32, so that every pooling of SegNet (5), the FCNs and DeconvNet (stride 32) and
    # U-Net (4) sees even sizes; above DeconvNet's 193 px (fc6's 7x7 window on pool5); CamVid's
    # aspect within 4 %. Scored at SCORED_SIZE all the same (logits resized to the labels).
    input_size=(224, 288),
    batch_size=4, epochs=6,
    optimizer="adam", learning_rate=3e-4, lr_policy="poly", lr_power=0.9,
    weight_decay=2e-4,  # ENet's, on kernels only (the default `decayed`)
    class_weighting="median_frequency", flip=True,
    select_by="val_miou", validate_every=1, eval_split="test",
    # The same rule for every model: float32 until an A/B on this machine shows mixed_bfloat16 both
    # faster and equal in validation (benchmarks.precision_ab), for that model under this recipe.
    precision="float32",
    learning_rate_sweep=LEARNING_RATES, sweep_epochs=SWEEP_EPOCHS,
    source="this project's comparison protocol (papers/comparison.py): one recipe for every CamVid model, "
           "the learning rate from a sweep",
    notes=f"learning rate per model from a sweep of {', '.join(f'{rate:g}' for rate in LEARNING_RATES)} "
          f"({SWEEP_EPOCHS} epoch(s) each, best val mIoU)",
)


def protocol(model):
    """The `compare` schedule of `model`: the recipe, with the model's benchmark options."""
    return RECIPE.replace(model_options=MODEL_OPTIONS.get(model, {}))
