-- claim_50_history.sql with one commit where it has two: complete the 50 jobs this client leased in
-- its previous run, then lease the next 50, in one transaction (the first run completes none).
begin;
update jg.jobs j set status = 'completed', result = 'null', finished_at = now(), updated_at = now(),
  lease_token = null, lease_expires_at = null, worker_id = null,
  attempts = jsonb_set(j.attempts, array[(jsonb_array_length(j.attempts) - 1)::text],
                       (j.attempts -> -1) || jsonb_build_object('finishedAt', now(), 'outcome', 'completed'))
where status = 'running' and worker_id = 'w' || :client_id;
with c as (
  select id from jg.jobs where status = 'pending' and priority = 2 and run_at <= now()
  order by run_at, seq limit 50 for update skip locked
)
update jg.jobs j set status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
  lease_token = gen_random_uuid(), lease_expires_at = now() + interval '30 seconds', worker_id = 'w' || :client_id,
  attempts = j.attempts || jsonb_build_array(jsonb_build_object('attempt', j.attempt + 1, 'startedAt', now(), 'workerId', 'w' || :client_id))
from c where j.id = c.id;
commit;
