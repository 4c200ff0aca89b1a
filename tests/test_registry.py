
import pytest

from segpapers import papers
from segpapers.common import results
from segpapers.experiment.spec import parse_model_option, parse_size
from segpapers.common.schedule import Reported, Schedule
from tests.test_cli import TINY_MODELS
from tests.paths import REPO



def test_registry_lists_models_and_builds_by_name():
    assert {"segnet", "segnet_basic"} <= set(papers.list_models())
    model = papers.build_model("segnet_basic", 7, (32, 32, 3))
    assert model.output_shape == (None, 32, 32, 7)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match="valid models: .*segnet_basic"):
        papers.build_model("segnett", 3)


@pytest.mark.parametrize("name", papers.list_models())
def test_every_model_has_a_paper_schedule_and_reported_numbers(name):
    schedule = papers.get_schedule(name, "paper")
    assert isinstance(schedule, Schedule) and schedule.source and schedule.epochs > 0
    reported = papers.get_reported(name)
    assert reported and all(isinstance(r, Reported) and r.source and r.metrics for r in reported)


def test_schedule_rejects_unknown_values():
    with pytest.raises(ValueError, match="lr_policy"):
        papers.get_schedule("segnet").replace(lr_policy="cosine")
    with pytest.raises(ValueError, match="no 'fast' schedule"):
        papers.get_schedule("segnet", "fast")


def test_vgg_models_record_random_init_as_a_deviation():
    assert "random init" in papers.deviations("segnet", {})[0]
    assert papers.deviations("segnet", {"backbone_weights": "vgg16.h5"}) == []
    assert papers.deviations("segnet_basic", {}) == []


@pytest.mark.parametrize("name", papers.list_models())
def test_same_shaped_kernels_start_from_different_random_draws(name):
    size, flags = TINY_MODELS[name]
    options = dict(parse_model_option(flag.split("=", 1)[1]) for flag in flags if flag.startswith("--model-option="))
    model = papers.build_model(name, 3, (*parse_size(size), 3), **options)
    # Random initializers only: FCN's bilinear upsampling kernels are equal by design.
    kernels = [layer.kernel.numpy() for layer in model.layers
               if hasattr(layer, "kernel") and hasattr(layer.kernel_initializer, "seed")]
    fingerprints = {(k.shape, k.ravel()[:8].tobytes()) for k in kernels}
    assert len(fingerprints) == len(kernels)


def test_a_protocol_trains_in_mixed_bfloat16_only_where_its_precision_ab_passes():
    """benchmarks.precision_ab's rule: bfloat16 only where its recorded A/B follows float32 within tolerance."""
    for name in papers.list_models():
        for protocol in papers.list_protocols(name):
            if papers.get_schedule(name, protocol).precision != "mixed_bfloat16":
                continue
            ab = REPO / "results" / "ab" / f"{name}_{protocol}_precision.json"
            assert ab.exists(), f"{name} {protocol} trains in mixed_bfloat16 without an A/B: {ab} is missing"
            assert results.read_json(ab)["verdict"]["passes"], f"{ab} says mixed_bfloat16 does not pass"
