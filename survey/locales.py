"""The survey's two languages, English and Brazilian Portuguese. Pure: no I/O.

Templates mark text with Jinja2's i18n extension (`{{ _("...") }}`); the page renders with the
gettext of its language: the invitation's locale, else the browser's Accept-Language, else
English. English is the message id itself; the Portuguese catalog lives in messages_pt_br.py
(a test checks that every message of the templates and the code has a translation).
"""

from __future__ import annotations

from collections.abc import Callable

from survey.messages_pt_br import PT_BR

LOCALES = ("en", "pt-BR")
DEFAULT_LOCALE = "en"
CATALOGS: dict[str, dict[str, str]] = {"en": {}, "pt-BR": PT_BR}


def negotiate(accept_language: str | None) -> str:
    """The best of our locales for an Accept-Language header (`pt-BR,pt;q=0.9,en;q=0.8`):
    any Portuguese picks pt-BR, any English en; highest q first, then order of appearance."""
    ranked = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.lower()))
    for _, _, tag in sorted(ranked):
        if tag == "pt" or tag.startswith("pt-"):
            return "pt-BR"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT_LOCALE


def gettext_for(locale: str) -> Callable[[str], str]:
    catalog = CATALOGS.get(locale, {})

    def gettext(message: str) -> str:
        return catalog.get(message, message)

    return gettext


def ngettext_for(locale: str) -> Callable[[str, str, int], str]:
    gettext = gettext_for(locale)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    return ngettext
