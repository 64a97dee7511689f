-- Claim 50 pending job(s) with SKIP LOCKED (one commit), then complete them (another commit).
with c as (
  select id from bench_jobs where status = 'pending' and run_at <= now()
  order by run_at, id limit 50 for update skip locked
)
update bench_jobs j set status = 'running', worker = :client_id from c where j.id = c.id returning j.id, j.payload;
update bench_jobs set status = 'completed' where worker = :client_id and status = 'running';
