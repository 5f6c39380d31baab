"""Report stage: registered patients on a date, by PCT or by any group of PCTs.

Computed only from the graph's public queries (organisations of a kind on a date, hops, attributes):
a PCT's registered patients are the list sizes of the practices that were part of it on that date.
The list sizes are one file's (`pctrules import nhsbsa-list-size`), whatever the date asked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pctrules.graph.model import OrgGraph


@dataclass
class Row:
    """One PCT or one group of PCTs on the date."""

    code: str
    name: str
    pcts: int = 0
    clusters: set[str] = field(default_factory=set)
    practices: int = 0
    with_size: int = 0
    patients: int = 0

    @property
    def per_pct(self) -> float | None:
        return self.patients / self.pcts if self.pcts else None

    @property
    def per_cluster(self) -> float | None:
        return self.patients / len(self.clusters) if self.clusters else None

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "pcts": self.pcts,
            "clusters": len(self.clusters),
            "practices": self.practices,
            "practices_with_list_size": self.with_size,
            "patients": self.patients,
            "patients_per_pct": _round(self.per_pct),
            "patients_per_cluster": _round(self.per_cluster),
        }


@dataclass
class Report:
    """Registered patients on `on`, one row per group (`by`), and the England total."""

    on: dt.date
    by: str
    rows: list[Row]
    total: Row
    unassigned: Row  # PCTs of no group of that kind on the date (e.g. before the clusters)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def population(graph: OrgGraph, on: dt.date, by: str) -> Report:
    """Registered patients per `by` (a kind a PCT hops to, such as 'sha' or 'cluster', or 'pct')."""
    cluster_hop = "cluster" if graph.schema.hop("pct", "cluster") else None
    total = Row("England", "all PCTs")
    unassigned = Row("-", f"in no {by} on {on}")
    rows: dict[str, Row] = {}
    for pct in sorted(graph.nodes_of_kind("pct", on)):
        practices = graph.follow_many(pct, "practices", on)
        sizes = [s for p in practices if isinstance(s := graph.attr(p, "population", on), int)]
        cluster = graph.follow_one(pct, cluster_hop, on) if cluster_hop else None
        group = pct if by == "pct" else graph.follow_one(pct, by, on)
        target = rows.setdefault(group, Row(group, graph.name(group) or group)) if group else None
        for row in (total, target or unassigned):
            row.pcts += 1
            row.practices += len(practices)
            row.with_size += len(sizes)
            row.patients += sum(sizes)
            if cluster:
                row.clusters.add(cluster)
    return Report(on, by, [rows[k] for k in sorted(rows)], total, unassigned)


def groupings(graph: OrgGraph) -> list[str]:
    """The `--by` choices the schema offers: 'pct', and each hop that leads a PCT to one group."""
    return ["pct", *sorted(n for n, h in graph.schema.hops("pct").items() if h.one)]
