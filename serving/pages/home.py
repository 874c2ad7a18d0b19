"""The start page: the pages this person's role opens, and who is signed in."""
from __future__ import annotations

from flask_babel import gettext as _

from domain.vocabulary import PEOPLE_ROLES
from serving.access import requires
from serving.pages.layout import blueprint, render

bp = blueprint("pages_home", __name__)


@bp.get("/")
@requires(*PEOPLE_ROLES)
def home() -> tuple[str, int]:
    return render("pages/home.html", title=_("Home"))
