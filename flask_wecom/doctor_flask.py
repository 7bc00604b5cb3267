"""Flask glue of the doctor: build the checks' inputs from ``get_state(app)`` and run them.

::

    from flask_wecom.doctor_flask import run_doctor, doctor_context

    results = run_doctor(app)                       # list of CheckResult (flask_wecom.doctor)
    render_template("setup.html", **doctor_context(app))   # then {% include "wecom/_doctor_table.html" %}

Check 2 needs a request to our own callback route: :func:`make_probe` sends it in process
with ``app.test_client()``, so the same view code a real WeCom request meets answers it.

The public base URL (for the redirect URI and the callback URLs) is, in this order: the
``public_url`` argument, ``WECOM_PUBLIC_URL``, ``SERVER_NAME`` (with ``PREFERRED_URL_SCHEME``),
or — inside a request, e.g. the setup page — the host the current request came to (the finding
says so): the same host the login view sends to WeCom.

The licence trial (check 6) needs the provider secret: pass ``provider_secret=`` or set
``WECOM_PROVIDER_SECRET`` in ``app.config`` (optional; without it the trial is not checked).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from flask import Flask, has_request_context, render_template, request, url_for

from .config import as_configured
from .doctor import CheckResult, DoctorContext, Probe, run_checks, summarize
from .state import current_app_object, get_state

__all__ = ["run_doctor", "build_context", "make_probe", "doctor_context", "render_doctor_table",
           "report"]

#: the Jinja partial rendering results as a table (variables: ``doctor_results``, ``doctor_summary``)
TABLE_TEMPLATE = "wecom/_doctor_table.html"


def make_probe(app: Flask, base_url: Optional[str] = None) -> Probe:
    """A probe for check 2: ``GET path?query`` through ``app.test_client()``, in process.

    ``base_url`` (scheme and host of the public URL) makes the request look like it came in on
    the public host, so host-dependent configuration (``SERVER_NAME``) is exercised too.
    """
    def probe(path: str, query: Mapping[str, str]) -> Tuple[int, str]:
        client = app.test_client()
        kwargs: Dict[str, Any] = {"query_string": dict(query)}
        if base_url:
            kwargs["base_url"] = base_url
        response = client.get(path, **kwargs)
        try:
            return response.status_code, response.get_data(as_text=True)
        finally:
            response.close()

    return probe


def _paths(app: Flask) -> Tuple[str, str, str]:
    """(template callback, data callback, redirect) paths, as url_for builds them in this app."""
    def build() -> Tuple[str, str, str]:
        prefix = str(app.config.get("WECOM_URL_PREFIX") or "/wecom").rstrip("/")
        callback = url_for("wecom.callback")
        data = url_for("wecom.callback_data")
        try:
            authorized = url_for("wecom.authorized")
        except Exception:  # noqa: BLE001 - the login views are not registered: fall back to their path
            authorized = prefix + "/authorized"
        return callback, data, authorized

    if has_request_context() and current_app_object() is app:
        return build()
    with app.test_request_context("/"):
        return build()


def _public_url(app: Flask, public_url: Optional[str]) -> Tuple[Optional[str], str]:
    if public_url:
        return str(public_url), "--public-url"
    configured = app.config.get("WECOM_PUBLIC_URL")
    if configured:
        return str(configured), "WECOM_PUBLIC_URL"
    server_name = app.config.get("SERVER_NAME")
    if server_name:
        # url_for(_external=True) — the login's redirect URI without WECOM_PUBLIC_URL — uses it
        scheme = app.config.get("PREFERRED_URL_SCHEME") or "http"
        return f"{scheme}://{server_name}", "SERVER_NAME"
    if has_request_context() and current_app_object() is app:
        return request.host_url, "the current request / 当前请求"
    return None, ""


def build_context(app: Optional[Flask] = None, public_url: Optional[str] = None, *,
                  console: Optional[Mapping[str, Any]] = None, provider_secret: Optional[str] = None,
                  clock: Optional[Callable[[], float]] = None,
                  expiry_warning_days: int = 14, allow_local_redirects: bool = False) -> DoctorContext:
    """The :class:`~flask_wecom.doctor.DoctorContext` for ``app`` (``current_app`` when None).

    ``allow_local_redirects=True`` only when ``app`` talks to a FakeWeCom with that leniency on
    (the sandbox demo): the trusted-domain row then warns, saying real WeCom would refuse.
    """
    app = app or current_app_object()
    state = get_state(app)
    base, source = _public_url(app, public_url)
    callback, data, authorized = _paths(app)
    probe_base = None
    if base:
        # test_client wants scheme://host only; a path prefix is already part of url_for's paths
        parts = urlsplit(base)
        if parts.scheme in ("http", "https") and parts.netloc:
            probe_base = f"{parts.scheme}://{parts.netloc}"
    return DoctorContext(
        config=as_configured(state.config, app.config),  # what the user wrote, not the defaults used instead
        app_type=state.app_type,
        provider=state.provider,
        client=state.client,
        secret_key=app.config.get("SECRET_KEY"),
        public_url=base,
        public_url_source=source,
        redirect_path=authorized,
        callback_paths={"template": callback, "data": data},
        probe=make_probe(app, probe_base),
        console=dict(console or {}),
        provider_secret=provider_secret or app.config.get("WECOM_PROVIDER_SECRET") or None,
        clock=clock or time.time,
        expiry_warning_days=expiry_warning_days,
        allow_local_redirects=allow_local_redirects,
    )


def run_doctor(app: Optional[Flask] = None, public_url: Optional[str] = None,
               **options: Any) -> List[CheckResult]:
    """Run the doctor's checks 1–9 for ``app`` (``current_app`` when None).

    ``public_url`` overrides ``WECOM_PUBLIC_URL``; other keywords go to :func:`build_context`
    (``console=``, ``provider_secret=``, ``clock=``, ``expiry_warning_days=``,
    ``allow_local_redirects=``).
    """
    return run_checks(context=build_context(app, public_url, **options))


def report(results: List[CheckResult], context: Optional[DoctorContext] = None) -> Dict[str, Any]:
    """A JSON-ready report: ``passed``, ``summary`` (counts), ``results`` (dicts). No secret in it."""
    summary = summarize(results)
    data: Dict[str, Any] = {"passed": summary["passed"], "summary": summary,
                            "results": [r.to_dict() for r in results]}
    if context is not None:
        data.update(app_type=context.app_type, public_url=context.public_url,
                    public_url_source=context.public_url_source or None)
    return data


def doctor_context(app: Optional[Flask] = None, public_url: Optional[str] = None,
                   **options: Any) -> Dict[str, Any]:
    """Template variables for :data:`TABLE_TEMPLATE`: ``doctor_results`` and ``doctor_summary``."""
    results = run_doctor(app, public_url, **options)
    return {"doctor_results": results, "doctor_summary": summarize(results)}


def render_doctor_table(results: List[CheckResult]) -> str:
    """The partial rendered on its own (inside an app context)."""
    return render_template(TABLE_TEMPLATE, doctor_results=results, doctor_summary=summarize(results))
