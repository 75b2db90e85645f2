"""The flowsync API simulator: Twilio Studio and Hilos on loopback, for demos and tests."""

from .faults import FAULT_KINDS, FaultInjector
from .server import Simulator
from .world import SimConfig, World

__all__ = ["FAULT_KINDS", "FaultInjector", "SimConfig", "Simulator", "World"]
