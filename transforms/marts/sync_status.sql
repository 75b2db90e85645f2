-- grain: one row per source and account flowsync has run: when it last tried, how that
-- went, and how fresh its data is ("data as of" for dashboards)
-- source analytics_internal.sync_log: source text, account text, started_at timestamptz,
--   outcome text, error text, loaded boolean
with log as (
    select * from {{ source('analytics_internal', 'sync_log') }}
),

last_attempt as (
    select source, account, max(started_at) as last_attempt_at
    from log
    group by source, account
),

last_success as (
    select source, account, max(started_at) as last_success_at
    from log
    where loaded
    group by source, account
),

runs as (
    select
        provider as source,
        account,
        max(newest_started_at) as newest_started_at,
        cast(sum(runs) as bigint) as runs
    from {{ ref('daily_run_counts') }}
    group by provider, account
),

final as (
    select
        a.source,
        a.account,
        a.last_attempt_at,
        max(case when l.outcome = 'ok' then 'ok' else 'failed' end) as last_outcome,
        max(l.error) as last_error,
        max(s.last_success_at) as last_success_at,
        max(r.newest_started_at) as newest_started_at,
        coalesce(max(r.runs), 0) as runs
    from last_attempt as a
    inner join log as l
        on l.source = a.source and l.account = a.account and l.started_at = a.last_attempt_at
    left join last_success as s on s.source = a.source and s.account = a.account
    left join runs as r on r.source = a.source and r.account = a.account
    group by a.source, a.account, a.last_attempt_at
)

select * from final
