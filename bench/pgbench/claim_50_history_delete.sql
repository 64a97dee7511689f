-- claim_50_history.sql with the completion as a delete (a job no dependent waits for, and whose
-- history is not kept): what a delete-on-complete mode would cost the database.
with c as (
  select id from jg.jobs where status = 'pending' and priority = 2 and run_at <= now()
  order by run_at, seq limit 50 for update skip locked
)
update jg.jobs j set status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
  lease_token = gen_random_uuid(), lease_expires_at = now() + interval '30 seconds', worker_id = 'w' || :client_id,
  attempts = j.attempts || jsonb_build_array(jsonb_build_object('attempt', j.attempt + 1, 'startedAt', now(), 'workerId', 'w' || :client_id))
from c where j.id = c.id;
delete from jg.jobs j
where status = 'running' and worker_id = 'w' || :client_id
  and not exists (select 1 from jg.job_dependencies d where d.depends_on_id = j.id);
