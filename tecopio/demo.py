"""Demo data: ``flask demo load`` fills an empty database with a small, working cooperative."""

import click
from flask import current_app
from sqlalchemy import func, select

from tecopio.accounts.models import User
from tecopio.accounts.services import register_user
from tecopio.db import db
from tecopio.groups import services as groups

DEMO_PASSWORD = "tecopio-demo-2026"  # noqa: S105

# (email, display name, what they show)
DEMO_PEOPLE = [
    ("ane@example.com", "Ane Etxeberria", "admin of Bilbao Green Energy Cooperative"),
    ("jon@example.com", "Jon Agirre", "member; admin of Vitoria-Gasteiz Food Circle"),
    ("maite@example.com", "Maite Ruiz", "member; admin of Donostia Repair and Reuse"),
    ("iker@example.com", "Iker Larrañaga", "member of Bilbao and Vitoria-Gasteiz groups"),
    ("lucia@example.com", "Lucía Fernández", "waiting for approval in Bilbao; invited to Donostia"),
]


def load_demo_data(session) -> dict[str, User]:
    people = {
        email.split("@")[0]: register_user(
            session, email=email, password=DEMO_PASSWORD, display_name=name, locale=None
        )
        for email, name, _ in DEMO_PEOPLE
    }
    energy = groups.create_group(
        session,
        people["ane"],
        name="Bilbao Green Energy Cooperative",
        description=(
            "Households in Bilbao pooling their electricity demand to buy renewable "
            "energy together, on terms we set ourselves.\n\n"
            "Etxeak elkartuta, energia berriztagarria elkarrekin erosteko."
        ),
        region="Bilbao, Bizkaia",
        policy="approval",
    )
    food = groups.create_group(
        session,
        people["jon"],
        name="Vitoria-Gasteiz Food Circle",
        description="Local, seasonal and organic food bought directly from producers of Álava.",
        region="Vitoria-Gasteiz, Araba",
        policy="open",
    )
    repair = groups.create_group(
        session,
        people["maite"],
        name="Donostia Repair and Reuse",
        description="Members who want durable, repairable products and honest after-sales service.",
        region="Donostia, Gipuzkoa",
        policy="invitation",
    )
    for name in ("jon", "maite", "iker"):
        membership = groups.join_group(session, people[name], energy)
        groups.approve_member(session, people["ane"], membership)
    groups.join_group(session, people["lucia"], energy)  # stays pending
    for name in ("maite", "iker"):
        groups.join_group(session, people[name], food)
    groups.invite(
        session,
        people["maite"],
        repair,
        "lucia@example.com",
        valid_days=current_app.config["INVITATION_VALID_DAYS"],
    )
    return people


def init_app(app) -> None:
    @app.cli.group("demo")
    def demo_cli():
        """Demo data."""

    @demo_cli.command("load")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database has users.")
    def load(if_empty: bool):
        """Load the demo cooperative and print its logins."""
        if db.session.scalar(select(func.count(User.id))):
            if if_empty:
                click.echo("Database already has data; demo data not loaded.")
                print_logins()
                return
            raise click.ClickException(
                "The database is not empty; demo data goes into an empty one."
            )
        load_demo_data(db.session)
        db.session.commit()
        click.echo("Demo data loaded.")
        print_logins()


def print_logins() -> None:
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for email, name, role in DEMO_PEOPLE:
        click.echo(f"  {email:<20} {name:<17} {role}")
    click.echo("")
