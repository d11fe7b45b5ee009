"""Cost per 1,000 inferences and the build-vs-buy table, against numbers computed by hand."""

from __future__ import annotations

import pytest
import yaml
from rich.console import Console

from _latency_helpers import ROOT
from affectgate.core.errors import AffectgateError
from affectgate.evaluators.cost import (
    Pricing,
    VendorPrice,
    build_vs_buy,
    cost_per_1k_usd,
    load_pricing,
    print_build_vs_buy,
)


def test_cost_per_1k_by_hand():
    """0.36 USD/h at 10 clips/s = 36,000 clips per hour -> 0.01 USD per 1,000 clips."""
    assert cost_per_1k_usd(clips_per_s=10.0, hourly_price_usd=0.36) == pytest.approx(0.01)
    assert cost_per_1k_usd(clips_per_s=2.5, hourly_price_usd=0.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        cost_per_1k_usd(clips_per_s=0.0, hourly_price_usd=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        cost_per_1k_usd(clips_per_s=1.0, hourly_price_usd=-1.0)


def _vendor(name: str, unit: str, price: float) -> VendorPrice:
    return VendorPrice(name=name, title=name, unit=unit, price_usd=price, source="https://example.invalid", as_of="x")


PRICING = Pricing(
    version="t",
    monthly_volumes=(1000, 20_000_000),
    clip_seconds=3.0,
    images_per_clip=None,
    hours_per_month=730.0,
    utilisation=0.5,
    vendors=(
        _vendor("video", "per_minute", 0.10),
        _vendor("image", "per_image", 0.001),
        _vendor("tx", "per_1k_transactions", 1.0),
    ),
)


def test_build_vs_buy_by_hand():
    """Usage cost, always-on machines and each vendor's bill match hand arithmetic."""
    table = build_vs_buy(pricing=PRICING, clips_per_s=10.0, hourly_price_usd=0.36, frames_per_clip=4, target="cpu")
    small, large = table.loc[1000], table.loc[20_000_000]
    # usage: 0.01 USD per 1k clips
    assert small["cpu usage"] == pytest.approx(0.01) and large["cpu usage"] == pytest.approx(200.0)
    # capacity per machine-month: 10 clips/s x 3600 x 730 h x 0.5 = 13,140,000 clips
    assert small["cpu machines"] == 1 and large["cpu machines"] == 2
    assert small["cpu always-on"] == pytest.approx(0.36 * 730) and large["cpu always-on"] == pytest.approx(525.6)
    # per minute: 3 s = 0.05 min x 0.10 = 0.005 per clip; per image: 4 frames x 0.001; 4 tx at 1.0 per 1k
    assert small["video"] == pytest.approx(5.0) and small["image"] == pytest.approx(4.0)
    assert small["tx"] == pytest.approx(4.0) and large["video"] == pytest.approx(100_000.0)


def test_images_per_clip_overrides_model_frames():
    """A declared images_per_clip is what per-image vendors bill, not the model's frames."""
    pricing = PRICING.model_copy(update={"images_per_clip": 1})
    table = build_vs_buy(pricing=pricing, clips_per_s=10.0, hourly_price_usd=0.36, frames_per_clip=16)
    assert table.loc[1000, "image"] == pytest.approx(1.0) and table.loc[1000, "build usage"] == pytest.approx(0.01)


def test_project_pricing_file_cites_every_price():
    """evaluators/pricing.yaml validates; every vendor price has a source URL, a date and 'edit for your contract'."""
    pricing = load_pricing(path=ROOT / "evaluators" / "pricing.yaml")
    names = {v.name for v in pricing.vendors}
    assert {"aws_rekognition_video", "aws_rekognition_image", "azure_face", "hume_expression_video"} <= names
    for v in pricing.vendors:
        assert v.source.startswith("https://") and v.as_of and "edit for your contract" in v.note


def test_pricing_file_rejects_unknown_fields(tmp_path):
    """A misspelt key in the price sheet is an error naming the file."""
    raw = yaml.safe_load((ROOT / "evaluators" / "pricing.yaml").read_text(encoding="utf-8"))
    raw["clip_second"] = 2
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(AffectgateError, match="p.yaml"):
        load_pricing(path=path)


def test_print_helper_shows_volumes_vendors_and_sources():
    """The rich table lists every volume, every vendor column and each price's source."""
    table = build_vs_buy(pricing=PRICING, clips_per_s=10.0, hourly_price_usd=0.36, frames_per_clip=4)
    console = Console(record=True, width=200)
    print_build_vs_buy(table=table, pricing=PRICING, console=console)
    text = console.export_text()
    assert "20,000,000" in text and "100,000.00" in text and "https://example.invalid" in text
