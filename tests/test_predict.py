"""predict.py on a folder of images of any size, and --export loaded in a fresh process."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from segpapers import evaluate
from segpapers import predict
from segpapers.common.errors import UserError



@pytest.fixture
def checkpoint(tiny_run):
    return tiny_run / "model.keras"


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)).save(folder / "odd.png")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(folder / "gray.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.mark.parametrize("crf", [False, True])
def test_predict_writes_labels_and_overlays_at_each_images_size(checkpoint, images, tmp_path, crf):
    output = tmp_path / "out"
    predict.main(["--checkpoint", str(checkpoint), str(images), "--output", str(output), *(["--crf"] if crf else [])])
    for stem, size in (("odd", (50, 37)), ("gray", (64, 64))):
        labels = Image.open(output / f"{stem}_labels.png")
        assert labels.mode == "P" and labels.size == size
        assert np.asarray(labels).max() < 6
        # The overlay is upscaled to a readable height (common.viz) and carries a legend below.
        width, height = Image.open(output / f"{stem}_overlay.png").size
        assert abs(width - size[0] * 360 / size[1]) <= 1 and height > 360
    assert not (output / "notes_labels.png").exists()


def test_xla_gives_the_graph_predictions_and_scores_and_the_default_path_is_the_models(checkpoint, images, tmp_path):
    flags = {False: [], True: ["--xla"]}  # SegNet-Basic's default: TensorFlow's graph, its faster path here
    for xla in (False, True):
        predict.main(["--checkpoint", str(checkpoint), str(images), "--output", str(tmp_path / f"xla_{xla}"),
                      *flags[xla]])
    for stem in ("odd", "gray"):
        graph, compiled = (np.asarray(Image.open(tmp_path / f"xla_{xla}" / f"{stem}_labels.png"))
                           for xla in (False, True))
        assert np.mean(graph != compiled) < 1e-3  # only near-ties may flip under a different op order
    scored = [evaluate.main(["--checkpoint", str(checkpoint), "--split", "val", "--limit", "3",
                             "--output", str(tmp_path / f"val_{xla}.json"), *flags[xla]])
              for xla in (False, True)]
    assert [result["xla"] for result in scored] == [False, True]
    assert scored[0]["metrics"]["miou"] == pytest.approx(scored[1]["metrics"]["miou"], abs=1e-3)


def test_missing_inputs_are_named(checkpoint, tmp_path):
    with pytest.raises(UserError, match="nothing.png: no such file"):
        predict.main(["--checkpoint", str(checkpoint), str(tmp_path / "nothing.png"), "--output", str(tmp_path)])


def test_export_says_one_line_and_serves_any_size_in_a_fresh_process(checkpoint, images, tmp_path, capsys):
    predict.main(["--checkpoint", str(checkpoint), "--export", str(tmp_path / "export")])
    assert capsys.readouterr().out == f"SavedModel written to {tmp_path / 'export'}\n"  # not Keras' list of captures
    # the SavedModel runs TensorFlow's graph, not XLA, which may flip near-ties
    predict.main(["--checkpoint", str(checkpoint), str(images / "odd.png"), "--output", str(tmp_path / "out"),
                  "--no-xla"])
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        "from PIL import Image\n"
        "served = tf.saved_model.load(sys.argv[1])\n"
        "image = np.asarray(Image.open(sys.argv[2]).convert('RGB'))[None]\n"
        "print(json.dumps(served.serve(tf.constant(image)).numpy()[0].tolist()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "export"), str(images / "odd.png")],
                          capture_output=True, text=True, check=True, timeout=300)
    served = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    expected = np.asarray(Image.open(tmp_path / "out" / "odd_labels.png"))
    assert served.shape == expected.shape == (37, 50)
    np.testing.assert_array_equal(served, expected)


def test_inputs_that_would_overwrite_each_other_are_refused(checkpoint, images, tmp_path):
    Image.open(images / "odd.png").save(images / "odd.jpg")
    with pytest.raises(UserError, match="odd_labels.png; rename one"):
        predict.main(["--checkpoint", str(checkpoint), str(images), "--output", str(tmp_path / "out")])


def test_existing_predictions_and_exports_are_replaced_only_with_overwrite(checkpoint, images, tmp_path):
    flags = ["--checkpoint", str(checkpoint), str(images), "--output", str(tmp_path / "out")]
    predict.main(flags)
    written = (tmp_path / "out" / "odd_labels.png").read_bytes()
    with pytest.raises(UserError, match=r"out/gray_labels.png exists \(4 of the 4 files this would write\): pass "
                                        "--overwrite"):
        predict.main(flags)
    assert (tmp_path / "out" / "odd_labels.png").read_bytes() == written
    predict.main([*flags, "--overwrite"])
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "keep.txt").write_text("a user's file")
    with pytest.raises(UserError, match="exported exists and is not empty: pass --overwrite"):
        predict.main(["--checkpoint", str(checkpoint), "--export", str(tmp_path / "exported")])


def test_a_committed_weight_record_is_taken_by_name(tmp_path, images):
    predict.main(["--checkpoint", "enet_paper", str(images), "--output", str(tmp_path / "named")])
    assert sorted(p.name for p in (tmp_path / "named").iterdir()) == [
        "gray_labels.png", "gray_overlay.png", "odd_labels.png", "odd_overlay.png"]
