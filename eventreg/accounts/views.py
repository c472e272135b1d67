"""Logging in and out (staff and members), and one's own account: password, sessions, tokens."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from eventreg.accounts import services
from eventreg.accounts.forms import ChangePasswordForm, LoginForm
from eventreg.accounts.models import User
from eventreg.core.clock import now
from eventreg.core.errors import ValidationError
from eventreg.core.safe_url import safe_next
from eventreg.extensions import db, login_manager

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return services.user_for_session(session_id)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            flash(_("You are logged in as %(name)s.", name=user.name), "success")
            return redirect(safe_next(form.next.data, url_for("events.index")))
        form.password.errors.append(_("Wrong email or password."))
        status = 401
    elif form.is_submitted():
        status = 422
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("events.index"))


@bp.route("/account/")
@login_required
def account():
    return _render_account(ChangePasswordForm(formdata=None))


def _render_account(form: ChangePasswordForm, status: int = 200):
    tokens = services.list_tokens(current_user, now=now())
    return render_template(
        "accounts/account.html", form=form, tokens=tokens, min_length=services.PASSWORD_MIN_LENGTH
    ), status


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate():
        return _render_account(form, 422)
    try:
        services.change_password(current_user, current=form.current_password.data, new=form.new_password.data)
    except ValidationError as err:
        db.session.rollback()
        for name, messages in err.fields.items():
            getattr(form, name).errors = [str(m) for m in messages]
        return _render_account(form, 422)
    db.session.commit()
    _stay_logged_in()
    flash(_("Your password is changed. You are logged out everywhere else."), "success")
    return redirect(url_for(".account"))


@bp.route("/account/sessions/end", methods=["POST"])
@login_required
def end_other_sessions():
    services.end_sessions(current_user)
    db.session.commit()
    _stay_logged_in()
    flash(_("You are logged out on every other browser and device."), "success")
    return redirect(url_for(".account"))


def _stay_logged_in() -> None:
    """After the user's sessions were ended: this one goes on, under the new session id."""
    login_user(current_user._get_current_object())  # the user, not the proxy that reads the session


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    token = services.revoke_token(current_user, token_id)
    db.session.commit()
    flash(_("The token “%(label)s” no longer works.", label=token.label or _("API token")), "success")
    return redirect(url_for(".account"))
