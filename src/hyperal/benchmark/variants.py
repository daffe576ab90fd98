"""A benchmark's variants: as the file declares them (:class:`VariantConfig`,
what a store's fingerprint records) and as they run (:class:`Variant`: the
typed scheme and the whole selection section, resolved against the base
campaign by :meth:`hyperal.benchmark.config.BenchmarkConfig.variants_of`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from hyperal.campaign.config import CampaignConfig, SelectionConfig
from hyperal.evolve.rules import RULES, Rule
from hyperal.evolve.schemes import SCHEMES
from hyperal.evolve.settings import SchemeBase
from hyperal.runs.settings import Settings


class VariantConfig(Settings):
    """One way of exploring: a scheme, its parameters and selection."""

    name: str
    scheme: str | None = Field(
        None,
        description="a family (md, relax, ce, dimer) or a registry name "
        "(advb_md, ...); default: the variant's name",
    )
    bias: dict[str, Any] | None = Field(
        None,
        description="the adversarial bias, as a campaign's scheme.bias: "
        "{alpha: 2.0}, {alpha: auto}, {gamma: 0.5}",
    )
    params: dict[str, Any] = {}
    steps: int | None = Field(None, ge=1, description="default: the campaign's")
    selection: dict[str, Any] = Field(
        {}, description="overrides of the campaign's selection keys"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", value) or value == "shared":
            raise ValueError(
                f"variant name {value!r}: letters, digits, '_' and '-' only "
                "(and not 'shared')"
            )
        return value

    @property
    def scheme_name(self) -> str:
        return self.scheme or self.name


@dataclass(frozen=True)
class Variant:
    """A variant as it runs: the file's entry (``declared``: what the
    store's fingerprint records) resolved against the base campaign — its
    typed scheme (the family's ``scheme_params`` under its own ``params``,
    its steps set) and its whole selection section (the campaign's, with the
    variant's keys changed). Built once, by
    :meth:`hyperal.benchmark.config.BenchmarkConfig.variants_of`."""

    declared: VariantConfig
    scheme: SchemeBase
    selection: SelectionConfig

    @property
    def name(self) -> str:
        return self.declared.name

    @property
    def rule(self) -> Rule:
        return RULES[self.selection.rule]

    def campaign(self, base: CampaignConfig, seed: int, store: str) -> CampaignConfig:
        """The campaign this variant runs in the replicate seeded ``seed``."""
        return base.model_copy(
            update={
                "seed": seed,
                "store": store,
                "scheme": self.scheme,
                "selection": self.selection,
            }
        )


def default_variants() -> list[VariantConfig]:
    """All eight schemes, and plain MD with random selection (the control)."""
    return [VariantConfig(name=name) for name in SCHEMES] + [
        VariantConfig(name="md-random", scheme="md", selection={"rule": "random"})
    ]
