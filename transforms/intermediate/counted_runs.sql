-- grain: one row per contact run the analytics count: every run of flow_runs but test
-- runs (Hilos is_test). The one place test runs are left out; every mart that counts
-- runs reads this.
with final as (
    select * from {{ ref('flow_runs') }}
    where not is_test
)

select * from final
