"""`flask --app smspanel import-dnc FILE`: the operators' way to import OFCA's register."""

from sqlalchemy import select, text

from smspanel.models import AuditEvent, db

ACTIVE_NUMBERS = text(
    "SELECT n.phone FROM dnc_numbers n JOIN dnc_imports i ON i.id = n.import_id "
    "WHERE i.status = 'active' ORDER BY n.phone"
)


def active_numbers(app) -> list[str]:
    with app.app_context():
        return [row[0] for row in db.session.execute(ACTIVE_NUMBERS)]


def test_import_dnc_loads_the_file_and_says_how_long_it_took(runner, app, tmp_path):
    register = tmp_path / "dnc.txt"
    register.write_text("Telephone\n91234567\n6123 4567\n+852 51234567\n91234567\n")
    result = runner.invoke(args=["import-dnc", "--nice", "0", str(register)])
    assert result.exit_code == 0, result.output
    assert "dnc.txt: 4 numbers read" in result.output
    assert "is the copy in use: 3 numbers, 1 repeated lines ignored" in result.output
    assert active_numbers(app) == ["51234567", "61234567", "91234567"]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "dnc.import"))
        (only,) = event.all()
        assert only.channel == "cli" and only.actor_name.startswith("cli:")


def test_a_malformed_file_is_refused_naming_the_line_and_the_old_copy_stays(runner, app, tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("91234567\n")
    bad.write_text("61234567\n612345\n")
    assert runner.invoke(args=["import-dnc", "--nice", "0", str(good)]).exit_code == 0
    result = runner.invoke(args=["import-dnc", "--nice", "0", str(bad)])
    assert result.exit_code == 1
    assert "line 2: “612345”" in result.output and "nothing was imported" in result.output
    assert active_numbers(app) == ["91234567"]
