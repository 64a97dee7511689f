-- jobgraph's row work for a bulk insert of 1,000 jobs, on jobgraph's own schema (schema "jg"): the
-- job rows and their 'pending' status log rows in one statement, without notifications.
with inserted as (
  insert into jg.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
  select gen_random_uuid(), 'noop', 'pending', 2, jsonb_build_object('i', g), 3, jsonb_build_object('type', 'exponential', 'baseMs', 1000, 'maxMs', 60000, 'jitter', true), now()
  from generate_series(1, 1000) g
  returning id
)
insert into jg.job_logs (job_id, at, attempt, kind, message, data) select id, now(), 0, 'status', 'pending', jsonb_build_object('from', null) from inserted;
