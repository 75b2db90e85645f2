-- grain: one row per Twilio Studio flow and state (widget) of its definition, the state's
-- JSON as Studio wrote it, and the flow's initial state; flows without a definition (API
-- v1) have none
-- source twilio_studio.flows: sid text, definition json
with flows as (
    select * from {{ source('twilio_studio', 'flows') }}
),

final as (
    select
        f.sid as flow_id,
        coalesce(f.definition ->> 'initial_state', 'Trigger') as initial_state,
        st.state
    from flows as f, {{ json_elements('f.definition', 'states') }} as st(state)
)

select * from final
