-- grain: one row per contact run, both providers and every account, test runs included
-- (flagged)
-- key: run_id
-- by stg_hilos_contact_runs: run_id
-- by stg_twilio_executions: execution_sid
-- by twilio_last_steps: execution_sid
-- lookup stg_twilio_flows: account, flow_id
with hilos as (
    select * from {{ ref('stg_hilos_contact_runs') }}
),

executions as (
    select * from {{ ref('stg_twilio_executions') }}
),

flows as (
    select * from {{ ref('stg_twilio_flows') }}
),

last_steps as (
    select * from {{ ref('twilio_last_steps') }}
),

twilio as (
    select
        'twilio_studio' as provider,
        e.account,
        e.execution_sid as run_id,
        e.flow_id,
        f.flow_name,
        cast(null as text) as flow_version,
        e.contact_address,
        case
            when e.provider_status = 'active' then 'running'
            when e.provider_status <> 'ended' then null
            when l.event in ({{ timeout_events }}) then 'expired'
            when l.event in ({{ failure_events }}) then 'failed'
            else 'completed'
        end as status,
        e.provider_status,
        false as is_test,
        e.started_at,
        case when e.provider_status = 'ended' then l.stepped_at end as ended_at
    from executions as e
    left join flows as f on f.account = e.account and f.flow_id = e.flow_id
    left join last_steps as l on l.execution_sid = e.execution_sid
),

unioned as (
    select
        provider, account, run_id, flow_id, flow_name, flow_version, contact_address,
        status, provider_status, is_test, started_at,
        cast(null as timestamptz) as ended_at
    from hilos
    union all
    select
        provider, account, run_id, flow_id, flow_name, flow_version, contact_address,
        status, provider_status, is_test, started_at, ended_at
    from twilio
),

final as (
    select
        *,
        cast(started_at at time zone {{ timezone }} as date) as started_day,
        cast(extract(epoch from (ended_at - started_at)) as bigint) as duration_seconds
    from unioned
)

select * from final
