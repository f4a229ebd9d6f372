"""A test client that sends forms the way a browser does, with a worker beside the server.

Jobs queued before a request (by factories' commits) run before it, and
those it queued after it, as the worker of ``make run`` would, so a page
reads what the jobs wrote;
``run_jobs = False`` leaves them queued (to see a page before the worker ran).
"""

import re

from flask.testing import FlaskClient

from tecopio import jobs
from tecopio.db import db

_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class FormClient(FlaskClient):
    run_jobs = True

    def open(self, *args, **kwargs):
        # The test's own writes are saved first, and its savepoint ended: a request's
        # session then works beside it, not inside a savepoint the test could roll back.
        db.session.registry().commit()
        self._work()
        response = super().open(*args, **kwargs)
        self._work()
        # The request had a session of its own: what the test holds is read again.
        db.session.registry().expire_all()
        return response

    def _work(self) -> None:
        # Only when there is work: leaving an app context ends the test's session.
        if self.run_jobs and jobs.has_work(self.application):
            with self.application.app_context():
                jobs.run_pending()
                failed = jobs.failures()
            assert not failed, f"jobs failed: {failed}"

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

    def confirm(self, url: str, data: dict | None = None, *, action: str | None = None, **kwargs):
        """A destructive form's two submits: the first must only ask, the second acts.

        Returns the first response too, so a test can read what the page said.
        """
        asked = self.submit(url, data, action=action, **kwargs)
        assert asked.status_code == 200, asked.status_code
        assert 'name="confirmed" value="yes"' in asked.text, "no confirmation asked"
        done = self.submit(url, {**(data or {}), "confirmed": "yes"}, action=action, **kwargs)
        return done
