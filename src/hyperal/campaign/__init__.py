"""The active-learning campaign: its file, its stages and the loop, a recipe
on the run kernel (:mod:`hyperal.runs`)."""

from hyperal.campaign.config import (
    TEMPLATE,
    CampaignConfig,
    ConfigError,
    load_config,
    parse_config,
)
from hyperal.campaign.loop import Campaign

__all__ = [
    "TEMPLATE",
    "Campaign",
    "CampaignConfig",
    "ConfigError",
    "load_config",
    "parse_config",
]
