-- grain: one row per Twilio Studio flow
-- source twilio_studio.flows: sid text, friendly_name text, account text
with source as (
    select * from {{ source('twilio_studio', 'flows') }}
),

final as (
    select
        coalesce(account, 'default') as account,
        sid as flow_id,
        friendly_name as flow_name
    from source
)

select * from final
