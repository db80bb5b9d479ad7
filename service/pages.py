"""Rendering recipient pages: branding, language and texts for every template."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from service.i18n import negotiate, translator
from service.runtime import Runtime
from service.tenants.model import DEFAULT_TENANT_ID


def page_language(request: Request, rt: Runtime) -> str:
    """The visitor's language: the best of Accept-Language we have a catalogue for."""
    return negotiate(request.headers.get("accept-language"), rt.settings.default_language)


def page_context(request: Request, rt: Runtime, **extra: Any) -> dict[str, Any]:
    settings = rt.settings
    lang = page_language(request, rt)
    return {
        "lang": lang,
        "_": translator(lang),
        "org": {
            # the tenant's own colour, whichever host serves the page (/brand.css reads ?t=)
            "brand_css": (f"/brand.css?t={rt.tenant_id}" if rt.tenant_id != DEFAULT_TENANT_ID
                          else "/brand.css"),
            "name": settings.org_name,
            "logo_url": settings.org_logo_url,
            "primary_colour": settings.org_primary_colour,
            "privacy_url": settings.org_privacy_url,
            "support_contact": settings.org_support_contact,
        },
        **extra,
    }


def render(request: Request, rt: Runtime, template: str, status_code: int = 200,
           **context: Any) -> Template:
    """A page from `templates/`; security headers and no-store are added by the middleware."""
    return Template(template_name=template, context=page_context(request, rt, **context),
                    status_code=status_code)
