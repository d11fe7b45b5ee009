"""Cost per 1,000 inferences from measured throughput, and a build-vs-buy table against vendor list prices.

Pure functions of numbers plus a YAML loader (``evaluators/pricing.yaml``). An inference is one
clip: a per-minute vendor bills ``clip_seconds`` of video for it, a per-image vendor
``images_per_clip`` images. Building is priced two ways: usage only (the measured throughput
times the hourly price, as if machines were rented by the second) and always on (whole machines
for the month, sized for the volume at the configured utilisation).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

from affectgate.core.errors import AffectgateError

PRICING_FILE = "pricing.yaml"


def cost_per_1k_usd(*, clips_per_s: float, hourly_price_usd: float) -> float:
    """USD per 1,000 inferences on hardware that costs ``hourly_price_usd`` and sustains ``clips_per_s``."""
    if clips_per_s <= 0 or not math.isfinite(clips_per_s):
        raise ValueError(f"throughput must be a positive number of clips per second, got {clips_per_s}")
    if hourly_price_usd < 0:
        raise ValueError(f"hourly price must be >= 0, got {hourly_price_usd}")
    return hourly_price_usd / (clips_per_s * 3600.0) * 1000.0


class VendorPrice(BaseModel):
    """One vendor API's list price."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9_]+$", description="Column id.")
    title: str = Field(description="Product and operation priced.")
    unit: Literal["per_minute", "per_image", "per_1k_transactions"] = Field(
        description="Billing unit: a minute of video, one image, or 1,000 image transactions."
    )
    price_usd: float = Field(ge=0, description="Price per unit in USD.")
    source: str = Field(description="Public URL of the list price.")
    as_of: str = Field(description="When the price was read (YYYY-MM); prices change.")
    note: str = Field(default="", description="Tier, region, caveats; always 'edit for your contract'.")


class Pricing(BaseModel):
    """``evaluators/pricing.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(description="Version of the price sheet.")
    currency: Literal["USD"] = Field(default="USD", description="Currency of every price.")
    monthly_volumes: tuple[int, ...] = Field(min_length=1, description="Clip inferences per month to compare at.")
    clip_seconds: float = Field(gt=0, description="Seconds of video per clip inference.")
    images_per_clip: int | None = Field(
        default=None, ge=1, description="Images per clip for per-image vendors; None = the model's frames per clip."
    )
    hours_per_month: float = Field(default=730.0, gt=0, description="Hours an always-on machine is billed per month.")
    utilisation: float = Field(default=0.5, gt=0, le=1, description="Usable share of an always-on machine's capacity.")
    vendors: tuple[VendorPrice, ...] = Field(min_length=1, description="Vendor list prices.")


def load_pricing(*, path: Path) -> Pricing:
    """Read and validate a price sheet; problems name the file."""
    if not path.is_file():
        raise AffectgateError(f"pricing file not found: {path}", fix="write evaluators/pricing.yaml (see the docs)")
    try:
        return Pricing.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise AffectgateError(f"invalid pricing file {path}: {' '.join(str(exc).splitlines()[:3])}") from None


def vendor_cost_per_clip_usd(*, vendor: VendorPrice, clip_seconds: float, images_per_clip: int) -> float:
    """What ``vendor`` charges to analyse one clip."""
    if vendor.unit == "per_minute":
        return vendor.price_usd * clip_seconds / 60.0
    if vendor.unit == "per_image":
        return vendor.price_usd * images_per_clip
    return vendor.price_usd * images_per_clip / 1000.0


def build_vs_buy(
    *, pricing: Pricing, clips_per_s: float, hourly_price_usd: float, frames_per_clip: int, target: str = "build"
) -> pd.DataFrame:
    """Monthly USD per volume: building on the target (usage only, always on) and buying from each vendor.

    One row per monthly volume (index ``monthly_volume``); columns ``<target> usage``,
    ``<target> always-on``, ``<target> machines`` and one column per vendor name.
    """
    images = pricing.images_per_clip or frames_per_clip
    per_clip = cost_per_1k_usd(clips_per_s=clips_per_s, hourly_price_usd=hourly_price_usd) / 1000.0
    capacity = clips_per_s * 3600.0 * pricing.hours_per_month * pricing.utilisation  # clips per machine-month
    rows = []
    for volume in pricing.monthly_volumes:
        machines = max(1, math.ceil(volume / capacity))
        row: dict[str, float | int] = {
            "monthly_volume": volume,
            f"{target} usage": volume * per_clip,
            f"{target} always-on": machines * hourly_price_usd * pricing.hours_per_month,
            f"{target} machines": machines,
        }
        for v in pricing.vendors:
            cost = vendor_cost_per_clip_usd(vendor=v, clip_seconds=pricing.clip_seconds, images_per_clip=images)
            row[v.name] = volume * cost
        rows.append(row)
    return pd.DataFrame(rows).set_index("monthly_volume")


def print_build_vs_buy(
    *, table: pd.DataFrame, pricing: Pricing, console: Console | None = None, title: str = ""
) -> None:
    """Print a build-vs-buy table with the price sources underneath (rich)."""
    console = console or Console()
    out = Table(title=title or "build vs buy, USD per month", show_lines=False)
    out.add_column("clips / month", justify="right")
    for col in table.columns:
        out.add_column(str(col), justify="right")
    for volume, row in table.iterrows():
        cells = [f"{int(volume):,}"]
        for col in table.columns:
            value = row[col]
            cells.append(f"{int(value):,}" if str(col).endswith("machines") else f"{value:,.2f}")
        out.add_row(*cells)
    console.print(out)
    for v in pricing.vendors:
        unit = {"per_minute": "/ min of video", "per_image": "/ image", "per_1k_transactions": "/ 1k transactions"}
        console.print(f"  {v.name}: {v.price_usd:g} USD {unit[v.unit]} — {v.source} (as of {v.as_of}; {v.note})")
