import pytest

import papers
from common.schedule import Reported, Schedule


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
