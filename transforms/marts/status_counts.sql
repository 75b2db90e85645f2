-- grain: one row per provider, account, flow and normalized status that has runs; test runs excluded
-- key: provider, account, flow_id
-- by daily_status_counts: provider, account, flow_id
with daily as (
    select * from {{ ref('daily_status_counts') }}
),

counted as (
    select
        provider,
        account,
        flow_id,
        status,
        max(flow_name) as flow_name,
        cast(sum(runs) as bigint) as runs
    from daily
    group by provider, account, flow_id, status
),

final as (
    select
        provider,
        account,
        flow_id,
        status,
        flow_name,
        runs,
        cast(runs as double precision) / sum(runs) over (partition by provider, account, flow_id) as share
    from counted
)

select * from final
