-- grain: one row per Twilio Studio execution
-- source twilio_studio.executions: sid text, flow_sid text, status text,
--   date_created timestamptz, contact_channel_address text, account text
-- materialized: view
-- key: execution_sid
-- by twilio_studio.executions: sid
with source as (
    select * from {{ source('twilio_studio', 'executions') }}
),

final as (
    select
        coalesce(account, 'default') as account,
        sid as execution_sid,
        flow_sid as flow_id,
        status as provider_status,
        date_created as started_at,
        contact_channel_address as contact_address
    from source
)

select * from final
