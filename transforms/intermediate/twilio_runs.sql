-- grain: one row per Twilio Studio execution, as flow_runs shows it: its flow's name, its
-- normalized status (from its last step) and when it ended. The one place a Twilio
-- outcome is decided; flow_runs and step_funnel read it.
-- key: run_id
-- by stg_twilio_executions: execution_sid
-- by twilio_last_steps: execution_sid
-- lookup stg_twilio_flows: account, flow_id
with executions as (
    select * from {{ ref('stg_twilio_executions') }}
),

flows as (
    select * from {{ ref('stg_twilio_flows') }}
),

last_steps as (
    select * from {{ ref('twilio_last_steps') }}
),

final as (
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
)

select * from final
