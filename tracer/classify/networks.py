"""Network signals: which vendor's published ranges a client address falls in.

All CIDRs of all vendors are cut into non-overlapping intervals once, each holding the
signals of every vendor that covers it; a lookup is one address parse and one bisect.
IPv4 is parsed with `socket.inet_pton` (strict dotted quad), IPv6 likewise; IPv4-mapped
IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import tomllib
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tracer.classify.patterns import read_data
from tracer.classify.verdicts import CLOUD, NET_RANKS, Signal, signal

logger = logging.getLogger(__name__)

NETWORKS_FILE = "networks.toml"
CLOUD_FILE = "cloud-networks.json"
# Agents whose networks only fetch images: they say something about opens, not clicks.
OPEN_ONLY_AGENTS = frozenset({"mpp", "proxy"})
# Hosting/cloud address space: only clicks, and what it means depends on the click's timing
# (the classifier turns `cloud:<name>` into `cloud-scan:<name>` soon after sending).
CLOUD_AGENT = "cloud"
BRAND_VENDOR_AGENT = "scanner"

NetSignals = tuple[tuple[Signal, ...], tuple[Signal, ...]]  # (for an open, for a click)
NOWHERE: NetSignals = ((), ())
_VENDOR_SIGNALS: dict[tuple[str, str], NetSignals] = {}

_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


@dataclass(frozen=True)
class Vendor:
    name: str
    agent: str
    cidrs: tuple[str, ...]
    label: str = ""
    source: str = ""
    retrieved: str = ""

    def signals(self) -> NetSignals:
        """(for an open, for a click): one Signal object per vendor name and agent, so
        that equal intervals compare equal and combinations memoize."""
        key = (self.name, self.agent)
        found = _VENDOR_SIGNALS.get(key)
        if found is None and self.agent == CLOUD_AGENT:
            found = _VENDOR_SIGNALS[key] = ((), (signal(CLOUD, "human", f"cloud:{self.name}"),))
        if found is None:
            one = signal(NET_RANKS[self.agent], self.agent, f"net:{self.name}")
            found = _VENDOR_SIGNALS[key] = (
                (one,),
                () if self.agent in OPEN_ONLY_AGENTS else (one,),
            )
        return found


def load_shipped_vendors(
    raw: Mapping[str, Any] | None = None, cloud: Mapping[str, Any] | None = None
) -> dict[str, Vendor]:
    """The vendors of networks.toml, and the hosting/cloud providers of
    cloud-networks.json (agent `cloud`; `cloud={}` leaves them out)."""
    raw = raw if raw is not None else tomllib.loads(read_data(NETWORKS_FILE).decode())
    vendors = {
        name: Vendor(
            name=name,
            agent=entry["agent"],
            cidrs=tuple(entry["cidrs"]),
            label=entry.get("label", ""),
            source=entry.get("source", ""),
            retrieved=entry.get("retrieved", ""),
        )
        for name, entry in raw["vendors"].items()
    }
    cloud = cloud if cloud is not None else json.loads(read_data(CLOUD_FILE))
    for name, entry in cloud.get("providers", {}).items():
        vendors.setdefault(
            name,
            Vendor(
                name=name,
                agent=CLOUD_AGENT,
                cidrs=tuple(entry["cidrs"]),
                label=entry.get("label", ""),
                source=cloud.get("release", ""),
                retrieved=entry.get("published", ""),
            ),
        )
    return vendors


def vendors_for(
    shipped: Mapping[str, Vendor],
    extra: Mapping[str, Iterable[str]] | None = None,
    ignore: Iterable[str] = (),
) -> list[Vendor]:
    """The shipped vendors less `ignore`, plus a brand's CIDRs: added to a shipped
    vendor of that name, or forming a new scanner vendor."""
    ignored = set(ignore)
    for name in sorted(ignored - set(shipped)):
        logger.warning("bot_policy.ignore_vendors: %r is not a shipped vendor; ignored.", name)
    vendors = {name: v for name, v in shipped.items() if name not in ignored}
    for name, cidrs in (extra or {}).items():
        base = shipped.get(name)
        agent = base.agent if base is not None else BRAND_VENDOR_AGENT
        kept = vendors[name].cidrs if name in vendors else ()
        vendors[name] = Vendor(name=name, agent=agent, cidrs=(*kept, *cidrs))
    return [vendors[name] for name in sorted(vendors)]


class NetworkTable:
    """Address -> the network signals of every vendor whose ranges contain it."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        ranges: dict[int, list[tuple[int, int, Vendor]]] = {4: [], 6: []}
        for vendor in vendors:
            for cidr in vendor.cidrs:
                try:
                    network = ipaddress.ip_network(cidr.strip(), strict=False)
                except (ValueError, TypeError, AttributeError):
                    logger.warning("Vendor %r: %r is not a CIDR; skipped.", vendor.name, cidr)
                    continue
                first, last = int(network.network_address), int(network.broadcast_address)
                ranges[network.version].append((first, last, vendor))
        self.starts4, self.ends4, self.values4 = _intervals(ranges[4], 4)
        self.starts6, self.ends6, self.values6 = _intervals(ranges[6], 16)
        self.octets = _by_first_octet(self.starts4, self.ends4, self.values4)
        self.vendors = sorted({v.name for family in ranges.values() for _, _, v in family})

    def lookup(self, ip: object) -> NetSignals:
        """The signals for `ip` (a string; anything unparsable is in no network).

        The first octet, as text, finds what can hold the address: nothing (most
        addresses), one answer for the whole /8, or an index by the second octet, which
        again holds nothing, one answer for the whole /16 or the few intervals within
        it. Only an address that may be in some range is parsed, strictly
        (`inet_pton`), and bisected: bounds are packed big-endian bytes, which compare
        like the numbers they encode."""
        try:
            head, _, rest = ip.partition(".")  # type: ignore[attr-defined]
            entry = self.octets.get(head)
            if entry is None:
                return self._lookup6(ip) if ":" in head else NOWHERE  # type: ignore[arg-type]
            if entry.__class__ is _BySecondOctet:
                entry = entry.get(rest.partition(".")[0])  # type: ignore[union-attr]
                if entry is None:
                    return NOWHERE
            packed = _inet_pton(_AF_INET, ip)  # type: ignore[arg-type]
        except (OSError, TypeError, ValueError, AttributeError):
            return NOWHERE  # not an address, not a str, an embedded NUL
        if entry.__class__ is tuple:  # the whole /8 or /16 has the same signals
            return entry  # type: ignore[return-value]
        starts, ends, values = entry  # type: ignore[misc]
        index = bisect_right(starts, packed) - 1
        if index >= 0 and packed <= ends[index]:
            return values[index]
        return NOWHERE

    def _lookup6(self, ip: str) -> NetSignals:
        packed = _inet_pton(_AF_INET6, ip.partition("%")[0])  # drop a zone id (fe80::1%eth0)
        if packed.startswith(_V4_MAPPED_PREFIX):  # ::ffff:a.b.c.d
            packed = packed[12:]
            starts, ends, values = self.starts4, self.ends4, self.values4
        else:
            starts, ends, values = self.starts6, self.ends6, self.values6
        index = bisect_right(starts, packed) - 1
        if index >= 0 and packed <= ends[index]:
            return values[index]
        return NOWHERE


def _intervals(
    ranges: list[tuple[int, int, Vendor]], size: int
) -> tuple[list[bytes], list[bytes], list[NetSignals]]:
    """Cut possibly overlapping ranges into disjoint intervals, each with the merged
    signals of the vendors covering it (a sweep over range starts and ends); adjacent
    intervals with equal signals merge."""
    events = sorted(
        [(first, 1, vendor) for first, _, vendor in ranges]
        + [(last + 1, -1, vendor) for _, last, vendor in ranges],
        key=lambda event: (event[0], event[1]),
    )
    active: Counter[str] = Counter()
    by_name: dict[str, Vendor] = {}
    starts: list[int] = []
    ends: list[int] = []
    values: list[NetSignals] = []
    position = 0
    while position < len(events):
        here = events[position][0]
        while position < len(events) and events[position][0] == here:
            _, step, vendor = events[position]
            active[vendor.name] += step
            by_name[vendor.name] = vendor
            position += 1
        covering = [by_name[name] for name, count in sorted(active.items()) if count > 0]
        if not covering or position == len(events):
            continue
        value = _merged(covering)
        last = events[position][0] - 1
        if ends and ends[-1] == here - 1 and values[-1] == value:
            ends[-1] = last
            continue
        starts.append(here)
        ends.append(last)
        values.append(value)
    return (
        [n.to_bytes(size, "big") for n in starts],
        [n.to_bytes(size, "big") for n in ends],
        values,
    )


class _Slice(list):
    """[starts, ends, values] of the intervals within one /8 or /16."""

    __slots__ = ()


class _BySecondOctet(dict):
    """Second octet (decimal text) -> the signals of a whole /16, or its intervals."""

    __slots__ = ()


def _by_first_octet(
    starts: list[bytes], ends: list[bytes], values: list[NetSignals]
) -> dict[str, NetSignals | _BySecondOctet]:
    """First octet (decimal text) -> its signals when one interval covers the whole /8,
    else an index of its /16s; octets no interval touches are absent. The intervals are
    sorted and disjoint, so the ones overlapping a block are found by bisection."""
    octets: dict[str, NetSignals | _BySecondOctet] = {}
    for octet in range(256):
        found = _covering(starts, ends, values, bytes([octet, 0, 0, 0]), bytes([octet] + [255] * 3))
        if found is None:
            continue
        if found.__class__ is tuple:
            octets[str(octet)] = found  # type: ignore[assignment]
            continue
        by_second = _BySecondOctet()
        for second in range(256):
            low, high = bytes([octet, second, 0, 0]), bytes([octet, second, 255, 255])
            block = _covering(starts, ends, values, low, high)
            if block is not None:
                by_second[str(second)] = block
        octets[str(octet)] = by_second
    return octets


def _covering(
    starts: list[bytes], ends: list[bytes], values: list[NetSignals], low: bytes, high: bytes
) -> NetSignals | _Slice | None:
    """What covers [low, high]: nothing, one interval's signals for all of it, or the
    intervals that overlap it."""
    first = bisect_left(ends, low)
    last = bisect_right(starts, high) - 1
    if first > last:
        return None
    if first == last and starts[first] <= low and ends[first] >= high:
        return values[first]
    return _Slice((starts[first : last + 1], ends[first : last + 1], values[first : last + 1]))


def _merged(vendors: list[Vendor]) -> NetSignals:
    """The signals of the vendors covering an interval. Where a named vendor's list
    covers a hosting range (Exchange Online inside Microsoft's allocation), the vendor
    says more than "hosting", so the hosting signal is left out."""
    named = [v for v in vendors if v.agent != CLOUD_AGENT]
    if any(v.agent not in OPEN_ONLY_AGENTS for v in named):
        vendors = named
    on_open = tuple(sorted(s for v in vendors for s in v.signals()[0]))
    on_click = tuple(sorted(s for v in vendors for s in v.signals()[1]))
    return (on_open, on_click)
