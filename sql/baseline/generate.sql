-- Realistic DomainFlow data at version 26, set-based (generate_series), deterministic.
--
-- Scale factor from the setting domainflow.scale (default 1.0), e.g.
--   SET domainflow.scale = '100';  \i generate.sql
-- Rows per unit of scale: 30 campaigns, 10 000 generated domains, 10 000 DNS results,
-- 3 000 HTTP keyword results, 2 000 campaign jobs, 500 security events, 1 000 audit logs.
-- (scale 100: 1M dns_validation_results, 200k campaign_jobs.)
--
-- The drift found in real databases is part of the data:
--   * orphans: ~2% of DNS results, ~3% of HTTP results and ~4% of jobs point at deleted
--     campaigns;
--   * campaigns.status and campaign_jobs.status in the wrong case, with stray spaces,
--     synonyms ('done', 'processing', 'canceled') and NULL;
--   * unresolved, pending, error and timeout DNS results; pending ones never checked
--     (last_checked_at NULL);
--   * NULL campaigns.created_at / updated_at.
SET client_min_messages = warning;

DO $gen$
DECLARE
    s      numeric := coalesce(nullif(current_setting('domainflow.scale', true), ''), '1')::numeric;
    n_camp int     := greatest(9, round(30 * s))::int;
    n_gen  int;
    n_dns  int;
    n_http int;
BEGIN
    IF s <= 0 THEN
        RAISE EXCEPTION 'domainflow.scale must be > 0, got %', s;
    END IF;
    n_gen  := n_camp / 3;
    n_dns  := (n_camp + 2) / 3;
    n_http := (n_camp + 1) / 3;

    INSERT INTO users (id, email, first_name, last_name, password_hash, last_login_at, created_at, updated_at)
    SELECT md5('user' || i)::uuid, 'user' || i || '@domainflow.example', 'First' || i, 'Last' || i,
           '$2a$10$' || md5('pw' || i), timestamptz '2025-06-01' + i * interval '1 hour',
           timestamptz '2025-01-01' + i * interval '1 day', timestamptz '2025-01-01' + i * interval '1 day'
    FROM generate_series(1, greatest(3, ceil(5 * s))::int) i;

    INSERT INTO personas (id, name, persona_type, description, config_details)
    SELECT md5('persona' || i)::uuid, 'persona-' || i, CASE WHEN i % 2 = 0 THEN 'dns' ELSE 'http' END,
           'generated persona', jsonb_build_object('resolvers', jsonb_build_array('1.1.1.1', '8.8.8.8'), 'timeout_ms', 2000 + i)
    FROM generate_series(1, 6) i;

    INSERT INTO proxies (id, name, address, protocol, host, port, is_healthy, last_status, latency_ms, country_code)
    SELECT md5('proxy' || i)::uuid, 'proxy-' || i, 'http://10.0.0.' || i || ':3128', 'http', '10.0.0.' || i, 3128,
           i % 7 <> 0, CASE WHEN i % 7 = 0 THEN 'down' ELSE 'ok' END, 20 + i * 3, 'US'
    FROM generate_series(1, 10) i;

    INSERT INTO proxy_pools (id, name, description)
    SELECT md5('pool' || i)::uuid, 'pool-' || i, 'generated pool' FROM generate_series(1, 3) i;

    INSERT INTO keyword_sets (id, name, description, keywords)
    SELECT md5('kset' || i)::uuid, 'keyword-set-' || i, 'generated keyword set',
           jsonb_build_array(jsonb_build_object('pattern', 'casino' || i, 'ruleType', 'string'),
                             jsonb_build_object('pattern', 'bet[0-9]+', 'ruleType', 'regex'))
    FROM generate_series(1, 5) i;

    -- campaigns: type by i % 3; status drift; NULL timestamps
    INSERT INTO campaigns (id, name, campaign_type, status, user_id, total_items, processed_items,
                           successful_items, failed_items, progress_percentage, metadata,
                           started_at, completed_at, created_at, updated_at)
    SELECT md5('campaign' || i)::uuid,
           'campaign ' || i,
           CASE i % 3 WHEN 0 THEN 'domain_generation' WHEN 1 THEN 'dns_validation' ELSE 'http_keyword_validation' END,
           CASE abs(hashint4(i)) % 40
                WHEN 0 THEN NULL WHEN 1 THEN 'Running' WHEN 2 THEN 'COMPLETED' WHEN 3 THEN 'canceled'
                WHEN 4 THEN 'Paused ' WHEN 5 THEN 'done'
                ELSE (ARRAY['pending','queued','running','pausing','paused','completed','completed',
                            'completed','failed','cancelled','archived'])[1 + abs(hashint4(i + 7)) % 11] END,
           md5('user' || (1 + i % greatest(3, ceil(5 * s))::int))::uuid,
           1000, 1000 - i % 1000, 900 - i % 900, i % 100, 100.0 * (1000 - i % 1000) / 1000,
           jsonb_build_object('source', 'generator', 'n', i),
           timestamptz '2025-01-01' + i * interval '17 minutes',
           CASE WHEN i % 4 = 0 THEN timestamptz '2025-01-02' + i * interval '17 minutes' END,
           CASE WHEN i % 10 = 0 THEN NULL ELSE timestamptz '2025-01-01' + i * interval '17 minutes' END,
           CASE WHEN i % 20 = 0 THEN NULL ELSE timestamptz '2025-01-03' + i * interval '17 minutes' END
    FROM generate_series(1, n_camp) i;

    INSERT INTO domain_generation_campaign_params (campaign_id, pattern_type, variable_length, character_set,
                                                   constant_string, tld, num_domains_to_generate,
                                                   total_possible_combinations, current_offset)
    SELECT md5('campaign' || (3 * k))::uuid, (ARRAY['prefix','suffix','both'])[1 + k % 3], 3 + k % 4,
           'abcdefghijklmnopqrstuvwxyz', 'shop' || k, '.com', 10000, 26 ^ (3 + k % 4), k * 13
    FROM generate_series(1, n_gen) k;

    INSERT INTO generated_domains (id, domain_generation_campaign_id, domain_name, source_pattern, tld,
                                   offset_index, generated_at, created_at)
    SELECT md5('gd' || j)::uuid, md5('campaign' || (3 * (1 + j % n_gen)))::uuid, 'd' || j || '.com',
           'prefix', '.com', j / n_gen, timestamptz '2025-02-01' + j * interval '1 second',
           timestamptz '2025-02-01' + j * interval '1 second'
    FROM generate_series(1, round(10000 * s)::int) j
    -- campaign by campaign, as the generator service writes them (and 5x faster to load:
    -- the (campaign, name) and (campaign, offset) indexes fill in order)
    ORDER BY 2, 3;

    INSERT INTO dns_validation_params (campaign_id, source_generation_campaign_id, persona_ids, batch_size)
    SELECT md5('campaign' || (3 * k + 1))::uuid,
           CASE WHEN k < n_gen THEN md5('campaign' || (3 * (k + 1)))::uuid END,
           ARRAY[md5('persona2')::uuid, md5('persona4')::uuid], 50
    FROM generate_series(0, n_dns - 1) k;

    INSERT INTO http_keyword_campaign_params (campaign_id, source_campaign_id, source_type, persona_ids,
                                              keyword_set_ids, ad_hoc_keywords, target_http_ports)
    SELECT md5('campaign' || (3 * k + 2))::uuid, md5('campaign' || (3 * k + 1))::uuid, 'DNSValidation',
           ARRAY[md5('persona1')::uuid], ARRAY[md5('kset1')::uuid], ARRAY['casino', 'poker'], ARRAY[80, 443]
    FROM generate_series(0, n_http - 1) k;

    -- DNS results: 2% orphans; resolved / unresolved / pending / error / timeout
    INSERT INTO dns_validation_results (id, dns_campaign_id, generated_domain_id, domain_name, validation_status,
                                        dns_records, validated_by_persona_id, attempts, last_checked_at, created_at)
    SELECT md5('dns' || j)::uuid,
           CASE WHEN h % 50 = 0 THEN md5('deleted-campaign' || (j % 37))::uuid
                ELSE md5('campaign' || (3 * (j % n_dns) + 1))::uuid END,
           md5('gd' || j)::uuid, 'd' || j || '.com', st,
           CASE WHEN st = 'resolved' THEN jsonb_build_object('A', jsonb_build_array('192.0.2.' || (j % 250))) END,
           md5('persona' || (2 + 2 * (j % 3)))::uuid,
           CASE WHEN st = 'pending' THEN 0 ELSE 1 + j % 3 END,
           CASE WHEN st = 'pending' THEN NULL ELSE timestamptz '2025-03-01' + j * interval '2 seconds' END,
           timestamptz '2025-03-01' + j * interval '1 second'
    FROM (SELECT j, abs(hashint4(j)) AS h,
                 CASE WHEN abs(hashint4(j)) % 100 < 65 THEN 'resolved'
                      WHEN abs(hashint4(j)) % 100 < 82 THEN 'unresolved'
                      WHEN abs(hashint4(j)) % 100 < 94 THEN 'pending'
                      WHEN abs(hashint4(j)) % 100 < 97 THEN 'error'
                      ELSE 'timeout' END AS st
          FROM generate_series(1, round(10000 * s)::int) j) g;

    -- HTTP keyword results: 3% orphans
    INSERT INTO http_keyword_results (id, http_keyword_campaign_id, dns_result_id, domain_name, validation_status,
                                      http_status_code, page_title, found_keywords_from_sets,
                                      found_ad_hoc_keywords, content_hash, validated_by_persona_id,
                                      used_proxy_id, attempts, last_checked_at, created_at)
    SELECT md5('http' || j)::uuid,
           CASE WHEN abs(hashint4(j + 11)) % 100 < 3 THEN md5('deleted-campaign' || (j % 37))::uuid
                ELSE md5('campaign' || (3 * (j % n_http) + 2))::uuid END,
           md5('dns' || j)::uuid, 'd' || j || '.com',
           (ARRAY['success','success','success','no_keywords','error','pending'])[1 + j % 6],
           CASE WHEN j % 6 < 4 THEN 200 WHEN j % 6 = 4 THEN 503 END,
           'Page ' || j,
           CASE WHEN j % 6 < 3 THEN jsonb_build_array('casino1') END,
           CASE WHEN j % 12 = 0 THEN ARRAY['poker'] END,
           md5('content' || j), md5('persona1')::uuid, md5('proxy' || (1 + j % 10))::uuid,
           1, CASE WHEN j % 6 = 5 THEN NULL ELSE timestamptz '2025-04-01' + j * interval '3 seconds' END,
           timestamptz '2025-04-01' + j * interval '2 seconds'
    FROM generate_series(1, round(3000 * s)::int) j;

    -- campaign jobs: 4% orphans; status drift (case, spaces, synonyms, NULL)
    INSERT INTO campaign_jobs (id, campaign_id, campaign_type, status, scheduled_at, attempts, max_attempts,
                               last_error, worker_id, payload, created_at, updated_at)
    SELECT md5('job' || j)::uuid,
           CASE WHEN abs(hashint4(j + 3)) % 100 < 4 THEN md5('deleted-campaign' || (j % 37))::uuid
                ELSE md5('campaign' || (1 + j % n_camp))::uuid END,
           CASE (1 + j % n_camp) % 3 WHEN 0 THEN 'domain_generation' WHEN 1 THEN 'dns_validation'
                ELSE 'http_keyword_validation' END,
           st,
           timestamptz '2025-05-01' + j * interval '5 seconds',
           CASE WHEN st IN ('completed', 'queued', 'pending') THEN 0 ELSE 1 + j % 3 END, 3,
           CASE WHEN lower(btrim(st)) = 'failed' THEN 'dial tcp: i/o timeout' END,
           CASE WHEN lower(btrim(st)) IN ('running', 'processing') THEN 'worker-' || (j % 8) END,
           jsonb_build_object('batch', j % 100, 'offset', j * 50),
           timestamptz '2025-05-01' + j * interval '5 seconds',
           timestamptz '2025-05-01' + j * interval '5 seconds' + interval '1 minute'
    FROM (SELECT j,
                 CASE abs(hashint4(j)) % 100
                      WHEN 0 THEN NULL WHEN 1 THEN 'Queued' WHEN 2 THEN 'COMPLETED' WHEN 3 THEN 'Failed'
                      WHEN 4 THEN 'done' WHEN 5 THEN 'processing' WHEN 6 THEN ' running' WHEN 7 THEN 'canceled'
                      ELSE (ARRAY['completed','completed','completed','completed','completed','completed',
                                  'queued','queued','running','failed','pending','cancelled'])[1 + abs(hashint4(j + 1)) % 12]
                 END AS st
          FROM generate_series(1, round(2000 * s)::int) j) g;

    INSERT INTO security_events (id, event_type, user_id, details, created_at)
    SELECT md5('sec' || j)::uuid, (ARRAY['login_success','login_failure','access_denied','session_expired'])[1 + j % 4],
           md5('user' || (1 + j % greatest(3, ceil(5 * s))::int))::uuid,
           jsonb_build_object('ip', '198.51.100.' || (j % 250)), timestamptz '2025-06-01' + j * interval '1 minute'
    FROM generate_series(1, round(500 * s)::int) j;

    INSERT INTO audit_logs (id, "timestamp", user_id, action, entity_type, entity_id, details, client_ip, user_agent)
    SELECT md5('audit' || j)::uuid, timestamptz '2025-06-01' + j * interval '30 seconds',
           md5('user' || (1 + j % greatest(3, ceil(5 * s))::int))::uuid,
           (ARRAY['create','update','delete','start','pause'])[1 + j % 5], 'campaign',
           md5('campaign' || (1 + j % n_camp))::uuid, '{}'::jsonb, '198.51.100.' || (j % 250), 'Mozilla/5.0'
    FROM generate_series(1, round(1000 * s)::int) j;
END
$gen$;

ANALYZE;
