-- grain: one row per step of a Twilio Studio execution
-- source twilio_studio.execution_steps: sid text, execution_sid text, flow_sid text,
--   name text, transitioned_from text, transitioned_to text, date_created timestamptz,
--   account text
-- materialized: view
-- key: step_sid
-- by twilio_studio.execution_steps: sid
with source as (
    select * from {{ source('twilio_studio', 'execution_steps') }}
),

final as (
    select
        coalesce(account, 'default') as account,
        sid as step_sid,
        execution_sid,
        flow_sid as flow_id,
        name as event,
        transitioned_from,
        transitioned_to,
        date_created as stepped_at
    from source
)

select * from final
