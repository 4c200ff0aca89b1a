"""DeconvNet's training schedule and reported numbers (ICCV 2015 sec. 6.1, Table 1)."""
from segpapers.common.schedule import CPU_BUDGET, Reported, Schedule

SCHEDULES = {
    "deconvnet": {
        # Sec. 6.1: SGD lr 0.01, momentum 0.9, weight decay 5e-4, lr / 10 when validation accuracy
        # stalls. Reference solvers: batch 8 x iter_size 8 = 64, step x0.1 every 9k (stage 1, 20k
        # iterations) / 10k iterations (stage 2, 40k). Stage 1 trains on object-centred 224x224
        # crops of ground-truth instances, stage 2 on edge-box proposals overlapping the ground
        # truth (IoU >= 0.5) — both built from VOC's instance annotations; here the two stages are
        # notes, and training runs on 224x224 random crops of whole images (60k iterations x 64
        # crops over the 10,582 VOC train_aug images is ~360 epochs).
        "paper": Schedule(
            dataset="voc", input_size=(224, 224), batch_size=64, epochs=360,
            optimizer="sgd", learning_rate=0.01, momentum=0.9, weight_decay=5e-4,
            lr_policy="step", lr_step_epochs=60, lr_gamma=0.1,
            crop_size=(224, 224), flip=True, eval_split="val",
            source="DeconvNet ICCV 2015 sec. 4.2, 6.1; HyeonwooNoh/DeconvNet training/00*_stage_*/solver.prototxt",
            notes="two-stage training on instance crops then proposals, and proposal-wise inference, "
                  "are replaced by whole-image crops and whole-image inference",
        ),
    },
}

REPORTED = {
    "deconvnet": (
        Reported("voc", "test", {"miou": 69.6}, "DeconvNet ICCV 2015 Table 1 (PASCAL VOC 2012 test)",
                 "+CRF 70.5; EDeconvNet (ensemble with FCN-8s) 71.7, +CRF 72.5"),
        Reported("camvid", "test", {"pixel_accuracy": 89.58, "mean_accuracy": 70.24, "miou": 59.77},
                 "SegNet arXiv:1511.00561v3 Table 3 (>80K iterations column)",
                 "fc layers cut to 1024 channels; trained on 3,433 road images that are not public, "
                 "no class balancing, 260K iterations"),
    ),
}

# fc6's 7x7 window needs pool5 >= 7x7, i.e. inputs >= 193 px: 200x264 is about CamVid's aspect.
SCHEDULES["deconvnet"]["cpu"] = SCHEDULES["deconvnet"]["paper"].override(
    dataset=("camvid", "PASCAL VOC is not on this machine"),
    input_size=((200, 264), CPU_BUDGET + ", whole images"), crop_size=(None, CPU_BUDGET + ", whole images"),
    batch_size=(8, "the reference's batch of 8 without its 8-fold gradient accumulation"),
    epochs=(8, CPU_BUDGET + "; the step decay is never reached"), eval_split=("test", "CamVid's test split"),
    select_by=("val_miou", "CamVid has a validation split to select on"),
)
