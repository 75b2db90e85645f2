-- grain: one row per Hilos flow-execution contact (a contact's run of a flow)
-- source hilos.flow_execution_contacts: id text, status text, created_on timestamptz,
--   is_test boolean, flow text, flow_name text, flow_version text, contact__phone text,
--   account text
-- materialized: view
-- key: run_id
-- by hilos.flow_execution_contacts: id
with source as (
    select * from {{ source('hilos', 'flow_execution_contacts') }}
),

final as (
    select
        'hilos' as provider,
        coalesce(account, 'default') as account,
        id as run_id,
        flow as flow_id,
        flow_name,
        flow_version,
        contact__phone as contact_address,
        case status
            when 'READY' then 'pending'
            when 'RUNNING' then 'running'
            when 'COMPLETED' then 'completed'
            when 'CANCELED' then 'canceled'
            when 'EXPIRED' then 'expired'
            when 'FAILED' then 'failed'
        end as status,
        status as provider_status,
        coalesce(is_test, false) as is_test,
        created_on as started_at
    from source
)

select * from final
