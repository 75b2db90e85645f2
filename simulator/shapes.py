"""Records in every shape the specs allow, not only the tidy one (`SimConfig.spec_shapes`).

Real accounts hold what the specs permit: Hilos contact runs without a flow (`flow` and
`flow_version` are nullable), without `is_test` (not required), with a status the spec
does not list (APIs add states) or with fields it does not name; Twilio executions and
steps whose `context` carries the flow's variables (named differently per flow and run),
the trigger message and the widgets' outputs, and a `flow_version` sent as a string (a
field whose type drifts). Which record gets which shape follows from its id, so the world
stays deterministic from the seed, and a record keeps its shape for life.
"""

from __future__ import annotations

import hashlib

# Hilos contact-run shapes, one in ODD_EVERY runs each
HILOS_SHAPES = ("no_flow", "no_is_test", "unknown_status", "extra_fields", "nulls", "extremes")
ODD_EVERY = 7  # a run in 7 takes one of the shapes above (by its id)
UNKNOWN_STATUS = "PAUSED"
WORDS = ("nome", "cpf", "cidade", "plano", "idioma", "data_nascimento", "orçamento",
         "prioridad", "canal", "código_promo", "email", "opt_in")


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def hilos_shape(run_id: str) -> str | None:
    """The odd shape of a contact run, or None for the tidy one."""
    h = _digest(run_id)
    if h % ODD_EVERY:
        return None
    return HILOS_SHAPES[(h // ODD_EVERY) % len(HILOS_SHAPES)]


def shape_contact_run(record: dict, shape: str | None) -> dict:
    """The record in its shape (a new dict; the tidy record is left as it is)."""
    if shape is None:
        return record
    out = dict(record)
    if shape == "no_flow":
        # the real API still names a flow then (issue 24): flow_name stays
        out.update(flow=None, flow_version=None)
    elif shape == "no_is_test":
        del out["is_test"]
    elif shape == "unknown_status":
        out["status"] = UNKNOWN_STATUS
        out["status_reason"] = None
    elif shape == "extra_fields":
        out["channel"] = "whatsapp"
        out["attribution"] = {"campaign": "black-friday", "source": "ads"}
        out["contact"] = {**out["contact"], "meta": {"plan": "pro", "cidade": "São Paulo"}}
    elif shape == "extremes":
        out["contact"] = {**out["contact"], "first_name": "Ñandú 🦤 " * 1250,
                          "email": "josé.müller+ü@exämple.com"}
        out["tags"] = []
    elif shape == "nulls":
        out["status_reason"] = None
        out["contact"] = {**out["contact"], "first_name": None, "last_name": None,
                          "email": None, "canonical_phone": None}
    return out


def variables(key: str) -> dict:
    """A flow's variables as one run set them: names differ from run to run."""
    h = _digest(key)
    names = [WORDS[(h >> (4 * i)) % len(WORDS)] + f"_{(h >> (8 + 3 * i)) % 9}"
             for i in range(1 + h % 3)]
    return {name: f"valor {i} · {key[-4:]}" for i, name in enumerate(names)}


def execution_context(sid: str, address: str, widgets: list[str]) -> dict:
    return {
        "flow": {"variables": variables(sid), "channel": {"address": address}},
        "trigger": {"message": {"Body": "Olá! Quero saber do meu pedido 🙂", "From": address,
                                "MessageSid": "SM" + sid[2:]}},
        "widgets": {w: {"outputs": {"inbound": {"Body": f"resposta {i}"}}}
                    for i, w in enumerate(widgets)},
    }


def step_context(step_sid: str, widget: str) -> dict:
    return {"flow": {"variables": variables(step_sid)},
            "widgets": {widget: {"Body": "ok", "status": "delivered"}}}


def drifts(sid: str) -> bool:
    """Whether this execution's `flow_version` comes as a string."""
    return _digest(sid) % 5 == 0
