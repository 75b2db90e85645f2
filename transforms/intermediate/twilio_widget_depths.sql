-- grain: one row per Twilio Studio flow and widget reachable from its initial state: the
-- fewest transitions from there (0 for the initial state, Trigger), by a breadth-first
-- walk over the definition's transitions (a flow may loop: each widget and depth is
-- walked once, and no shortest walk is longer than the flow has widgets)
with recursive edges as (
    select * from {{ ref('stg_twilio_transitions') }}
),

walk (flow_id, widget, depth) as (
    select flow_id, next_widget, 0 from edges where widget is null
    union
    select e.flow_id, e.next_widget, w.depth + 1
    from walk as w
    inner join edges as e on e.flow_id = w.flow_id and e.widget = w.widget
    where w.depth < 200
),

final as (
    select flow_id, widget, min(depth) as widget_depth
    from walk
    group by flow_id, widget
)

select * from final
