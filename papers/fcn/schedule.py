"""FCN's training schedules and reported numbers (CVPR 2015 sec. 4.3, Tables 1-3).

"paper" follows the CVPR text: SGD, momentum 0.9, minibatch 20, fixed lr 1e-4 for FCN-VGG16,
weight decay "5^-4 or 2^-4" (i.e. 5e-4 or 2e-4; 5e-4 here, the VGG16 and reference value), whole
images, no class balancing, no augmentation (mirroring and jitter gave no improvement). The rate is
for Caffe's normalised loss: the reference's FCN-AlexNet, trained "with gradient accumulation,
normalized loss, and standard momentum" (its README), has "lr for normalized softmax" 1e-4 with 20
images per step (iter_size 20). FCN-16s is fine-tuned from FCN-32s with the rate divided by 100
(sec. 4.2) and FCN-8s from FCN-16s "in this fashion" (another /100, as the reference solvers also
do). Epochs: FCN-32s "at least 175" (sec. 4.1); the finer nets take "about one day each" against
three days for FCN-32s (sec. 4.3), so a third of that. The paper reports "the best results
achieved after convergence" on val, hence selection by val mIoU.

"reference" follows fcn.berkeleyvision.org's solvers: batch 1, momentum 0.99, unnormalised loss
("lr for unnormalized softmax"), fixed lr 1e-10 / 1e-12 / 1e-14 for 32s / 16s / 8s, each
fine-tuned from the previous, weight decay 5e-4, 100k iterations each (about 12 epochs of SBD's
8,498 training images); "reference_atonce" is voc-fcn8s-atonce: FCN-8s with scaled skips trained
from VGG16 in one go at 1e-10 for 300k iterations (about 35 epochs). The reference fixes all
upsampling layers; here the intermediate ones are learned, as in the paper.

All: the paper trains on VOC2011 train plus SBD (8,498 images) and doubles the biases' rate;
dataset "voc" here is VOC 2012 and every parameter has the same rate. VOC images are at most
500x500: a 500x500 "crop" pads each whole image (padding ignored by the loss) rather than
resizing it, which lets whole images form a batch.
"""
from segpapers.common.schedule import CPU_BUDGET, Reported, Schedule, Stage

PAPER = "FCN CVPR 2015 sec. 4.1-4.3"
REFERENCE = "fcn.berkeleyvision.org voc-fcn{32,16,8}s/solver.prototxt"
NOT_PER_LAYER_LR = "the paper doubles the biases' learning rate; here all parameters share one"
STRIDES = (32, 16, 8)


def staged(stride, epochs, rates):
    """FCN-32s from VGG16, then each finer net up to FCN-{stride}s from the coarser one's weights.

    The first stage takes the schedule's rate, so a --learning-rate override reaches it.
    """
    count = STRIDES.index(stride) + 1
    return tuple(Stage(f"fcn{s}s", n, {"stride": s}, lr if i else None)
                 for i, (s, n, lr) in enumerate(zip(STRIDES[:count], epochs, rates)))


def paper(stride):
    stages = staged(stride, (175, 58, 58), (1e-4, 1e-6, 1e-8))
    return Schedule(
        dataset="voc", input_size=(500, 500), crop_size=(500, 500), batch_size=20,
        epochs=sum(stage.epochs for stage in stages), learning_rate=1e-4,
        optimizer="sgd", momentum=0.9, weight_decay=5e-4, select_by="val_miou", eval_split="val", stages=stages,
        source=f"{PAPER}; lr /100 per finer stride: sec. 4.2",
        notes=f"{NOT_PER_LAYER_LR}; the paper trains on VOC 2011 train + SBD (8,498 images)",
    )


def reference(stride):
    stages = staged(stride, (12, 12, 12), (1e-10, 1e-12, 1e-14))
    return Schedule(
        dataset="voc", input_size=(500, 500), crop_size=(500, 500), batch_size=1,
        epochs=sum(stage.epochs for stage in stages), learning_rate=1e-10,
        optimizer="sgd", momentum=0.99, weight_decay=5e-4, loss_normalization="none", eval_split="val", stages=stages,
        source=REFERENCE,
        notes=f"{NOT_PER_LAYER_LR}; the reference fixes upscore2/upscore_pool4 to bilinear, here they learn",
    )


SCHEDULES = {
    "fcn32s": {"paper": paper(32), "reference": reference(32)},
    "fcn16s": {"paper": paper(16), "reference": reference(16)},
    "fcn8s": {
        "paper": paper(8),
        "reference": reference(8),
        "reference_atonce": reference(8).replace(
            epochs=35, stages=(Stage("fcn8s_atonce", 35, {"at_once": True}),),
            source="fcn.berkeleyvision.org voc-fcn8s-atonce/solver.prototxt (300k iterations)"),
    },
}

# Table 2: VOC2011 val minus SBD's training images (seg11valid, 736 images, footnote 7), trained on
# SBD; this project's "voc" val is VOC 2012's.
TABLE2 = "FCN CVPR 2015 Table 2 (VOC2011 seg11valid, 736 images)"
TABLE2_NOTES = "trained on SBD (8,498 images); VOC 2011 val subset, not this project's VOC 2012 val"
README = "fcn.berkeleyvision.org README (the 'reference' schedules' released models)"
# SegNet paper's controlled CamVid benchmark: which FCN variant is not stated.
SEGNET_CAMVID = ("3,433 road images that are not public (not the 367 CamVid train), 360x480, batch norm "
                 "after every conv, SGD lr 1e-3, momentum 0.9, batch 5, no class balancing")

REPORTED = {
    "fcn32s": (
        Reported("voc", "val", {"pixel_accuracy": 89.1, "mean_accuracy": 73.3, "miou": 59.4, "fwiou": 81.4},
                 TABLE2, TABLE2_NOTES),
        Reported("voc", "val", {"miou": 56.0}, "FCN CVPR 2015 Table 1 (FCN-VGG16)",
                 "VOC 2011 val, trained on VOC 2011 train only (1,112 images); best at a fixed learning rate"),
        Reported("voc", "val", {"miou": 63.6}, README, "seg11valid; 'reference' schedule (SBD, high momentum)"),
    ),
    "fcn16s": (
        Reported("voc", "val", {"pixel_accuracy": 90.0, "mean_accuracy": 75.7, "miou": 62.4, "fwiou": 83.0},
                 TABLE2, TABLE2_NOTES),
        Reported("voc", "val", {"miou": 65.0}, README, "seg11valid; 'reference' schedule (SBD, high momentum)"),
    ),
    "fcn8s": (
        Reported("voc", "val", {"pixel_accuracy": 90.3, "mean_accuracy": 75.9, "miou": 62.7, "fwiou": 83.2},
                 TABLE2, TABLE2_NOTES),
        Reported("voc", "test", {"miou": 62.7}, "FCN CVPR 2015 Table 3 (VOC 2011 test)", "evaluation server"),
        Reported("voc", "test", {"miou": 62.2}, "FCN CVPR 2015 Table 3 (VOC 2012 test)", "evaluation server"),
        Reported("voc", "val", {"miou": 65.5}, README,
                 "seg11valid; 'reference' schedule (SBD, high momentum); at-once 65.4; 67.2 on VOC 2012 test"),
        Reported("camvid", "test", {"pixel_accuracy": 83.27, "mean_accuracy": 59.56, "miou": 49.83},
                 "SegNet arXiv:1511.00561v3 Table 3, row 'FCN' (>80K iterations column)",
                 f"{SEGNET_CAMVID}; 200K iterations; BF 27.99"),
        Reported("camvid", "test", {"pixel_accuracy": 83.14, "mean_accuracy": 64.21, "miou": 51.96},
                 "SegNet arXiv:1511.00561v3 Table 3, row 'FCN (learnt deconv)' (>80K iterations column)",
                 f"{SEGNET_CAMVID}; 160K iterations; BF 33.18"),
    ),
}

SCHEDULES["fcn8s"]["cpu"] = paper(8).override(
    dataset=("camvid", "PASCAL VOC is not on this machine"),
    input_size=((180, 240), CPU_BUDGET + ", whole images"), crop_size=(None, CPU_BUDGET + ", whole images"),
    batch_size=(4, CPU_BUDGET), epochs=(5, CPU_BUDGET), eval_split=("test", "CamVid's test split"),
    stages=((Stage("fcn8s_atonce", 5, {"at_once": True}),), "one stage with voc-fcn8s-atonce's scaled skips"),
    learning_rate=(1e-6, "1e-4 suits ImageNet weights; from random init the run collapsed to one class"),
)
