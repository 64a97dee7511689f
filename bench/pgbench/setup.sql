-- The table the ceiling scripts work on: a minimal job row, a partial index for the claim and one
-- for the running jobs of each client.
drop table if exists bench_jobs;
create table bench_jobs (
  id bigint generated always as identity primary key,
  status text not null default 'pending',
  payload jsonb not null,
  worker int,
  run_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);
create index bench_jobs_claim on bench_jobs (run_at, id) where status = 'pending';
create index bench_jobs_running on bench_jobs (worker) where status = 'running';
