"""Waiting for events other services send about a server (compute/events.py)."""

from __future__ import annotations

import asyncio

import pytest

from monostack.compute.events import EventFailed, EventTimeout, InstanceEvents


async def test_an_event_that_comes_during_the_action_is_not_lost():
    events = InstanceEvents()
    async with events.expect("s1", [("network-vif-plugged", "p1"), ("network-vif-plugged", "p2")], 5):
        assert events.deliver("s1", "network-vif-plugged", "p1")  # before the wait starts
        asyncio.get_running_loop().call_later(0.05, events.deliver, "s1", "network-vif-plugged", "p2")
    assert events.waiting("s1") == []


async def test_a_missing_event_times_out_and_a_failed_one_fails():
    events = InstanceEvents()
    with pytest.raises(EventTimeout, match="network-vif-plugged-p2"):
        async with events.expect("s1", [("network-vif-plugged", "p1"), ("network-vif-plugged", "p2")], 0.1):
            events.deliver("s1", "network-vif-plugged", "p1")
    with pytest.raises(EventFailed):
        async with events.expect("s1", [("network-vif-plugged", "p1")], 5):
            events.deliver("s1", "network-vif-plugged", "p1", "failed")
    assert events.waiting("s1") == []


async def test_events_nobody_waits_for_are_dropped():
    events = InstanceEvents()
    assert not events.deliver("s1", "network-changed", None)
    async with events.expect("s1", [], 1):  # nothing to wait for
        pass
