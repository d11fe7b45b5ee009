"""``affectgate cache``: the clip cache holds decoded clips and face crops (biometric data): purge it."""

from __future__ import annotations

from typing import Annotated

import typer

from affectgate.cli.common import console, fail
from affectgate.core.errors import AffectgateError

cache_app = typer.Typer(
    help="The clip cache (decoded clips, face crops: biometric data): retention and purge.", no_args_is_help=True
)


@cache_app.command("purge")
def cache_purge(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            help="Purge entries last written more than this many days ago (default: everything). "
            "The size bound (AFFECTGATE_CLIP_CACHE_MAX_BYTES) is applied as well.",
        ),
    ] = None,
) -> None:
    """Delete cached clips and face crops and append one ``cache.purged`` audit event (counts and bytes)."""
    from affectgate.datasets.cache_retention import purge_cache
    from affectgate.gate.workspace import audit_log
    from affectgate.project.settings import Settings

    try:
        settings = Settings()
        cache_dir = settings.workspace_dir / "cache" / "clips"
        result = purge_cache(
            cache_dir=cache_dir,
            older_than_days=0.0 if older_than is None else older_than,
            max_bytes=settings.clip_cache_max_bytes or None,
            log=audit_log(settings),
            actor=settings.actor,
            requested=True,
        )
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(
        f"purged {result.removed_files} cached clips/face crops ({result.removed_bytes / 1e6:.1f} MB) from "
        f"{cache_dir}; kept {result.kept_files} ({result.kept_bytes / 1e6:.1f} MB); audited as cache.purged",
        highlight=False,
        markup=False,
    )
