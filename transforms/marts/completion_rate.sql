-- grain: one row per provider, account, flow and day (the date of started_at in
-- analytics.timezone); test runs excluded
-- key: provider, account, flow_id, day
-- by counted_runs: provider, account, flow_id, started_day
with runs as (
    select * from {{ ref('counted_runs') }}
),

daily as (
    select
        provider,
        account,
        flow_id,
        started_day as day,
        max(flow_name) as flow_name,
        count(*) as runs_total,
        count(*) filter (
            where status in ('completed', 'canceled', 'expired', 'failed')
        ) as runs_finished,
        count(*) filter (where status = 'completed') as runs_completed,
        avg(cast(duration_seconds as double precision)) filter (
            where status = 'completed' and duration_seconds is not null
        ) as avg_completion_seconds,
        percentile_cont(0.5) within group (
            order by cast(duration_seconds as double precision)
        ) filter (
            where status = 'completed' and duration_seconds is not null
        ) as median_completion_seconds
    from runs
    -- the day first: sorting by a date before text is about twice as fast on Postgres
    group by started_day, flow_id, account, provider
),

final as (
    select
        provider,
        account,
        flow_id,
        day,
        flow_name,
        runs_total,
        runs_finished,
        runs_completed,
        runs_total - runs_finished as runs_open,
        case
            when runs_finished > 0
                then cast(runs_completed as double precision) / runs_finished
        end as completion_rate,
        avg_completion_seconds,
        median_completion_seconds
    from daily
)

select * from final
