-- grain: one row per provider, account, flow and stage (entered, started, completed); test runs excluded
-- key: provider, account, flow_id
-- by daily_status_counts: provider, account, flow_id
with daily as (
    select * from {{ ref('daily_status_counts') }}
),

per_flow as (
    select
        provider,
        account,
        flow_id,
        max(flow_name) as flow_name,
        cast(sum(runs) as bigint) as entered,
        cast(coalesce(sum(runs) filter (where status is distinct from 'pending'), 0) as bigint)
            as started,
        cast(coalesce(sum(runs) filter (where status = 'completed'), 0) as bigint) as completed
    from daily
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
