from papers.enet.model import build_enet
from papers.enet.schedule import REPORTED, SCHEDULES

MODELS = {"enet": build_enet}

__all__ = ["MODELS", "REPORTED", "SCHEDULES"]
