"""The version-26 baseline and its data generator."""

from __future__ import annotations

from tests.sql.sqlhelpers import load


def test_baseline_scale_1_counts_and_drift(db18) -> None:
    load(db18, 1.0)
    q = db18.query
    assert q("SELECT version, dirty FROM schema_migrations") == [(26, False)]
    counts = dict(q("SELECT 'dns', count(*) FROM dns_validation_results UNION ALL "
                    "SELECT 'jobs', count(*) FROM campaign_jobs UNION ALL "
                    "SELECT 'http', count(*) FROM http_keyword_results UNION ALL "
                    "SELECT 'domains', count(*) FROM generated_domains UNION ALL "
                    "SELECT 'campaigns', count(*) FROM campaigns"))
    assert counts == {"dns": 10000, "jobs": 2000, "http": 3000, "domains": 10000, "campaigns": 30}
    # realistic drift
    assert 100 < q("SELECT count(*) FROM dns_validation_results t WHERE NOT EXISTS "
                   "(SELECT 1 FROM campaigns c WHERE c.id = t.dns_campaign_id)")[0][0] < 400
    assert q("SELECT count(*) FROM campaign_jobs t WHERE NOT EXISTS "
             "(SELECT 1 FROM campaigns c WHERE c.id = t.campaign_id)")[0][0] > 0
    statuses = {r[0] for r in q("SELECT DISTINCT status FROM campaign_jobs")}
    assert {None, "Queued", "COMPLETED", " running", "done", "queued"} <= statuses
    assert q("SELECT count(*) FROM campaigns WHERE status IS NULL OR status <> lower(btrim(status))")[0][0] > 0
    assert {r[0] for r in q("SELECT DISTINCT validation_status FROM dns_validation_results")} == \
        {"resolved", "unresolved", "pending", "error", "timeout"}
    assert q("SELECT count(*) FROM dns_validation_results WHERE validation_status = 'pending' "
             "AND last_checked_at IS NOT NULL")[0][0] == 0
    assert q("SELECT count(*) FROM campaigns WHERE created_at IS NULL")[0][0] > 0
