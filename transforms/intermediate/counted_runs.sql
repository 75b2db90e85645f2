-- grain: one row per contact run the analytics count: every run of flow_runs but test
-- runs (Hilos is_test). The one place test runs are left out; every mart that counts
-- runs reads this. A run without a flow has no flow name here: the per-flow tables group
-- such runs into one group, whatever names the runs carry.
-- materialized: view
-- key: run_id
-- by flow_runs: run_id
with runs as (
    select * from {{ ref('flow_runs') }}
    where not is_test
),

final as (
    select
        provider,
        account,
        run_id,
        flow_id,
        case when flow_id is not null then flow_name end as flow_name,
        status,
        started_at,
        started_day,
        duration_seconds
    from runs
)

select * from final
