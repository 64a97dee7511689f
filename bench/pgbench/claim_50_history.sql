-- jobgraph's row work for 50 jobs, on jobgraph's own schema (schema "jg": every table, index and
-- foreign key its migrations create; generation 2, history in the job row), without anything the
-- client adds (no full-row RETURNING, no notifications, no lease CAS): lease 50 pending jobs with
-- SKIP LOCKED, opening each one's attempt entry (one commit), then complete them, closing it (another).
with c as (
  select id from jg.jobs where status = 'pending' and priority = 2 and run_at <= now()
  order by run_at, seq limit 50 for update skip locked
)
update jg.jobs j set status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
  lease_token = gen_random_uuid(), lease_expires_at = now() + interval '30 seconds', worker_id = 'w' || :client_id,
  attempts = j.attempts || jsonb_build_array(jsonb_build_object('attempt', j.attempt + 1, 'startedAt', now(), 'workerId', 'w' || :client_id))
from c where j.id = c.id;
update jg.jobs j set status = 'completed', result = 'null', finished_at = now(), updated_at = now(),
  lease_token = null, lease_expires_at = null, worker_id = null,
  attempts = jsonb_set(j.attempts, array[(jsonb_array_length(j.attempts) - 1)::text],
                       (j.attempts -> -1) || jsonb_build_object('finishedAt', now(), 'outcome', 'completed'))
where status = 'running' and worker_id = 'w' || :client_id;
