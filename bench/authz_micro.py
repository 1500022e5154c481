"""In-process authorization decisions, timed one call at a time (``python -m bench.authz_micro``).

A policy is built in memory through the memory adapter's unit of work: a resource tree
``--depth`` levels deep under the tenant root (``--branching`` children per folder), every ACL
with ``--entries`` entries that all name the checked action, and the caller a direct member of
the innermost of ``--group-depth`` nested groups. Only the outermost group is granted ``read``,
by the last entry of the top folder's ACL, so a check on a leaf walks the whole chain and scans
every entry on it before it finds the allow.

Timed with ``time.perf_counter_ns`` around each call, in rounds that take every scenario in
turn (so drift on the machine touches all alike):

- baseline: a dict lookup of the (principal, action, resource) key plus an ``await`` of an
  empty coroutine, the least any cached async check can cost;
- ``Authorizer.check`` with the decision cached (target p50 <= 2 µs);
- ``Authorizer.check`` missing the decision cache with the subject and the nodes in memory
  (target p50 <= 20 µs): an ``Authorizer`` whose decision cache holds one entry, checking a
  different leaf each call;
- for reference: the engine alone (``inheritance_chain`` + ``evaluate`` on ``Node``s built
  here), and a fresh ``Authorizer`` per call (subject and nodes loaded from the memory store).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.authz_report import (
    NONE,
    Row,
    Section,
    load_average,
    percentile,
    relative,
    render_table,
    spread,
    us,
    verdict,
    write_results,
)
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.application.authz.authorizer import Authorizer
from truapi.application.authz.versions import PolicyVersions
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.policy.acl import (
    Acl,
    AclEntry,
    CompiledEntries,
    Dacl,
    Effect,
)
from truapi.domain.policy.engine import (
    Decision,
    Node,
    Subject,
    Verdict,
    evaluate,
    inheritance_chain,
)
from truapi.domain.policy.membership import subject_of
from truapi.domain.policy.principals import OWNER
from truapi.domain.policy.resources import Resource, ResourceName, tenant_root
from truapi.domain.tenants import Tenant

PART = "in-process"
ACTION = "read"
MAX_DEPTH = 32  # the default APP_AUTHZ_MAX_DEPTH
WARM_TARGET_NS = 2_000
COLD_TARGET_NS = 20_000
NOISY_SPREAD = 0.25


# --- the policy -------------------------------------------------------------------------------


@dataclass
class Policy:
    """The policy built in memory, and the same data as engine nodes."""

    factory: MemoryUnitOfWorkFactory
    versions: PolicyVersions
    tenant_id: uuid.UUID
    principal: str
    leaves: list[str]  # the deepest resources: what every scenario checks
    top_of: dict[str, str]  # leaf -> the top folder whose ACL grants the read
    nodes: dict[str, Node] = field(default_factory=dict)
    subject: Subject | None = None
    resources: int = 0
    entries: int = 0


async def build_policy(depth: int, group_depth: int, entries: int, branching: int) -> Policy:
    now = datetime.now(UTC)
    factory = MemoryUnitOfWorkFactory()
    tenant = Tenant.create(slug="bench-authz", name="Authorization benchmark", now=now)
    tid = tenant.id
    root = tenant_root(tid)
    user_id = uuid.uuid4()
    principal = f"user:{user_id}"
    nested = [Group.create(tenant_id=tid, name=f"nested-{i}", now=now) for i in range(group_depth)]
    # The principals the other entries name: groups the caller is not in.
    others = [Group.create(tenant_id=tid, name=f"other-{i}", now=now) for i in range(entries)]
    outermost = f"group:{nested[-1].id}"

    def acl_entries(top: bool) -> tuple[AclEntry, ...]:
        filler = [
            AclEntry(
                Effect.DENY if i % 2 else Effect.ALLOW,
                f"group:{others[i % len(others)].id}",
                (ACTION, "write", "list"),
            )
            for i in range(entries - 1 if top else entries)
        ]
        if top:
            filler.append(AclEntry(Effect.ALLOW, outermost, (ACTION, "list")))
        return tuple(filler)

    policy = Policy(factory, PolicyVersions(), tid, principal, [], {})
    dacl_entries = (AclEntry(Effect.ALLOW, OWNER, (ACTION, "write")),)
    async with factory() as uow:
        await uow.tenants.add(tenant)
        for group in [*nested, *others]:
            await uow.groups.add(group)
        await uow.groups.add_member(Membership(tid, nested[0].id, MemberType.USER, user_id, now))
        for inner, outer in itertools.pairwise(nested):
            await uow.groups.add_member(Membership(tid, outer.id, MemberType.GROUP, inner.id, now))
        await uow.dacls.put(tid, Dacl(root, "doc", dacl_entries))
        level: list[tuple[str | None, str | None]] = [(None, None)]  # (parent, its top folder)
        for d in range(1, depth + 1):
            kind = "doc" if d == depth else "folder"
            following: list[tuple[str | None, str | None]] = []
            for n, (parent, top) in enumerate(level):
                for k in range(branching):
                    rid = str(ResourceName(kind, f"l{d}-{n * branching + k}"))
                    await uow.resources.add(
                        Resource.create(
                            tenant_id=tid,
                            name=ResourceName(kind, rid.partition(":")[2]),
                            parent=parent,
                            owner=None,
                            now=now,
                        )
                    )
                    acl = Acl(rid, inherit=True, entries=acl_entries(d == 1), version=1)
                    await uow.acls.put(tid, acl)
                    policy.nodes[rid] = Node(
                        id=rid,
                        type=kind,
                        parent=parent,
                        inherit=True,
                        acl=CompiledEntries.of(acl.entries),
                    )
                    policy.resources += 1
                    policy.entries += len(acl.entries)
                    following.append((rid, top or rid))
                    if d == depth:
                        policy.leaves.append(rid)
                        policy.top_of[rid] = top or rid
            level = following
        version = await uow.policy_versions.bump(tid)
        await uow.commit()
    policy.versions.advance(tid, version)
    policy.nodes[root] = Node(
        id=root, type="tenant", dacls={"doc": CompiledEntries.of(dacl_entries)}
    )
    parents = {
        f"group:{inner.id}": [f"group:{outer.id}"] for inner, outer in itertools.pairwise(nested)
    }
    policy.subject = subject_of(principal, [f"group:{nested[0].id}"], parents, MAX_DEPTH)
    return policy


def authorizer(policy: Policy, cache_size: int) -> Authorizer:
    return Authorizer(
        policy.factory,
        policy.versions,
        max_depth=MAX_DEPTH,
        fallback_allow=False,
        cache_size=cache_size,
    )


def expect_grant(policy: Policy, leaf: str, got: Verdict) -> None:
    """Every scenario must reach the same decision, found where the design puts it."""
    matched = got.matched.resource if got.matched is not None else None
    if not got.allowed or got.decision is not Decision.INHERITED_ALLOW:
        raise RuntimeError(f"{leaf}: expected an inherited allow, got {got.to_dict()}")
    if matched != policy.top_of[leaf]:
        raise RuntimeError(f"{leaf}: allowed by {matched}, expected {policy.top_of[leaf]}")


# --- the timed loops --------------------------------------------------------------------------
# One loop per scenario, written out, so the timed region holds exactly the call measured.


async def _noop() -> None:
    return None


async def time_clock(n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        out[i] = clock() - t0
    return out


async def time_baseline(
    table: dict[tuple[str, str, str], Verdict], policy: Policy, n: int
) -> list[int]:
    clock, leaves, principal = time.perf_counter_ns, policy.leaves, policy.principal
    k = len(leaves)
    out = [0] * n
    for i in range(n):
        resource = leaves[i % k]
        t0 = clock()
        table.get((principal, ACTION, resource))
        await _noop()
        out[i] = clock() - t0
    return out


async def time_check(auth: Authorizer, policy: Policy, n: int) -> list[int]:
    clock, leaves, principal, tid = (
        time.perf_counter_ns,
        policy.leaves,
        policy.principal,
        policy.tenant_id,
    )
    check = auth.check
    k = len(leaves)
    out = [0] * n
    for i in range(n):
        resource = leaves[i % k]
        t0 = clock()
        await check(tid, principal, ACTION, resource)
        out[i] = clock() - t0
    return out


async def time_engine(policy: Policy, n: int) -> list[int]:
    clock, leaves, nodes = time.perf_counter_ns, policy.leaves, policy.nodes
    root = tenant_root(policy.tenant_id)
    subject = policy.subject
    assert subject is not None
    lookup = nodes.__getitem__
    k = len(leaves)
    out = [0] * n
    for i in range(n):
        resource = leaves[i % k]
        t0 = clock()
        chain, fault = inheritance_chain(resource, root, lookup, MAX_DEPTH)
        evaluate(subject, ACTION, chain, fault=fault)
        out[i] = clock() - t0
    return out


async def time_fresh(policy: Policy, n: int) -> list[int]:
    clock, leaves, principal, tid = (
        time.perf_counter_ns,
        policy.leaves,
        policy.principal,
        policy.tenant_id,
    )
    k = len(leaves)
    out = [0] * n
    for i in range(n):
        auth = authorizer(policy, 100_000)  # made outside the timed region
        resource = leaves[i % k]
        t0 = clock()
        await auth.check(tid, principal, ACTION, resource)
        out[i] = clock() - t0
    return out


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    run: Callable[[int], Awaitable[list[int]]]
    share: int = 1  # iterations = --micro-iterations // share
    target_ns: float | None = None


@dataclass
class Outcome:
    scenario: Scenario
    rounds: list[list[int]] = field(default_factory=list)

    @property
    def samples(self) -> list[int]:
        return [x for r in self.rounds for x in r]

    @property
    def round_p50s(self) -> list[float]:
        return [statistics.median(r) for r in self.rounds]


async def measure(policy: Policy, rounds: int, iterations: int) -> list[Outcome]:
    warm = authorizer(policy, 100_000)
    # One decision kept at a time: checking another leaf than the last always misses, while
    # the subject and node caches (not bounded by the cache size) keep everything in memory.
    cold = authorizer(policy, 1)
    table: dict[tuple[str, str, str], Verdict] = {}
    for leaf in policy.leaves:
        for auth in (warm, cold):
            expect_grant(
                policy, leaf, await auth.check(policy.tenant_id, policy.principal, ACTION, leaf)
            )
        got = await warm.check(policy.tenant_id, policy.principal, ACTION, leaf)
        table[(policy.principal, ACTION, leaf)] = got
        chain, fault = inheritance_chain(
            leaf, tenant_root(policy.tenant_id), policy.nodes.__getitem__, MAX_DEPTH
        )
        assert policy.subject is not None
        expect_grant(policy, leaf, evaluate(policy.subject, ACTION, chain, fault=fault))
    fresh_check = await authorizer(policy, 10).check(
        policy.tenant_id, policy.principal, ACTION, policy.leaves[0]
    )
    expect_grant(policy, policy.leaves[0], fresh_check)

    scenarios = [
        Scenario(
            "baseline",
            "baseline: dict lookup + await of an empty coroutine",
            lambda n: time_baseline(table, policy, n),
        ),
        Scenario(
            "warm",
            "Authorizer.check, decision cached",
            lambda n: time_check(warm, policy, n),
            target_ns=WARM_TARGET_NS,
        ),
        Scenario(
            "cold",
            "Authorizer.check, decision-cache miss, data in memory",
            lambda n: time_check(cold, policy, n),
            target_ns=COLD_TARGET_NS,
        ),
        Scenario(
            "engine",
            "  engine alone: inheritance_chain + evaluate",
            lambda n: time_engine(policy, n),
        ),
        Scenario(
            "fresh",
            "  fresh Authorizer: subject and nodes from the memory store",
            lambda n: time_fresh(policy, n),
            share=20,
        ),
        Scenario("clock", "  clock alone: two perf_counter_ns reads", time_clock),
    ]
    outcomes = [Outcome(s) for s in scenarios]
    for s in scenarios:  # warm-up: caches, branch predictors, the allocator
        await s.run(max(10, iterations // s.share // 10))
    for _ in range(rounds):
        for outcome in outcomes:
            gc.collect()
            outcome.rounds.append(
                await outcome.scenario.run(max(10, iterations // outcome.scenario.share))
            )
    return outcomes


# --- the run ----------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("in-process decisions (bench.authz_micro)")
    g.add_argument("--micro-rounds", type=int, help="rounds of every scenario (default 7; quick 2)")
    g.add_argument(
        "--micro-iterations",
        type=int,
        help="timed calls per scenario and round (default 20000; quick 2000)",
    )
    g.add_argument("--depth", type=int, default=6, help="resource levels (default 6)")
    g.add_argument("--group-depth", type=int, default=4, help="nested groups (default 4)")
    g.add_argument("--entries", type=int, default=20, help="entries per ACL (default 20)")
    g.add_argument("--branching", type=int, default=3, help="children per folder (default 3)")
    g.add_argument(
        "--micro-cpu",
        type=int,
        help="CPU to pin the timing to (default: --server-cpu, else the first allowed)",
    )


@contextmanager
def pinned(cpu: int | None) -> Iterator[int | None]:
    """Run the block on one CPU (the one the HTTP servers get), then restore the affinity."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    chosen = cpu if cpu is not None else min(before)
    os.sched_setaffinity(0, {chosen})
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, before)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> Section:
    rounds = args.micro_rounds or (2 if args.quick else 7)
    iterations = args.micro_iterations or (2_000 if args.quick else 20_000)
    if args.depth < 2 or args.group_depth < 1 or args.entries < 1 or args.branching < 2:
        raise SystemExit(
            "bench.authz_micro: needs --depth >= 2, --group-depth >= 1, "
            "--entries >= 1 and --branching >= 2"
        )
    section = Section("micro")
    with pinned(args.micro_cpu if args.micro_cpu is not None else args.server_cpu) as cpu:
        log(
            f"in-process: building a {args.depth}-level tree (branching {args.branching}), "
            f"{args.group_depth} nested groups, {args.entries} entries per ACL"
        )
        policy = asyncio.run(
            build_policy(args.depth, args.group_depth, args.entries, args.branching)
        )
        log(f"in-process: {rounds} round(s) x {iterations:,} calls per scenario on CPU {cpu}")
        outcomes = asyncio.run(measure(policy, rounds, iterations))
    base = statistics.median(outcomes[0].samples)
    records = []
    for o in outcomes:
        s, samples = o.scenario, o.samples
        p50, p95 = statistics.median(samples), percentile(samples, 95)
        ratio = p50 / base if base else float("nan")
        passed = None if s.target_ns is None else p50 <= s.target_ns
        section.rows.append(
            Row(
                part=PART,
                measurement=s.label,
                value=us(p50),
                p95=us(p95),
                runs=" ".join(f"{x / 1000:.2f}" for x in o.round_p50s),
                ratio="reference" if s.key == "baseline" else f"{ratio:.1f}x baseline",
                target=NONE if s.target_ns is None else f"p50 <= {s.target_ns / 1000:g} µs",
                result=verdict(passed),
            )
        )
        records.append(
            {
                "key": s.key,
                "label": s.label.strip(),
                "samples": len(samples),
                "p50_ns": p50,
                "p95_ns": percentile(samples, 95),
                "p99_ns": percentile(samples, 99),
                "mean_ns": round(statistics.fmean(samples), 1),
                "round_p50_ns": o.round_p50s,
                "round_spread": round(spread(o.round_p50s), 3),
                "ratio_to_baseline_p50": round(ratio, 3),
                "target_p50_ns": s.target_ns,
                "result": verdict(passed),
            }
        )
    section.record = {
        "cpu": cpu,
        "rounds": rounds,
        "iterations": iterations,
        "shape": {
            "depth": args.depth,
            "group_depth": args.group_depth,
            "entries_per_acl": args.entries,
            "branching": args.branching,
            "resources": policy.resources,
            "leaves_checked": len(policy.leaves),
            "acl_entries": policy.entries,
            "chain_nodes": args.depth + 1,
        },
        "timer": "time.perf_counter_ns around each call; p50 and p95 over every round's samples",
        "scenarios": records,
    }
    noisy = [o.scenario.label.strip() for o in outcomes if spread(o.round_p50s) > NOISY_SPREAD]
    if noisy and rounds > 1:
        section.record["noisy"] = noisy
    return section


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.authz_micro", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 2,000 calls")
    p.add_argument("--server-cpu", type=int, help=argparse.SUPPRESS)
    add_arguments(p)
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    before = load_average()
    section = run(
        args, lambda m: print(f"[bench {time.strftime('%H:%M:%S')}] {m}", file=sys.stderr)
    )
    print(render_table(section.rows))
    summary: dict[str, Any] = {
        "started_at": started.isoformat(),
        "mode": "quick" if args.quick else "full",
        "load_average": {"before": before, "after": load_average()},
        "micro": section.record,
    }
    out = write_results(started, "authz-micro", summary)
    print(f"\nresults: {relative(out)}")
    return 1 if section.failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
