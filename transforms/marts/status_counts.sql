-- grain: one row per provider, account, flow and normalized status that has runs; test runs excluded
-- key: provider, account, flow_id
-- by counted_runs: provider, account, flow_id
with runs as (
    select * from {{ ref('counted_runs') }}
),

counted as (
    select
        provider,
        account,
        flow_id,
        status,
        max(flow_name) as flow_name,
        count(*) as runs
    from runs
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
