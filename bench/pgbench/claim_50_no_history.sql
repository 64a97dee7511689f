-- claim_50_history.sql without the attempt entries: what jobgraph's jobs table alone costs.
with c as (
  select id from jg.jobs where status = 'pending' and priority = 2 and run_at <= now()
  order by run_at, seq limit 50 for update skip locked
), leased as (
  update jg.jobs j set status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '30 seconds', worker_id = 'w' || :client_id
  from c where j.id = c.id returning j.id, j.attempt
)
select count(*) from leased;
with done as (
  update jg.jobs set status = 'completed', result = 'null', finished_at = now(), updated_at = now(),
    lease_token = null, lease_expires_at = null, worker_id = null
  where status = 'running' and worker_id = 'w' || :client_id returning id, attempt
)
select count(*) from done;
