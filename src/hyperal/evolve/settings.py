"""Typed scheme settings: how a campaign file says which evolver runs, with
what parameters and with what adversarial bias.

One model per evolver family — ``md``, ``relax``, ``ce``, ``dimer`` — whose
``params`` are read from the evolver's own dataclass fields (one list of
parameters, one set of defaults), and whose bias is said once, in ``bias``::

    scheme: {name: md, steps: 100, bias: {alpha: auto}, params: {temperature_K: 600}}
    scheme: {name: ce, bias: {gamma: 0.5}}
    scheme: {name: relax}                       # no bias: the plain scheme

The registry names of the biased twins (``advb_md``, ``advb_ce``, …) load as
aliases: ``{name: advb_md, params: {alpha: 2}}`` is ``{name: md, bias: {alpha:
2}}``, and ``{name: advb_ce}`` is ``{name: ce, bias: {}}`` (the default
strength). A scheme written to a store or a report is written in that
registry form (:meth:`SchemeBase.legacy`), so stores written before typed
schemes still match their files.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

import numpy as np
from ase.calculators.emt import EMT
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from hyperal.evolve.base import Evolver
from hyperal.evolve.contour import ContourEvolver
from hyperal.evolve.dimer import DimerEvolver
from hyperal.evolve.md import MDEvolver
from hyperal.evolve.relax import RelaxEvolver
from hyperal.evolve.schemes import SCHEMES, make_evolver
from hyperal.utils import ParameterError

BIASED = "advb_"
"""The registry-name prefix of an adversarially biased scheme."""

DEFAULT = "advb_ce"
"""The scheme of a file that names none: steered contour exploration."""

#: the fields of the α bias and of the γ steering (in ``bias``, not ``params``)
_ALPHA = ("alpha", "alpha_relative", "alpha_smoothing")
_GAMMA = ("gamma",)

TWIN_ONLY = _ALPHA[1:]
"""Parameters that act only with a bias (the adaptive α's)."""


class _Strict(BaseModel):
    # an unknown key is an error, and so is a NaN or an infinity
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _default(evolver: type[Evolver], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(evolver) if f.name == name)


class AlphaBias(_Strict):
    """The biased surface U − α·σ_U, F + α·∇σ_U of MD, relaxation and dimer."""

    alpha: float | Literal["auto"] = Field(
        SCHEMES["advb_md"].defaults["alpha"],
        description="bias strength α >= 0 (0: unbiased), or auto: α set every "
        "step so the mean bias force is alpha_relative of the mean force",
    )
    alpha_relative: float = Field(
        _default(Evolver, "alpha_relative"),
        gt=0,
        description="with alpha: auto, the target ratio of bias to committee force",
    )
    alpha_smoothing: float = Field(
        _default(Evolver, "alpha_smoothing"),
        ge=0,
        lt=1,
        description="with alpha: auto, the weight of the previous α (0 to < 1)",
    )

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value):
        if value != "auto" and value < 0:
            raise ValueError(f"must be >= 0 or auto, got {value}")
        return value

    @property
    def on(self) -> bool:
        """Whether the bias acts (α is ``auto`` or above 0)."""
        return self.alpha == "auto" or self.alpha != 0


class GammaBias(_Strict):
    """The steered tangent of contour exploration."""

    gamma: float = Field(
        SCHEMES["advb_ce"].defaults["gamma"],
        ge=0,
        description="steering strength γ >= 0 toward rising σ_U (0: unsteered)",
    )

    @property
    def on(self) -> bool:
        """Whether the steering acts (γ above 0)."""
        return self.gamma != 0


def _plain_hint(hint):
    """A dataclass field's type as a settings file gives it: an array is a
    (nested) list of numbers."""
    if hint is np.ndarray:
        return list
    args = typing.get_args(hint)
    if np.ndarray in args:
        return typing.Union[tuple(list if a is np.ndarray else a for a in args)]  # noqa: UP007
    return hint


def params_model(evolver: type[Evolver], family: str) -> type[BaseModel]:
    """The settings model of ``evolver``'s parameters: every field of the
    dataclass but the calculator, the random stream and the bias, each with
    the dataclass's type and default."""
    hints = typing.get_type_hints(evolver)
    skip = {"calculator", "rng", *_ALPHA, *_GAMMA}
    fields = {
        f.name: (_plain_hint(hints[f.name]), f.default)
        for f in dataclasses.fields(evolver)
        if f.init and f.name not in skip
    }
    # the name the module binds it to, so that it pickles by reference (the
    # tasks receive a scheme as its settings model)
    return create_model(
        f"{family.upper() if len(family) <= 2 else family.capitalize()}Params",
        __base__=_Strict,
        __doc__=f"The parameters of {evolver.__name__} (scheme ``{family}``).",
        **fields,
    )


MDParams = params_model(MDEvolver, "md")
RelaxParams = params_model(RelaxEvolver, "relax")
CEParams = params_model(ContourEvolver, "ce")
DimerParams = params_model(DimerEvolver, "dimer")


class SchemeBase(_Strict):
    """What every scheme says: its family, steps, bias and parameters."""

    name: str
    steps: int = Field(100, ge=1, description="evolution steps per start")
    bias: Any = None
    params: Any = None

    @model_validator(mode="before")
    @classmethod
    def _registry_name(cls, data: Any) -> Any:
        """``advb_<family>`` with the bias among ``params`` is ``<family>``
        with ``bias``; a plain registry name keeps a zero bias it names."""
        if isinstance(data, dict) and "name" not in data:
            data = {**data, "name": DEFAULT}
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return data
        name = data["name"]
        family = name.removeprefix(BIASED)
        keys = _GAMMA if family == "ce" else _ALPHA
        params = data.get("params")
        if not isinstance(params, dict) or not any(k in params for k in keys):
            if name.startswith(BIASED) and "bias" not in data:
                return {**data, "name": family, "bias": {}}
            bias = data.get("bias")
            if name.startswith(BIASED) and isinstance(bias, dict):
                if bias.get(keys[0], 1) == 0:
                    raise ValueError(
                        f"bias.{keys[0]}: must be > 0 for {name!r} (got 0); use "
                        f"{family!r} for the unbiased scheme"
                    )
            return {**data, "name": family}
        given = {k: params[k] for k in keys if k in params}
        rest = {k: v for k, v in params.items() if k not in keys}
        if "bias" in data:
            raise ValueError(
                f"{', '.join(given)}: give the bias in bias, not in params as well"
            )
        strength = given.get(keys[0])
        if name.startswith(BIASED) and strength == 0:
            raise ValueError(
                f"params.{keys[0]}: must be > 0 for {name!r} (got 0); use "
                f"{family!r} for the unbiased scheme"
            )
        if not name.startswith(BIASED):
            if strength is None:
                raise ValueError(
                    f"params.{', '.join(given)}: acts only with a bias; give "
                    f"bias: {{{keys[0]}: ...}} or use {BIASED}{family!s}"
                )
            if strength != 0:
                raise ValueError(
                    f"params.{keys[0]}: the plain scheme {name!r} is unbiased "
                    f"(got {strength!r}); write bias: {{{keys[0]}: {strength}}} "
                    "for the adversarial one"
                )
        return {**data, "name": family, "bias": given, "params": rest}

    @property
    def biased(self) -> bool:
        """Whether the adversarial bias acts."""
        return self.bias is not None and self.bias.on

    @property
    def full_name(self) -> str:
        """The registry name (:data:`hyperal.evolve.SCHEMES`): the family,
        ``advb_`` before it when biased — as rows and reports name it."""
        return f"{BIASED}{self.name}" if self.biased else self.name

    def evolver(self, calculator, rng=None) -> Evolver:
        """The evolver these settings configure, on ``calculator`` (the
        committee, biased or not), its random stream seeded by ``rng``."""
        return make_evolver(self.full_name, calculator, self.given_params, rng=rng)

    @property
    def given_params(self) -> dict[str, Any]:
        """The evolver parameters the file set, the bias's among them (what
        :func:`hyperal.evolve.make_evolver` takes with :attr:`full_name`)."""
        given = self.params.model_dump(exclude_unset=True)
        if self.bias is not None:
            given.update(self.bias.model_dump(exclude_unset=True))
        return given

    def legacy(self) -> dict[str, Any]:
        """The scheme in its registry form ``{name, steps, params}``: how a
        store records it (so stores written before typed schemes match)."""
        return {
            "name": self.full_name,
            "steps": self.steps,
            "params": self.given_params,
        }

    @model_serializer(mode="plain")
    def _serialize(self) -> dict[str, Any]:
        return self.legacy()


class MDScheme(SchemeBase):
    """Langevin NVT / NVE molecular dynamics (:class:`MDEvolver`)."""

    name: Literal["md"]
    bias: AlphaBias | None = None
    params: MDParams = MDParams()


class RelaxScheme(SchemeBase):
    """FIRE / BFGS relaxation (:class:`RelaxEvolver`)."""

    name: Literal["relax"]
    bias: AlphaBias | None = None
    params: RelaxParams = RelaxParams()


class CEScheme(SchemeBase):
    """Contour exploration (:class:`ContourEvolver`); its bias is the steering γ."""

    name: Literal["ce"]
    bias: GammaBias | None = None
    params: CEParams = CEParams()


class DimerScheme(SchemeBase):
    """Dimer saddle search (:class:`DimerEvolver`)."""

    name: Literal["dimer"]
    bias: AlphaBias | None = None
    params: DimerParams = DimerParams()


FAMILIES = ("md", "relax", "ce", "dimer")
"""The evolver families a scheme names (each with its biased twin ``advb_*``)."""


def _family(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("name", DEFAULT)
    else:
        name = getattr(value, "name", None)
    if not isinstance(name, str):
        return None
    family = name.removeprefix(BIASED)
    return family if family in FAMILIES else None


SchemeSettings = Annotated[
    Annotated[MDScheme, Tag("md")]
    | Annotated[RelaxScheme, Tag("relax")]
    | Annotated[CEScheme, Tag("ce")]
    | Annotated[DimerScheme, Tag("dimer")],
    Discriminator(
        _family,
        custom_error_type="unknown_choice",
        custom_error_message="unknown scheme",
        custom_error_context={
            "key": "name",
            "what": "scheme",
            "allowed": ", ".join(SCHEMES),
        },
    ),
]
"""A scheme of a settings file: one of :class:`MDScheme`, :class:`RelaxScheme`,
:class:`CEScheme`, :class:`DimerScheme`, chosen by ``name`` (a family or a
registry name ``advb_*``)."""


class SchemeSection(_Strict):
    """A file section holding one scheme (its errors read ``scheme.params.x``)."""

    scheme: SchemeSettings


def scheme_settings(data: Any) -> SchemeBase:
    """Validate a scheme (a dict as from YAML) into its typed model; raises
    pydantic's ValidationError, located as in :class:`SchemeSection`."""
    return SchemeSection.model_validate({"scheme": data}).scheme


def scheme_problem(scheme: SchemeBase, where: str = "scheme") -> str | None:
    """The evolver's refusal of a typed scheme's values (a range the types do
    not say: ``timestep_fs must be > 0, got -1``), built once on EMT, as one
    line naming the key where the file gives it (``scheme.params.timestep_fs:
    must be > 0, got -1``); None when the evolver takes them."""

    try:
        scheme.evolver(EMT())
    except ParameterError as exc:
        for section in ("params", "bias"):
            model = getattr(scheme, section)
            if model is not None and exc.key in type(model).model_fields:
                return f"{where}.{section}.{exc.key}: {exc.detail}"
        return f"{where}: {exc}"
    except (ValueError, TypeError) as exc:
        return f"{where}: {exc}"
    return None


def default_scheme() -> SchemeBase:
    """A campaign's default (:data:`DEFAULT`): contour exploration steered at
    the default γ."""
    return scheme_settings({"name": DEFAULT})
