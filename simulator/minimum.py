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


def _cost(n: int, must: list[int], new: int, size: int, by_item: bool) -> int:
    """Fewest requests to see `must` (ascending list positions, oldest first) and the `new`
    rows on top of a list of `n` rows read newest-first, `size` to a page; with `by_item`
    an old row may be fetched alone instead."""
    if not must:
        return _pages(new, size)
    by_list = _pages(n - must[0], size)
    if not by_item:
        return by_list
    return min(by_list, _pages(new, size) + sum(1 for i in must if i < n - new))


def _hilos(world: World, since: int | None) -> dict:
    runs = world.hilos_runs  # ascending by (created_on, id)
    batches = world.hilos_batches
    size = world.config.hilos_default_page_size
    if since is None:
        contacts = _pages(len(runs), HILOS_CONTACT_PAGE)
        executions = _pages(len(batches), size)
        return {"contacts": contacts, "flow_executions": executions,
                "total": contacts + executions, "new_or_changed_runs": len(runs),
                "checking_open": {"contacts": contacts, "flow_executions": executions,
                                  "total": contacts + executions}}
    now_us, since_us = world.now_us, since * 1_000_000
    new_runs = sum(1 for r in runs if r.created_on > since_us)
    changed = [i for i, r in enumerate(runs)
               if r.created_on > since_us or r.status(since_us) != r.status(now_us)]
    watched = [i for i, r in enumerate(runs) if r.created_on > since_us or r.end > since_us]

    def row(b: HilosBatch, t: int) -> tuple:  # what the list row shows at time t
        return (b.status(t), tuple(b.counters(t).values()), b.avg_completion_us(t),
                b.status_last_change_on(t))

    new_batches = sum(1 for b in batches if b.created_on > since_us)
    changed_b = [i for i, b in enumerate(batches)
                 if b.created_on > since_us or row(b, since_us) != row(b, now_us)]
    watched_b = [i for i, b in enumerate(batches)
                 if b.created_on > since_us or b.status(since_us) not in ("COMPLETED", "CANCELED")]
    contacts = _cost(len(runs), changed, new_runs, HILOS_CONTACT_PAGE, by_item=False)
    executions = _cost(len(batches), changed_b, new_batches, size, by_item=True)
    contacts_w = _cost(len(runs), watched, new_runs, HILOS_CONTACT_PAGE, by_item=False)
    executions_w = _cost(len(batches), watched_b, new_batches, size, by_item=True)
    return {"contacts": contacts, "flow_executions": executions,
            "total": contacts + executions, "new_or_changed_runs": len(changed),
            "checking_open": {"contacts": contacts_w, "flow_executions": executions_w,
                              "total": contacts_w + executions_w}}


def _twilio(world: World, since: int | None) -> dict:
    now = world.now
    flows = world.live_twilio_flows()
    lists = lists_w = steps = changed_total = 0
    for flow in flows:
        retained = world.twilio_retained(flow)  # ascending by date_created
        steps += sum(1 for e in retained
                     if e.ended_at <= now and (since is None or e.ended_at > since))
        if since is None:
            lists += _pages(len(retained), TWILIO_PAGE)
            changed_total += len(retained)
            continue
        new = sum(1 for e in retained if e.date_created > since)
        changed = [i for i, e in enumerate(retained)
                   if e.date_created > since or since < e.ended_at <= now]
        watched = [i for i, e in enumerate(retained)
                   if e.date_created > since or e.ended_at > since]
        changed_total += len(changed)
        lists += _cost(len(retained), changed, new, TWILIO_PAGE, by_item=True)
        lists_w += _cost(len(retained), watched, new, TWILIO_PAGE, by_item=True)
    if since is None:
        lists_w = lists
    flows_pages = 1 if flows else 0
    return {"flows": flows_pages, "executions": lists, "steps": steps,
            "total": flows_pages + lists + steps, "new_or_changed_runs": changed_total,
            "checking_open": {"flows": flows_pages, "executions": lists_w, "steps": steps,
                              "total": flows_pages + lists_w + steps}}
