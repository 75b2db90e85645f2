-- grain: one row per Twilio Studio flow and widget (a state of the flow's definition),
-- with its type
with states as (
    select * from {{ ref('stg_twilio_states') }}
),

final as (
    select distinct
        flow_id,
        state ->> 'name' as widget,
        state ->> 'type' as widget_type
    from states
)

select * from final
