"""Command-line tasks: `flask --app app <command>`."""

import contextlib
import time

import click
import sqlalchemy as sa

from eventreg.core.clock import now
from eventreg.extensions import db


def register_commands(app) -> None:
    @app.cli.command("seed-demo")
    @click.option("--no-registrations", is_flag=True, help="Leave the demo conference without delegates.")
    def seed_demo_command(no_registrations):
        """Load the demo events, delegates and staff logins (running it again adds nothing)."""
        from eventreg.demo import seed_demo

        logins = seed_demo(with_registrations=not no_registrations)
        db.session.commit()
        click.echo("Demo data ready. Staff logins (email / password):")
        for email, password in logins:
            click.echo(f"  {email:28} {password}")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.argument("name")
    @click.password_option()
    @click.option("--admin", is_flag=True)
    @click.option("--member", is_flag=True)
    def create_user_command(email, name, password, admin, member):
        """Create a login."""
        from eventreg.accounts.services import create_user

        with _domain_errors():
            create_user(email, name, password, is_admin=admin, is_member=member)
        db.session.commit()
        click.echo(f"Created {email}")

    @app.cli.command("set-password")
    @click.argument("email")
    @click.password_option()
    def set_password_command(email, password):
        """Give a user a new password (they forgot theirs); ends all their sessions."""
        from eventreg.accounts.services import set_password

        with _domain_errors():
            set_password(_user(email), password)
        db.session.commit()
        click.echo(f"New password set for {email}; their sessions have ended.")

    @app.cli.command("create-token")
    @click.argument("username")
    def create_token_command(username):
        """Print a new API token for the user with this email (shown once, stored hashed)."""
        from eventreg.accounts.services import create_api_token

        with _domain_errors():
            token = create_api_token(username)
        db.session.commit()
        click.echo(token)

    @app.cli.command("revoke-tokens")
    @click.argument("email")
    def revoke_tokens_command(email):
        """Revoke every API and scanner token of a user (a lost phone, someone leaving)."""
        from eventreg.accounts.services import revoke_all_tokens

        with _domain_errors():
            count = revoke_all_tokens(_user(email))
        db.session.commit()
        click.echo(f"Revoked {count} token(s) of {email}.")

    @app.cli.command("deliver-mail")
    @click.option("--every", type=int, default=0, help="Repeat every N seconds (0: run once).")
    def deliver_mail_command(every):
        """Deliver the outbox's due messages (for MAIL_WORKER=manual)."""
        from eventreg.mail.services import deliver_all_due

        while True:
            report = deliver_all_due(now_fn=now)
            db.session.remove()
            if not every:
                click.echo(f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed")
                return
            time.sleep(every)

    @app.cli.command("expire-holds")
    @click.option("--every", type=int, default=0, help="Repeat every N seconds (0: run once).")
    def expire_holds_command(every):
        """Give back the seats of holds and waiting-list offers that ran out (the periodic job)."""
        from eventreg.registration.services import expire_all_holds

        while True:
            n = expire_all_holds(now=now())
            db.session.remove()
            if not every:
                click.echo(f"{n} orders expired")
                return
            time.sleep(every)

    @app.cli.command("reconcile-payments")
    def reconcile_payments_command():
        """Ask Stripe about card payments whose webhook never came; retry pending refunds."""
        from eventreg.payments.services import card_payments_available, reconcile

        if not card_payments_available():
            click.echo("Card payments are not configured (STRIPE_SECRET_KEY).")
            return
        click.echo(reconcile(now=now()))

    @app.cli.command("send-invoice-reminders")
    def send_invoice_reminders_command():
        """Queue one reminder for each unpaid invoice past its due date."""
        from eventreg.payments.invoices import send_reminders

        click.echo(f"{send_reminders(now=now())} reminders queued")

    @app.cli.command("purge-personal-data")
    def purge_personal_data_command():
        """Erase the personal data of events whose retention period has run out (the daily job)."""
        from eventreg.privacy.services import purge_due

        click.echo(f"{purge_due(now=now())} attendees and buyers erased")


@contextlib.contextmanager
def _domain_errors():
    """A refused command prints the service's message (and each field's), not a traceback."""
    from eventreg.core.errors import DomainError

    try:
        yield
    except DomainError as err:
        details = [f"{name}: {' '.join(map(str, msgs))}" for name, msgs in err.fields.items()]
        raise click.ClickException(" ".join([str(err.message), *details])) from None


def _user(email: str):
    from eventreg.accounts.models import User

    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user with the email {email}.")
    return user
