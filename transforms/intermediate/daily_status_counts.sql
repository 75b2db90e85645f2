-- grain: one row per provider, account, flow, day (started_day) and status that has runs;
-- test runs excluded. The per-flow tables add these up, so a change to a few days
-- recounts those days, not every run of the flow.
-- key: provider, account, flow_id, started_day
-- by counted_runs: provider, account, flow_id, started_day
with runs as (
    select * from {{ ref('counted_runs') }}
),

final as (
    select
        provider,
        account,
        flow_id,
        started_day,
        status,
        max(flow_name) as flow_name,
        count(*) as runs
    from runs
    group by started_day, flow_id, account, provider, status
)

select * from final
