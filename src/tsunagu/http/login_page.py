"""The patient sign-in page of /auth/authorize (Japanese first), as small static HTML."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from starlette.responses import HTMLResponse

_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "referrer-policy": "no-referrer",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;font-size:1rem}"
    "button{margin-top:1.5rem;padding:.5rem 1.5rem;font-size:1rem}.error{color:#b00020}"
)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(html, status, headers=_HEADERS)


def form(hidden: Mapping[str, str], *, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The sign-in form; `hidden` carries the authorize request through the POST."""
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    client = escape(hidden.get("client_id", ""))
    scope = escape(hidden.get("scope", ""))
    body = (
        "<h1>つなぐ 患者サインイン</h1><p>Tsunagu patient sign-in</p>"
        f"<p>アプリ <b>{client}</b> があなたの医療情報へのアクセスを求めています "
        f"(scope: <code>{scope}</code>).<br>The app <b>{client}</b> asks to access your "
        "health records.</p>"
        f'{message}<form method="post" action="authorize">{fields}'
        '<label>患者ID / Patient ID<input name="patient_id" autocomplete="username" required>'
        "</label>"
        '<label>秘密情報 / Secret<input name="secret" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">サインインして許可 / Sign in and allow</button></form>'
    )
    return _page("つなぐ 患者サインイン / Tsunagu sign-in", body, status)


def error(message: str, status: int) -> HTMLResponse:
    """An error page for an authorize request that cannot be redirected back to the app."""
    body = (
        "<h1>認可要求を処理できません</h1><p>The authorization request cannot be processed.</p>"
        f'<p class="error" role="alert">{escape(message)}</p>'
    )
    return _page("エラー / Error", body, status)
