-- grain: one row per Twilio Studio flow, widget and widget a transition of it leads to
-- (from the flow's definition); each flow's initial state is led to from null
with states as (
    select * from {{ ref('stg_twilio_states') }}
),

transitions as (
    select s.flow_id, s.state ->> 'name' as widget, tr.transition ->> 'next' as next_widget
    from states as s, {{ json_elements('s.state', 'transitions') }} as tr(transition)
),

final as (
    select distinct flow_id, widget, next_widget from transitions
    where next_widget is not null
    union
    select distinct flow_id, cast(null as text), initial_state from states
)

select * from final
