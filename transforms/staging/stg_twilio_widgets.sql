-- grain: one row per Twilio Studio flow and widget (a state of the flow's definition),
-- with its type; flows without a definition (API v1) have none
-- source twilio_studio.flows: sid text, definition json
with flows as (
    select * from {{ source('twilio_studio', 'flows') }}
),

states as (
    select f.sid as flow_id, st.state
    from flows as f, {{ json_elements('f.definition', 'states') }} as st(state)
),

final as (
    select distinct
        flow_id,
        state ->> 'name' as widget,
        state ->> 'type' as widget_type
    from states
)

select * from final
