"""The GPU catalogue: canonical names and each provider's native ids, both directions.

Canonical names are short and lower-case (``h100``, ``a100_80g``, ``rtx_4090``). Every
provider spells GPUs its own way: RunPod ``"NVIDIA H100 80GB HBM3"``, Lambda an instance type
part (``gpu_8x_h100_sxm5`` → ``h100_sxm5``), Vast ``"H100 SXM"``. Fly.io sells no GPUs.

    >>> native_ids("h100", "runpod")
    ('NVIDIA H100 80GB HBM3',)
    >>> canonical("NVIDIA GeForce RTX 4090", "runpod")
    'rtx_4090'
    >>> normalize_gpu("H100")
    'h100'
    >>> family_members("a100")  # a family name: every variant of the A100
    ('a100_80g', 'a100_40g')
    >>> normalize_gpu("h10")
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: gpu='h10' is not a GPU atlas_nb knows. \
Did you mean 'h100'? Use a canonical name (see atlas_nb.gpus.names()) or a provider's native id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .errors import ValidationError, did_you_mean

GPU_PROVIDERS = ("runpod", "lambda", "vast")


@dataclass(frozen=True)
class GpuModel:
    """One GPU model and how each provider names it (first native id is the preferred one)."""

    name: str
    display: str
    vram_gb: int
    vendor: str = "nvidia"
    runpod: tuple[str, ...] = ()
    lambda_: tuple[str, ...] = ()
    vast: tuple[str, ...] = ()
    #: the family this model is a variant of (``a100`` for ``a100_80g``); "" = its own name
    family_name: str = ""

    def ids(self, provider: str) -> tuple[str, ...]:
        return {"runpod": self.runpod, "lambda": self.lambda_, "vast": self.vast}.get(provider, ())

    @property
    def family(self) -> str:
        return self.family_name or self.name


CATALOGUE: tuple[GpuModel, ...] = (
    GpuModel("b200", "B200", 180, runpod=("NVIDIA B200",), lambda_=("b200_sxm6",), vast=("B200",)),
    GpuModel(
        "h200", "H200", 141, runpod=("NVIDIA H200", "NVIDIA H200 NVL"), vast=("H200", "H200 NVL")
    ),
    GpuModel(
        "h100",
        "H100 SXM",
        80,
        runpod=("NVIDIA H100 80GB HBM3",),
        lambda_=("h100_sxm5",),
        vast=("H100 SXM",),
        family_name="h100",
    ),
    GpuModel(
        "h100_pcie",
        "H100 PCIe",
        80,
        runpod=("NVIDIA H100 PCIe",),
        lambda_=("h100_pcie",),
        vast=("H100 PCIE",),
        family_name="h100",
    ),
    GpuModel(
        "h100_nvl",
        "H100 NVL",
        94,
        runpod=("NVIDIA H100 NVL",),
        vast=("H100 NVL",),
        family_name="h100",
    ),
    GpuModel("gh200", "GH200", 96, lambda_=("gh200",), vast=("GH200",)),
    GpuModel(
        "a100_80g",
        "A100 80GB",
        80,
        runpod=("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"),
        lambda_=("a100_80gb_sxm4", "a100_sxm4_80gb"),
        vast=("A100 SXM4", "A100 PCIE"),
        family_name="a100",
    ),
    GpuModel(
        "a100_40g",
        "A100 40GB",
        40,
        lambda_=("a100_sxm4", "a100"),
        vast=("A100 SXM4", "A100 PCIE"),
        family_name="a100",
    ),
    GpuModel("a40", "A40", 48, runpod=("NVIDIA A40",), vast=("A40",)),
    GpuModel("l40s", "L40S", 48, runpod=("NVIDIA L40S",), vast=("L40S",)),
    GpuModel("l40", "L40", 48, runpod=("NVIDIA L40",), vast=("L40",)),
    GpuModel("l4", "L4", 24, runpod=("NVIDIA L4",), vast=("L4",)),
    GpuModel("a10", "A10", 24, lambda_=("a10",), vast=("A10",)),
    GpuModel(
        "a6000",
        "RTX A6000",
        48,
        runpod=("NVIDIA RTX A6000",),
        lambda_=("a6000",),
        vast=("RTX A6000",),
    ),
    GpuModel("a5000", "RTX A5000", 24, runpod=("NVIDIA RTX A5000",), vast=("RTX A5000",)),
    GpuModel("a4500", "RTX A4500", 20, runpod=("NVIDIA RTX A4500",), vast=("RTX A4500",)),
    GpuModel("a4000", "RTX A4000", 16, runpod=("NVIDIA RTX A4000",), vast=("RTX A4000",)),
    GpuModel(
        "rtx_pro_6000",
        "RTX PRO 6000",
        96,
        runpod=(
            "NVIDIA RTX PRO 6000 Blackwell Server Edition",
            "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
        ),
        vast=("RTX PRO 6000 WS", "RTX PRO 6000 S"),
    ),
    GpuModel(
        "rtx_6000_ada",
        "RTX 6000 Ada",
        48,
        runpod=("NVIDIA RTX 6000 Ada Generation",),
        vast=("RTX 6000Ada",),
    ),
    GpuModel("rtx_6000", "Quadro RTX 6000", 24, lambda_=("rtx6000",), vast=("Q RTX 6000",)),
    GpuModel(
        "rtx_4000_ada",
        "RTX 4000 Ada",
        20,
        runpod=("NVIDIA RTX 4000 Ada Generation",),
        vast=("RTX 4000Ada",),
    ),
    GpuModel("rtx_5090", "RTX 5090", 32, runpod=("NVIDIA GeForce RTX 5090",), vast=("RTX 5090",)),
    GpuModel("rtx_4090", "RTX 4090", 24, runpod=("NVIDIA GeForce RTX 4090",), vast=("RTX 4090",)),
    GpuModel("rtx_4080", "RTX 4080", 16, vast=("RTX 4080",)),
    GpuModel("rtx_3090", "RTX 3090", 24, runpod=("NVIDIA GeForce RTX 3090",), vast=("RTX 3090",)),
    GpuModel("rtx_3060", "RTX 3060", 12, vast=("RTX 3060",)),
    GpuModel(
        "v100",
        "V100 16GB",
        16,
        runpod=("Tesla V100-SXM2-16GB", "Tesla V100-PCIE-16GB"),
        lambda_=("v100",),
        vast=("Tesla V100",),
    ),
    GpuModel("t4", "T4", 16, runpod=("Tesla T4",), vast=("Tesla T4",)),
    GpuModel("mi300x", "MI300X", 192, vendor="amd", runpod=("AMD Instinct MI300X OAM",)),
)

_BY_NAME = {m.name: m for m in CATALOGUE}
_FAMILIES: dict[str, tuple[str, ...]] = {}
for _m in CATALOGUE:
    _FAMILIES[_m.family] = (*_FAMILIES.get(_m.family, ()), _m.name)


def names() -> list[str]:
    """Every canonical GPU name, sorted."""
    return sorted(_BY_NAME)


def model(name: str) -> GpuModel:
    """The :class:`GpuModel` for a canonical name (raises ``ValidationError`` otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise _unknown(name) from None


def family_members(name: str) -> tuple[str, ...]:
    """The canonical GPUs a family name stands for (``a100`` → ``a100_80g``, ``a100_40g``);
    empty when ``name`` is a model's own name or no family. A model's name means that model
    only: ``h100`` is the H100 SXM, its siblings are :func:`variants`."""
    key = name.strip().lower()
    return () if key in _BY_NAME else _FAMILIES.get(key, ())


def variants(name: str) -> tuple[str, ...]:
    """Every model of the family a canonical GPU belongs to, itself included.

    >>> variants("h100")
    ('h100', 'h100_pcie', 'h100_nvl')
    >>> variants("rtx_4090")
    ('rtx_4090',)
    """
    return _FAMILIES[model(name).family]


def family_of(name: str | None) -> str | None:
    """The family of a canonical GPU name (None for names atlas_nb does not catalogue)."""
    found = _BY_NAME.get(name) if isinstance(name, str) else None
    return found.family if found else None


def native_ids(name: str, provider: str) -> tuple[str, ...]:
    """The provider's ids for a canonical GPU (empty when the provider does not sell it)."""
    return model(name).ids(provider)


@cache
def _reverse(provider: str) -> dict[str, list[GpuModel]]:
    out: dict[str, list[GpuModel]] = {}
    for m in CATALOGUE:
        for native in m.ids(provider):
            out.setdefault(native.lower(), []).append(m)
    return out


def canonical(native_id: str, provider: str, *, vram_gb: float | None = None) -> str | None:
    """The canonical name for a provider's native id, or None when it is not catalogued.

    Vast uses one name for two memory sizes (``"A100 SXM4"``); pass ``vram_gb`` to choose.

    >>> canonical("A100 SXM4", "vast", vram_gb=79.6), canonical("A100 SXM4", "vast", vram_gb=40)
    ('a100_80g', 'a100_40g')
    """
    found = _reverse(provider).get(native_id.lower())
    if not found:
        return None
    if len(found) == 1 or vram_gb is None:
        return found[0].name
    return min(found, key=lambda m: abs(m.vram_gb - vram_gb)).name


def _all_native() -> dict[str, str]:
    return {native.lower(): m.name for m in CATALOGUE for p in GPU_PROVIDERS for native in m.ids(p)}


def normalize_gpu(value: str) -> str:
    """Validate a GPU given by canonical name (any case) or native id; returns the input form.

    Canonical names come back lower-cased; native ids come back unchanged.
    """
    if not isinstance(value, str) or not value.strip():
        raise _unknown(str(value))
    text = value.strip()
    if text.lower() in _BY_NAME or family_members(text):
        return text.lower()
    if text.lower().replace("-", "_").replace(" ", "_") in _BY_NAME:
        return text.lower().replace("-", "_").replace(" ", "_")
    if text.lower() in _all_native():
        return text
    raise _unknown(text)


def to_canonical(value: str) -> str | None:
    """Canonical name for a canonical name or any provider's native id."""
    text = value.strip().lower()
    if text in _BY_NAME:
        return text
    return _all_native().get(text)


def _unknown(value: str) -> ValidationError:
    return ValidationError(
        f"gpu={value!r} is not a GPU atlas_nb knows.{did_you_mean(value.lower(), _BY_NAME)}",
        field="gpu",
        hint="Use a canonical name (see atlas_nb.gpus.names()) or a provider's native id.",
    )
