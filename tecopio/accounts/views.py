from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy.exc import IntegrityError

from tecopio.accounts import jobs, personal, services
from tecopio.accounts.forms import (
    ConfirmSignupForm,
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    ResetPasswordForm,
    ResetRequestForm,
    SignupForm,
)
from tecopio.accounts.passwords import PasswordRejected
from tecopio.accounts.sessions import start_session
from tecopio.db import db
from tecopio.errors import abort_with
from tecopio.guards import public, signed_in
from tecopio.limiter import configured, limiter
from tecopio.mail import MailError, send_mail
from tecopio.security import safe_next
from tecopio.text import InvalidText
from tecopio.views import public_url, render_form

bp = Blueprint("accounts", __name__)


def _next_url(form) -> str:
    return safe_next(form.next.data or request.args.get("next"), url_for("home.index"))


@bp.route("/signup", methods=["GET", "POST"])
@public
@limiter.limit(configured("SIGNUP_RATE_LIMIT"), methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignupForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")[:254]
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            token = services.request_signup(
                db.session,
                email=form.email.data,
                password=form.password.data,
                display_name=form.display_name.data,
                locale=str(get_locale()),
                next_url=form.next.data or "",
                valid_hours=current_app.config["SIGNUP_VALID_HOURS"],
            )
            db.session.commit()
        except (PasswordRejected, InvalidText) as exc:
            form.form_errors.append(exc.message)
        else:
            _send_signup_mail(form.email.data, token)
            # The same answer whether or not the address has an account.
            return render_template(
                "accounts/signup_sent.html",
                email=form.email.data,
                hours=current_app.config["SIGNUP_VALID_HOURS"],
            )
    return render_form("accounts/signup.html", form=form)


def _send_signup_mail(email: str, token: str | None) -> None:
    """The link that makes the account, or, for an address that has one, a word to its owner."""
    hours = current_app.config["SIGNUP_VALID_HOURS"]
    try:
        if token is None:
            send_mail(
                email,
                _("Someone tried to sign up to Tecopio with your address"),
                "signup_exists",
                login=public_url("accounts.login"),
                reset=public_url("accounts.request_reset"),
            )
        else:
            send_mail(
                email,
                _("Finish signing up to Tecopio"),
                "signup_confirm",
                link=public_url("accounts.confirm_signup", token=token),
                hours=hours,
            )
    except MailError:
        # Logged; the page stays the same so it never tells who has an account.
        current_app.logger.exception("sign-up mail not sent")


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
@public
@limiter.limit(configured("SIGNUP_RATE_LIMIT"), methods=["POST"])
def confirm_signup(token: str):
    """The link from the sign-up email: a form asking for the password chosen with it, so
    that a mail scanner opening the link makes nothing (a GET never writes), and the
    owner of the address never gets an account someone else chose the password of."""
    try:
        pending = services.pending_signup(db.session, token)
    except services.InvalidSignupLink as exc:
        abort_with(400, exc.message)
    form = ConfirmSignupForm()
    hours = current_app.config["SIGNUP_VALID_HOURS"]
    if current_user.is_authenticated:
        # Never swap the signed-in person into another account without a word.
        return render_template(
            "accounts/signup_confirm.html", pending=pending, form=None, hours=hours
        ), (409 if request.method == "POST" else 200)
    if not form.validate_on_submit():
        return render_form("accounts/signup_confirm.html", pending=pending, form=form, hours=hours)
    next_url = pending.next_url
    try:
        user = services.complete_signup(db.session, pending, form.password.data)
        db.session.commit()
    except services.WrongSignupPassword as exc:
        db.session.rollback()
        form.password.errors.append(exc.message)
        return render_form("accounts/signup_confirm.html", pending=pending, form=form, hours=hours)
    except (services.EmailTaken, IntegrityError) as exc:
        # Taken by an earlier link: the requests for the address are gone (committed);
        # taken by a concurrent click on the same link: nothing to keep.
        db.session.commit() if isinstance(exc, services.EmailTaken) else db.session.rollback()
        flash(_("This address has an account already. Log in, or reset its password."), "info")
        return redirect(url_for("accounts.login"))
    start_session(user, remember=False)
    flash(_("Welcome to Tecopio, %(name)s!", name=user.display_name), "success")
    return redirect(safe_next(next_url, url_for("home.index")))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(configured("LOGIN_RATE_LIMIT"), methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            db.session.commit()  # a re-hash with stronger parameters, if one was needed
            start_session(user, remember=form.remember.data)
            flash(_("You are logged in."), "success")
            return redirect(_next_url(form))
        form.form_errors.append(_("The email or password is not correct."))
    return render_form("accounts/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout():
    services.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out on every device."), "info")
    return redirect(url_for("home.index"))


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def profile():
    form = ProfileForm(obj=current_user)
    if request.method == "GET":
        form.locale.data = current_user.locale or ""
    if form.validate_on_submit():
        services.update_profile(
            current_user,
            display_name=form.display_name.data,
            locale=form.locale.data or None,
            region=form.region.data,
            email_notifications=form.email_notifications.data,
        )
        db.session.commit()
        if current_user.locale:
            session["locale"] = current_user.locale
        flash(_("Your profile is saved."), "success")
        return redirect(url_for("accounts.profile"))
    return render_form("accounts/profile.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
@limiter.limit(configured("LOGIN_RATE_LIMIT"), methods=["POST"])
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user,
                current_password=form.current_password.data,
                new_password=form.new_password.data,
            )
        except services.WrongPassword as exc:
            form.current_password.errors.append(exc.message)
        except PasswordRejected as exc:
            form.new_password.errors.append(exc.message)
        else:
            db.session.commit()
            remembered = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
            start_session(current_user._get_current_object(), remember=remembered)
            flash(
                _("Your password is changed. Your other sessions have been logged out."), "success"
            )
            return redirect(url_for("accounts.profile"))
    return render_form("accounts/password.html", form=form)


@bp.route("/reset", methods=["GET", "POST"])
@public
@limiter.limit(configured("RESET_RATE_LIMIT"), methods=["POST"])
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = services.find_user_by_email(db.session, form.email.data)
        if user is not None:
            token = services.make_reset_token(user, current_app.config["SECRET_KEY"])
            try:
                send_mail(
                    user.email,
                    _("Reset your Tecopio password"),
                    "password_reset",
                    user=user,
                    link=public_url("accounts.reset_password", token=token),
                    minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
                )
            except MailError:
                # Logged; the page stays the same so it never tells who has an account.
                current_app.logger.exception("password reset mail not sent")
        # The same answer whether or not the address has an account.
        return render_template("accounts/reset_sent.html", email=form.email.data)
    return render_form("accounts/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit(configured("RESET_RATE_LIMIT"), methods=["POST"])
def reset_password(token: str):
    try:
        user = services.user_from_reset_token(
            db.session,
            token,
            current_app.config["SECRET_KEY"],
            current_app.config["PASSWORD_RESET_MAX_AGE"],
        )
    except services.InvalidResetLink as exc:
        abort_with(400, exc.message)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.set_password(user, form.password.data)
        except PasswordRejected as exc:
            form.password.errors.append(exc.message)
            return render_form("accounts/reset_password.html", form=form)
        db.session.commit()
        logout_user()
        flash(_("Your password is changed. Log in with your new password."), "success")
        return redirect(url_for("accounts.login"))
    return render_form("accounts/reset_password.html", form=form)


def init_app(app) -> None:
    app.register_blueprint(bp)
    jobs.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
