-- grain: one row per contact run, both providers and every account, test runs included
-- (flagged)
-- key: run_id
-- by stg_hilos_contact_runs: run_id
-- by twilio_runs: run_id
-- union
with hilos as (
    select * from {{ ref('stg_hilos_contact_runs') }}
),

twilio as (
    select * from {{ ref('twilio_runs') }}
),

unioned as (
    select
        provider, account, run_id, flow_id, flow_name, flow_version, contact_address,
        status, provider_status, is_test, started_at,
        cast(null as timestamptz) as ended_at
    from hilos
    union all
    select
        provider, account, run_id, flow_id, flow_name, flow_version, contact_address,
        status, provider_status, is_test, started_at, ended_at
    from twilio
),

final as (
    select
        *,
        cast(started_at at time zone {{ timezone }} as date) as started_day,
        cast(extract(epoch from (ended_at - started_at)) as bigint) as duration_seconds
    from unioned
)

select * from final
