-- One job per statement (and per commit).
insert into bench_jobs (payload) values ('{"i": 1}');
