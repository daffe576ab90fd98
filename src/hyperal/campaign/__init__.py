"""The active-learning campaign: configuration, store, executors and the loop."""

from hyperal.campaign.config import (
    TEMPLATE,
    CampaignConfig,
    ConfigError,
    load_config,
    parse_config,
)
from hyperal.campaign.executors import InProcessExecutor, make_executor
from hyperal.campaign.loop import Campaign
from hyperal.campaign.progress import Progress, StageKind
from hyperal.campaign.results import ErrorSummary, LoopMetrics, SplitErrors
from hyperal.campaign.stages import StageContext
from hyperal.campaign.store import Store

__all__ = [
    "TEMPLATE",
    "Campaign",
    "CampaignConfig",
    "ConfigError",
    "InProcessExecutor",
    "ErrorSummary",
    "LoopMetrics",
    "Progress",
    "SplitErrors",
    "StageContext",
    "StageKind",
    "Store",
    "load_config",
    "make_executor",
    "parse_config",
]
