-- jobgraph's row work for a bulk insert of 1,000 jobs, on jobgraph's own schema (schema "jg", schema
-- generation 2): the job rows alone (a job created pending has no history entry yet; its creation is
-- derived from created_at), in one statement, without notifications; ids time-ordered as jobgraph makes
-- them (the first 48 bits the time in milliseconds, then a counter).
insert into jg.jobs (id, type, status, priority, payload, max_attempts, backoff, run_at)
select encode(overlay(uuid_send(gen_random_uuid()) placing int8send(((extract(epoch from clock_timestamp()) * 1000)::bigint << 16) | (g % 65536)) from 1 for 8), 'hex')::uuid, 'noop', 'pending', 2, jsonb_build_object('i', g), 3, jsonb_build_object('type', 'exponential', 'baseMs', 1000, 'maxMs', 60000, 'jitter', true), now()
from generate_series(1, 1000) g;
