-- 1,000 jobs per statement.
insert into bench_jobs (payload) select jsonb_build_object('i', g) from generate_series(1, 1000) g;
