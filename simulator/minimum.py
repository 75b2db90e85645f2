"""The fewest API requests a perfect sync would need: the yardstick for incremental cost.

A perfect sync knows exactly which runs are new or changed since its last sync (`since`),
but it still has only the APIs' endpoints, at their largest page sizes:

- Hilos lists are newest-first, with no date filter. Contacts have no endpoint of their
  own, so a perfect sync reads the contact list from page 1 down to the page that holds
  the oldest new-or-changed run. Flow executions (20 to a page) are read that way, or,
  when cheaper, the pages of the new ones plus one detail request per changed older one.
- Twilio lists each flow's executions from a `DateCreatedFrom`: a perfect sync lists
  from the oldest new-or-changed execution, or, when cheaper, lists only the new ones
  and fetches each changed older one by SID. Every execution that ended since costs one
  steps request (there is no bulk endpoint), and the flows list one page.

Every list costs at least one request: even a perfect sync must ask to learn that
nothing changed. With `since` None this is the full load: every page once.
"""

from __future__ import annotations

from .world import HilosBatch, World

HILOS_CONTACT_PAGE = 1000  # the contact list's largest page_size
TWILIO_PAGE = 1000  # Twilio's largest PageSize


def _pages(rows: int, size: int) -> int:
    return max(1, -(-rows // size))


def minimum_requests(world: World, since: int | None = None) -> dict:
    """Per list and in total, the fewest requests covering what changed after `since`.

    Args:
        world: the simulator's world, at its current time.
        since: epoch seconds of the last sync; None for a first load.
    """
    with world.lock:
        return {"hilos": _hilos(world, since), "twilio": _twilio(world, since)}


def _hilos(world: World, since: int | None) -> dict:
    now_us = world.now_us
    runs = world.hilos_runs  # ascending by (created_on, id): newest-first position n-1-i
    if since is None:
        contacts = _pages(len(runs), HILOS_CONTACT_PAGE)
        executions = _pages(len(world.hilos_batches), world.config.hilos_default_page_size)
        return {"contacts": contacts, "flow_executions": executions,
                "total": contacts + executions, "new_or_changed_runs": len(runs)}
    since_us = since * 1_000_000
    oldest = None
    changed = 0
    for i, run in enumerate(runs):
        if run.created_on > since_us or run.status(since_us) != run.status(now_us):
            changed += 1
            if oldest is None:
                oldest = i
    contacts = _pages(len(runs) - oldest if oldest is not None else 0, HILOS_CONTACT_PAGE)

    def row(b: HilosBatch, t: int) -> tuple:  # what the list row shows at time t
        return (b.status(t), tuple(b.counters(t).values()), b.avg_completion_us(t),
                b.status_last_change_on(t))

    batches = world.hilos_batches
    size = world.config.hilos_default_page_size
    new = sum(1 for b in batches if b.created_on > since_us)
    changed_old = [i for i, b in enumerate(batches)
                   if b.created_on <= since_us and row(b, since_us) != row(b, now_us)]
    if changed_old:
        by_list = _pages(len(batches) - changed_old[0], size)
        executions = min(by_list, _pages(new, size) + len(changed_old))
    else:
        executions = _pages(new, size)
    return {"contacts": contacts, "flow_executions": executions,
            "total": contacts + executions, "new_or_changed_runs": changed}


def _twilio(world: World, since: int | None) -> dict:
    now = world.now
    flows = world.live_twilio_flows()
    lists = steps = changed_total = 0
    for flow in flows:
        retained = world.twilio_retained(flow)  # ascending by date_created
        steps += sum(1 for e in retained
                     if e.ended_at <= now and (since is None or e.ended_at > since))
        if since is None:
            lists += _pages(len(retained), TWILIO_PAGE)
            changed_total += len(retained)
            continue
        new = [i for i, e in enumerate(retained) if e.date_created > since]
        changed_old = [i for i, e in enumerate(retained)
                       if e.date_created <= since and since < e.ended_at <= now]
        changed_total += len(new) + len(changed_old)
        if changed_old:
            by_list = _pages(len(retained) - changed_old[0], TWILIO_PAGE)
            lists += min(by_list, _pages(len(new), TWILIO_PAGE) + len(changed_old))
        else:
            lists += _pages(len(new), TWILIO_PAGE)
    flows_pages = 1 if flows else 0
    return {"flows": flows_pages, "executions": lists, "steps": steps,
            "total": flows_pages + lists + steps, "new_or_changed_runs": changed_total}
