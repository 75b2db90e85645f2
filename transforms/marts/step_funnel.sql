-- grain: one row per Twilio Studio account, flow and widget reached by an ended execution
-- (a step's transitioned_to; Ended excluded)
-- rebuilt whole when a Twilio execution, step, flow or widget changed; the outcomes
-- (twilio_runs) and the last steps change only with those
-- covered: twilio_runs, twilio_last_steps
with executions as (
    select * from {{ ref('stg_twilio_executions') }}
    where provider_status = 'ended'
),

steps as (
    select * from {{ ref('stg_twilio_steps') }}
),

flows as (
    select * from {{ ref('stg_twilio_flows') }}
),

last_steps as (
    select * from {{ ref('twilio_last_steps') }}
),

widgets as (
    select * from {{ ref('stg_twilio_widgets') }}
),

depths as (
    select * from {{ ref('twilio_widget_depths') }}
),

-- each ended execution's outcome, as flow_runs shows it
runs as (
    select run_id, status from {{ ref('twilio_runs') }}
),

ended_per_flow as (
    select account, flow_id, count(*) as ended_executions
    from executions
    group by account, flow_id
),

reached as (
    select
        e.account,
        e.flow_id,
        s.transitioned_to as widget,
        count(distinct s.execution_sid) as executions_reached
    from steps as s
    inner join executions as e on e.execution_sid = s.execution_sid
    where s.transitioned_to <> 'Ended'
    group by e.account, e.flow_id, s.transitioned_to
),

ended_here as (
    select
        e.account,
        e.flow_id,
        l.transitioned_from as widget,
        count(*) as executions_ended_here,
        count(*) filter (where r.status = 'completed') as executions_completed_here,
        count(*) filter (where r.status = 'failed') as executions_failed_here,
        count(*) filter (where r.status = 'expired') as executions_expired_here
    from last_steps as l
    inner join executions as e on e.execution_sid = l.execution_sid
    left join runs as r on r.run_id = l.execution_sid
    group by e.account, e.flow_id, l.transitioned_from
),

final as (
    select
        r.account,
        r.flow_id,
        r.widget,
        f.flow_name,
        r.executions_reached,
        coalesce(h.executions_ended_here, 0) as executions_ended_here,
        coalesce(h.executions_completed_here, 0) as executions_completed_here,
        coalesce(h.executions_failed_here, 0) as executions_failed_here,
        coalesce(h.executions_expired_here, 0) as executions_expired_here,
        cast(r.executions_reached as double precision) / t.ended_executions
            as pct_of_flow_executions,
        w.widget_type,
        d.widget_depth
    from reached as r
    inner join ended_per_flow as t on t.account = r.account and t.flow_id = r.flow_id
    left join ended_here as h
        on h.account = r.account and h.flow_id = r.flow_id and h.widget = r.widget
    left join flows as f on f.account = r.account and f.flow_id = r.flow_id
    left join widgets as w on w.flow_id = r.flow_id and w.widget = r.widget
    left join depths as d on d.flow_id = r.flow_id and d.widget = r.widget
)

select * from final
