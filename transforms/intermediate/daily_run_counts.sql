-- grain: one row per provider, account and day (started_day) that has runs, test runs
-- included: how many, and the newest start. sync_status adds these up, so a run recounts
-- the days that changed, not every run.
-- key: provider, account, started_day
-- by flow_runs: provider, account, started_day
with runs as (
    select * from {{ ref('flow_runs') }}
),

final as (
    select
        provider,
        account,
        started_day,
        count(*) as runs,
        max(started_at) as newest_started_at
    from runs
    group by started_day, account, provider
)

select * from final
