"""The active-learning campaign: its file, its stages and the loop, a recipe
on the run kernel (:mod:`hyperal.runs`)."""

from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.loop import Campaign
from hyperal.campaign.template import TEMPLATE
from hyperal.campaign.validate import load_config, parse_config
from hyperal.runs.settings import ConfigError

__all__ = [
    "TEMPLATE",
    "Campaign",
    "CampaignConfig",
    "ConfigError",
    "load_config",
    "parse_config",
]
