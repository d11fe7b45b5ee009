"""``affectgate login``: authenticate once, so that gate runs name a person as their submitter.

The password is checked against the dashboard's bcrypt credentials file (the same users and roles);
the result is a time-limited token signed with a key generated for this installation (itsdangerous),
written to ``<workspace>/identity/login.token`` (mode 0600) and read by every later ``affectgate gate``.
In CI, the provider's OIDC token does the same without a password (docs/security.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from affectgate.cli.common import console, fail
from affectgate.core.errors import AffectgateError
from affectgate.project.settings import get_settings

commands = typer.Typer()  # top-level commands; attached to the app in affectgate.cli


@commands.command("login")
def login(
    user: Annotated[str, typer.Option(help="Your user name in the credentials file.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Your password (prompted).")],
    print_token: Annotated[
        bool, typer.Option("--print-token", help="Also print the token (e.g. for AFFECTGATE_LOGIN_TOKEN elsewhere).")
    ] = False,
) -> None:
    """Check your password and store a signed token: your later gate runs are submitted by you."""
    from affectgate.cli.review import authenticate
    from affectgate.oversight.identity import check_credentials_allowed, mint_login_token, save_login_token

    settings = get_settings()
    try:
        check_credentials_allowed(settings=settings)
        role = authenticate(settings=settings, user=user, password=password)
        token = mint_login_token(settings=settings, user=user, role=role)
        path = save_login_token(settings=settings, token=token)
    except AffectgateError as exc:
        raise fail(exc) from None
    console.print(
        f"logged in as {user} ({role}); token valid {settings.login_token_hours:g} h, stored in {path}", soft_wrap=True
    )
    if print_token:
        console.print(token, soft_wrap=True, highlight=False)


@commands.command("logout")
def logout() -> None:
    """Delete the stored login token: later gate runs are submitted by the service identity (review)."""
    from affectgate.oversight.identity import token_path

    path = token_path(get_settings())
    path.unlink(missing_ok=True)
    console.print(f"logged out ({path} removed)")
