"""A test client that sends forms the way a browser does: with the page's CSRF token."""

import re

from flask.testing import FlaskClient

_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class FormClient(FlaskClient):
    def csrf_token(self, headers=None) -> str:
        page = self.get("/", headers=headers)
        match = _META_TOKEN.search(page.get_data(as_text=True))
        assert match, "no CSRF token on the home page"
        return match.group(1)

    def submit(self, url: str, data: dict | None = None, *, action: str | None = None, **kwargs):
        """POST ``data`` with a valid CSRF token to ``action`` (default: ``url``).

        ``False`` and ``None`` values are left out, as a browser leaves out an
        unticked checkbox.
        """
        fields = {key: value for key, value in (data or {}).items() if value not in (False, None)}
        fields["csrf_token"] = self.csrf_token(kwargs.get("headers"))
        return self.post(action or url, data=fields, **kwargs)
