-- grain: one row per Twilio Studio execution that has steps: its last step
-- the last step is the step into Ended; failing that, the latest, ties broken by sid
-- key: execution_sid
-- by stg_twilio_steps: execution_sid
with steps as (
    select * from {{ ref('stg_twilio_steps') }}
),

ranked as (
    select
        execution_sid,
        event,
        transitioned_from,
        stepped_at,
        row_number() over (
            partition by execution_sid
            order by case when transitioned_to = 'Ended' then 0 else 1 end,
                     stepped_at desc,
                     step_sid desc
        ) as position
    from steps
),

final as (
    select execution_sid, event, transitioned_from, stepped_at
    from ranked
    where position = 1
)

select * from final
