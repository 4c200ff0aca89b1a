"""SegNet's training schedules and reported CamVid numbers (see ../shared/REFERENCES.md)."""
from segpapers.common.schedule import CPU_BUDGET, Reported, Schedule

# Median-frequency weights of Models/segnet_train.prototxt (SegNet-Tutorial). They differ from the
# ones computable from the released labels (SignSymbol 9.64 vs 3.85); the paper trained with these.
CAMVID_CLASS_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614)

# Paper sec. 3.2-3.3: SGD at a fixed lr 0.1, momentum 0.9, batch 12, the training set shuffled
# before each epoch, median-frequency balancing, tested on val every 1000 iterations (~33 epochs),
# the iteration with the best val global accuracy scored on test. SegNet-Tutorial:
# segnet_basic_solver.prototxt (weight decay 5e-4, max_iter 10000: 327 epochs at batch 12),
# segnet_basic_train.prototxt (decay_mult 0 on conv biases, default 1 on batch-norm scale/shift),
# Scripts/compute_bn_statistics.py (statistics over the training set before every test).
SEGNET_BASIC_PAPER = Schedule(
    dataset="camvid", input_size=(360, 480), batch_size=12, epochs=327,
    optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4, decayed=("kernel", "batch_norm"),
    class_weighting="median_frequency", class_weights=CAMVID_CLASS_WEIGHTS,
    select_by="val_pixel_accuracy", validate_every=33, bn_statistics="recomputed",
    source="SegNet TPAMI sec. 3.2-3.3; SegNet-Tutorial Models/segnet_basic_solver.prototxt, "
           "segnet_basic_train.prototxt, Scripts/compute_bn_statistics.py",
)

SCHEDULES = {
    "segnet_basic": {
        "paper": SEGNET_BASIC_PAPER.override(
            validate_every=(3, "more checkpoints to select among within the time cap"),
            patience=(33, "the paper trains 'until the training loss converges': stop after one of its test "
                          "intervals (1000 iterations) without a better val global accuracy"),
            max_train_hours=(6.0, "this 2-core CPU's budget for the run; the solver's 10000 iterations take ~20 h here"),
            precision=("mixed_bfloat16", "follows float32 within benchmarks.precision_ab's tolerances and trains faster "
                                         "on a CPU with bfloat16 units (results/ab/segnet_basic_paper_precision.json)"),
        ),
        # Not the paper's: a few-minute recipe for the embedded synthetic dataset (README quick
        # start). Adam converges in far fewer steps than the paper's SGD on this small task.
        "quick": Schedule(
            dataset="synthetic", input_size=(64, 64), batch_size=4, epochs=10,
            optimizer="adam", learning_rate=1e-3, weight_decay=5e-4, flip=True,
            class_weighting="median_frequency", select_by="val_miou",
            source="this project: quick-start recipe for the synthetic dataset (not from the paper)",
        ),
    },
    "segnet": {
        # Paper sec. 4: SGD lr 1e-3, momentum 0.9, batch 5 for road scenes; solver: weight decay
        # 5e-4, 40k iterations (~545 epochs of 367 images at batch 5).
        "paper": Schedule(
            dataset="camvid", input_size=(360, 480), batch_size=5, epochs=545,
            optimizer="sgd", learning_rate=1e-3, momentum=0.9, weight_decay=5e-4,
            class_weighting="median_frequency", class_weights=CAMVID_CLASS_WEIGHTS,
            select_by="val_pixel_accuracy",
            source="SegNet TPAMI sec. 4; SegNet-Tutorial Models/segnet_solver.prototxt",
            notes="the paper initialises the encoder from ImageNet VGG16",
        ),
    },
}

REPORTED = {
    "segnet_basic": (
        Reported("camvid", "test", {"pixel_accuracy": 82.7, "mean_accuracy": 62.0, "miou": 47.7},
                 "SegNet TPAMI Table 1 (median frequency balancing)",
                 "trained on the 367 CamVid training images; BF 35.78"),
    ),
    "segnet": (
        Reported("camvid", "test", {"pixel_accuracy": 88.5, "mean_accuracy": 65.2, "miou": 55.6},
                 "SegNet TPAMI 2017 Table 2, as quoted by ../shared/REFERENCES.md (not in arXiv v3)",
                 "trained on the 367 CamVid training images, VGG16 ImageNet init; secondary source"),
        Reported("camvid", "test", {"pixel_accuracy": 90.40, "mean_accuracy": 71.20, "miou": 60.10},
                 "SegNet arXiv:1511.00561v3 Table 3 (>80K iterations column; also Table 2)",
                 "trained on 3,433 road-scene images that are not public, no class balancing, 140K iterations; BF 46.84"),
    ),
}

SCHEDULES["segnet_basic"]["cpu"] = SEGNET_BASIC_PAPER.override(
    input_size=((180, 240), CPU_BUDGET + " (scored at 360x480 all the same)"),
    epochs=(25, CPU_BUDGET),
    validate_every=(1, "a checkpoint per epoch of the short run"),
    bn_statistics=("moving", "the protocol as its recorded run trained it"),
    decayed=(("kernel",), "the protocol as its recorded run trained it"),
)
SCHEDULES["segnet"]["cpu"] = SCHEDULES["segnet"]["paper"].override(
    input_size=((180, 240), CPU_BUDGET + " (scored at 360x480 all the same)"), epochs=(10, CPU_BUDGET),
    learning_rate=(0.1, "1e-3 fine-tunes an ImageNet encoder, from random init it barely moved; SegNet-Basic's "
                        "from-scratch rate"),
)
