from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Please enter your email."))])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(message=_l("Please enter your password."))]
    )
    next = HiddenField()


class ChangePasswordForm(FlaskForm):
    """The rules for a new password are in accounts.services (password_problems)."""

    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(message=_l("Please enter your current password."))]
    )
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(message=_l("Please choose a new password."))]
    )
    repeat_password = PasswordField(
        _l("New password again"),
        validators=[EqualTo("new_password", message=_l("The two new passwords are not the same."))],
    )
