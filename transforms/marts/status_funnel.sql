-- grain: one row per provider, account, flow and stage (entered, started, completed); test runs excluded
-- key: provider, account, flow_id
-- by counted_runs: provider, account, flow_id
with runs as (
    select * from {{ ref('counted_runs') }}
),

per_flow as (
    select
        provider,
        account,
        flow_id,
        max(flow_name) as flow_name,
        count(*) as entered,
        count(*) filter (where status is distinct from 'pending') as started,
        count(*) filter (where status = 'completed') as completed
    from runs
    group by provider, account, flow_id
),

stages as (
    select provider, account, flow_id, flow_name, 1 as stage_order, 'entered' as stage,
           entered as runs, entered, cast(null as bigint) as previous
    from per_flow
    union all
    select provider, account, flow_id, flow_name, 2, 'started', started, entered, entered
    from per_flow
    union all
    select provider, account, flow_id, flow_name, 3, 'completed', completed, entered, started
    from per_flow
),

final as (
    select
        provider,
        account,
        flow_id,
        flow_name,
        stage_order,
        stage,
        runs,
        cast(runs as double precision) / entered as pct_of_entered,
        case
            when stage_order = 1 then cast(1 as double precision)
            when previous > 0 then cast(runs as double precision) / previous
        end as pct_of_previous
    from stages
)

select * from final
