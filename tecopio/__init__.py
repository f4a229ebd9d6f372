"""Tecopio: a cooperative, consumer-side CRM."""

import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from tecopio.config import DEV_SECRET_KEY, DefaultConfig, from_environment, normalise_database_url

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app.

    Settings: defaults, then ``instance/config.py``, then the environment, then ``test_config``.
    """
    app = Flask(
        __name__,
        instance_path=os.environ.get("TECOPIO_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder="../templates",
    )
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(from_environment())
    if test_config is not None:
        app.config.update(test_config)

    _check_configuration(app)
    app.jinja_env.add_extension("jinja2.ext.do")

    from tecopio import db, demo, errors, home, i18n, jobs, limiter, policy, security, views
    from tecopio.accounts import cli as account_cli
    from tecopio.accounts import sessions as account_sessions
    from tecopio.accounts import views as account_views
    from tecopio.analytics import company as _company_release  # noqa: F401
    from tecopio.analytics import models as _analytics_models  # noqa: F401
    from tecopio.analytics import views as analytics_views

    # Importing every model registers its table before migrations compare them.
    from tecopio.audit import labels as audit_labels
    from tecopio.audit import models as _audit_models  # noqa: F401
    from tecopio.audit import personal as audit_personal
    from tecopio.categories import views as category_views
    from tecopio.demand import views as demand_views
    from tecopio.directory import views as directory_views
    from tecopio.feed import views as feed_views
    from tecopio.governance import views as governance_views
    from tecopio.groups import views as group_views
    from tecopio.ledger import views as ledger_views
    from tecopio.memberdata import models as _memberdata_models  # noqa: F401
    from tecopio.memberdata import views as memberdata_views
    from tecopio.notifications import views as notification_views
    from tecopio.partners import views as partner_views
    from tecopio.privacy import models as _privacy_models  # noqa: F401
    from tecopio.privacy import views as privacy_views

    security.init_app(app)
    views.init_app(app)  # before the blueprints: their routes use its converters
    db.init_app(app)
    jobs.init_app(app)  # before the features: they add their jobs to its queue
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    policy.init_app(app)  # templates ask the routes' predicates
    account_sessions.init_app(app)
    account_views.init_app(app)
    account_cli.init_app(app)
    group_views.init_app(app)
    category_views.init_app(app)
    directory_views.init_app(app)
    memberdata_views.init_app(app)
    privacy_views.init_app(app)
    analytics_views.init_app(app)
    governance_views.init_app(app)
    notification_views.init_app(app)
    partner_views.init_app(app)
    demand_views.init_app(app)
    feed_views.init_app(app)
    ledger_views.init_app(app)
    home.init_app(app)
    audit_labels.init_app(app)
    audit_personal.register()  # the audit log's part in export and erasure
    demo.init_app(app)

    proxies = app.config.get("TRUSTED_PROXY_COUNT", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    return app


def _check_configuration(app: Flask) -> None:
    if app.config["TECOPIO_ENV"] not in ("production", "development", "testing"):
        raise RuntimeError("TECOPIO_ENV must be production, development or testing")
    if app.config["TECOPIO_ENV"] == "production" and app.config["SECRET_KEY"] in (
        DEV_SECRET_KEY,
        "",
        None,
    ):
        raise RuntimeError(
            "Refusing to start in production with the development SECRET_KEY. "
            "Set SECRET_KEY (e.g. python -c 'import secrets; print(secrets.token_hex(32))'), "
            "or TECOPIO_ENV=development on your own machine."
        )
    if not app.config["PUBLIC_URL"]:
        if app.config["TECOPIO_ENV"] == "production":
            raise RuntimeError(
                "Set PUBLIC_URL (e.g. https://tecopio.example.org): links in emails are built "
                "from it, never from the Host header of a request."
            )
        app.config["PUBLIC_URL"] = "http://127.0.0.1:5000"
    if not app.config["MAIL_BACKEND"]:
        development = app.config["TECOPIO_ENV"] == "development"
        app.config["MAIL_BACKEND"] = "console" if development else "smtp"
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not uri:
        os.makedirs(app.instance_path, exist_ok=True)
        uri = "sqlite:///" + os.path.join(app.instance_path, "tecopio.sqlite")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(uri)
