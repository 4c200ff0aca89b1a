from papers.deconvnet.model import build_deconvnet
from papers.deconvnet.schedule import REPORTED, SCHEDULES

MODELS = {"deconvnet": build_deconvnet}
