"""000027's down copies the values of the columns up created without holding the
application's writes off (it used to take a SHARE lock for the whole copy), and loses none
of the values written while it copies."""

from __future__ import annotations

import psycopg
import pytest
from tests.sql.sqlhelpers import DOWN, UP, apply_file, load

from schemaflow.engine.sources import parse_steps

COPY_CALL = "FROM schemaflow_archive.m000027_archive_next("


def split_down() -> tuple[str, str]:
    """The down file's text before its copy batch step, and that step's statement."""
    text = DOWN.read_text()
    at = text.index(COPY_CALL)
    start = text.rindex("-- schemaflow:step batch", 0, at)
    steps, _ = parse_steps(text, DOWN.name)
    (copy,) = [s.statements[0].text for s in steps
               if s.kind == "batch" and COPY_CALL in s.statements[0].text]
    return text[:start], copy


def test_writes_go_on_while_down_copies_new_columns_and_none_is_lost(db18) -> None:
    load(db18, 0.2)
    apply_file(db18, UP)
    before_copy, copy = split_down()
    apply_file(db18, DOWN, text=before_copy)  # indexes, constraints, ..., the watch triggers
    changed, gone = db18.query(
        "SELECT id FROM dns_validation_results WHERE validation_status = 'resolved' "
        "ORDER BY id LIMIT 2")
    with psycopg.connect(db18.admin) as copier, psycopg.connect(db18.admin, autocommit=True) as app:
        # one batch of the copy, its transaction left open
        copier.execute("SELECT set_config('schemaflow.batch_size', '50', true)")
        assert copier.execute(copy).rowcount == 1
        app.execute("SET lock_timeout = '200ms'")  # a SHARE lock would refuse all of these
        app.execute("UPDATE dns_validation_results SET business_status = 'error_dns' "
                    "WHERE id = %s", changed)
        app.execute("DELETE FROM dns_validation_results WHERE id = %s", gone)
        (added,) = app.execute(
            "INSERT INTO dns_validation_results (dns_campaign_id, domain_name, validation_status, "
            "business_status) SELECT dns_campaign_id, 'written-during-down.example', 'resolved', "
            "'error_dns' FROM dns_validation_results WHERE id = %s RETURNING id", changed).fetchone()
        copier.commit()
    apply_file(db18, DOWN)  # rerunnable: goes on from where the copy stopped
    archived = dict(db18.query(
        "SELECT pk, vals ->> 'business_status' FROM schemaflow_archive.m000027_new_data "
        "WHERE tbl = 'dns_validation_results' AND pk = ANY(%s)", ([changed[0], gone[0], added],)))
    # derived values are not archived (the next up derives them again): only what the
    # application wrote while down ran, and nothing for the row it deleted
    assert archived == {changed[0]: "error_dns", added: "error_dns"}
    assert db18.query("SELECT count(*) FROM pg_trigger WHERE tgname = 'm000027_sf_down_note'") == [(0,)]
    assert db18.query("SELECT to_regclass('schemaflow_archive.m000027_touched')") == [(None,)]
    assert db18.query("SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'dns_validation_results' AND column_name = 'business_status'") == [(0,)]


@pytest.mark.parametrize("batch_size", [None, 50])
def test_copy_without_or_with_batches_archives_every_value(db18, batch_size: int | None) -> None:
    """A runner that knows no batches (one pass of the batch step) and one that does both
    archive every value the application wrote into the new columns."""
    load(db18, 0.2)
    apply_file(db18, UP)
    db18.query("UPDATE campaign_jobs SET locked_by = 'w-' || id WHERE id IN "
               "(SELECT id FROM campaign_jobs ORDER BY id LIMIT 300)")
    apply_file(db18, DOWN, batch_size=batch_size)
    assert db18.query("SELECT count(*) FROM schemaflow_archive.m000027_new_data "
                      "WHERE tbl = 'campaign_jobs' AND vals ->> 'locked_by' LIKE 'w-%'") == [(300,)]
