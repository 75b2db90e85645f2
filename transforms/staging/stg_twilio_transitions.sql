-- grain: one row per Twilio Studio flow, widget and widget a transition of it leads to
-- (from the flow's definition); each flow's initial state leads from null
-- source twilio_studio.flows: sid text, definition json
with flows as (
    select * from {{ source('twilio_studio', 'flows') }}
),

states as (
    select f.sid as flow_id, st.state
    from flows as f, {{ json_elements('f.definition', 'states') }} as st(state)
),

transitions as (
    select s.flow_id, s.state ->> 'name' as widget, tr.transition ->> 'next' as next_widget
    from states as s, {{ json_elements('s.state', 'transitions') }} as tr(transition)
),

initial as (
    select
        sid as flow_id,
        cast(null as text) as widget,
        coalesce(definition ->> 'initial_state', 'Trigger') as next_widget
    from flows
    where definition is not null
),

final as (
    select distinct flow_id, widget, next_widget from transitions
    where next_widget is not null
    union
    select flow_id, widget, next_widget from initial
)

select * from final
