"""Authorization at scale on PostgreSQL, through the real ``Authorizer`` and repositories
(``python -m bench.authz_scale``).

A fresh database is migrated by TruAPI's migrations, then bulk-seeded with SQL (``INSERT …
SELECT generate_series``) straight into its tables: ``--groups`` groups nested four levels
deep (1 in 1,000 at the top, 1 in 100 below, 1 in 10 below that, the rest leaves),
``--users`` users, ``--memberships`` rows of ``group_members`` in all (the nesting edges, each
user in about ten leaf groups of one top-level branch), ``--resources`` resources in a tree six
levels deep whose folders, and one leaf in ten, carry ACLs of ``--acl-entries`` entries, and
default ACLs on the top folders. ``--heavy-users`` users are placed so their effective
membership is exactly ``--effective-groups`` groups (fewer when a small run has fewer).
``--scale F`` multiplies the four sizes (``--quick``: 0.01).

Timed one call at a time (``time.perf_counter_ns``), samples interleaved:

- baseline: one primary-key read through a read-only unit of work;
- a cold check: a fresh ``Authorizer`` (no cached subject, node or decision) asked whether a
  heavy user may read a random leaf (target p95 <= 5 ms); the same for an ordinary user;
- ``Authorizer.groups`` of a heavy user (target p95 <= 5 ms);
- ``GroupRepository.members_page(transitive=True)`` of the largest group, one page of the
  API's default size (plus the one-row probe the service asks for) after a random position
  (target p95 <= 50 ms a page); the same for a group one level above the leaves.

After the samples, the statements of one call of each are captured and run again under
``EXPLAIN (ANALYZE, BUFFERS)``; the plans go to the JSON (``--no-explain`` skips this).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.authz_http import add_common
from bench.authz_report import (
    NONE,
    Row,
    Section,
    load_average,
    ms,
    percentile,
    relative,
    render_table,
    verdict,
    write_results,
)
from bench.run import environment
from bench.run import log as bench_log
from bench.seed import create_postgres_database, drop_postgres_database, seed_database
from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from truapi.application.authz.authorizer import Authorizer
from truapi.application.authz.versions import PolicyVersions
from truapi.application.pagination import DEFAULT_LIMIT
from truapi.application.ports.repositories import MemberKeyset
from truapi.domain.groups import MemberType

PART = "PostgreSQL scale"
MAX_DEPTH = 32  # the default APP_AUTHZ_MAX_DEPTH
CHECK_TARGET_S = 0.005
GROUPS_TARGET_S = 0.005
PAGE_TARGET_S = 0.050
RESOURCE_LEVELS = (0.0001, 0.001, 0.01, 0.05, 0.2)  # shares of levels 1-5; level 6 the rest
LEAVES_WITH_ACL = 10  # one leaf in 10 has its own ACL


def group_uuid(index: int) -> uuid.UUID:
    """The id of group ``index``: ``md5('g:' || index)::uuid`` in the seeding SQL."""
    return uuid.UUID(hashlib.md5(f"g:{index}".encode()).hexdigest())


def user_uuid(index: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"u:{index}".encode()).hexdigest())


# --- the shape --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    groups: int
    users: int
    memberships: int
    resources: int
    acl_entries: int
    heavy_users: int
    effective_groups: int

    @property
    def group_levels(self) -> list[int]:
        """Groups per nesting level, top first; the last level holds the leaves."""
        upper = [max(1, self.groups // 1000), max(1, self.groups // 100), max(1, self.groups // 10)]
        return [*upper, self.groups - sum(upper)]

    @property
    def resource_levels(self) -> list[int]:
        upper = [max(1, round(self.resources * share)) for share in RESOURCE_LEVELS]
        return [*upper, self.resources - sum(upper)]


def offsets(sizes: list[int]) -> list[int]:
    out, total = [], 0
    for size in sizes:
        out.append(total)
        total += size
    return out


def group_parent(shape: Shape, index: int) -> int | None:
    """The group that group ``index`` is a direct member of (None at the top)."""
    sizes = shape.group_levels
    starts = offsets(sizes)
    for level in range(len(sizes) - 1, 0, -1):
        if index >= starts[level]:
            position = index - starts[level]
            return starts[level - 1] + position * sizes[level - 1] // sizes[level]
    return None


def heavy_memberships(shape: Shape, user: int) -> tuple[list[int], int]:
    """Leaf groups for a heavy user, picked pseudo-randomly in different branches until the
    user's effective groups number ``effective_groups``; returns them and that number."""
    sizes = shape.group_levels
    leaf_start, leaves = offsets(sizes)[-1], sizes[-1]
    rng = random.Random(user)
    reached: set[int] = set()
    chosen: list[int] = []
    for leaf in rng.sample(range(leaf_start, leaf_start + leaves), leaves):
        closure = set()
        group: int | None = leaf
        while group is not None and group not in reached:
            closure.add(group)
            group = group_parent(shape, group)
        if len(reached) + len(closure) > shape.effective_groups:
            continue
        reached |= closure
        chosen.append(leaf)
        if len(reached) == shape.effective_groups:
            break
    return chosen, len(reached)


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    tenant_id: uuid.UUID
    heavy: list[tuple[uuid.UUID, int]]  # (user id, its effective group count)
    ordinary: list[uuid.UUID]
    leaves: list[str]  # a sample of leaf resources
    largest_group: uuid.UUID  # the first top-level group
    middle_group: uuid.UUID  # the first group one level above the leaves
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)  # of the timed cold checks


async def seed(engine: AsyncEngine, shape: Shape, log: Callable[[str], None]) -> Seeded:
    async with engine.connect() as conn:
        tid = (await conn.execute(text("SELECT id FROM tenants ORDER BY created_at"))).scalar()
    if not isinstance(tid, uuid.UUID):
        raise RuntimeError("the migrated database has no tenant")
    p: dict[str, Any] = {"tid": tid}
    timings: dict[str, float] = {}

    async def step(name: str, statements: list[tuple[str, dict[str, Any]]]) -> None:
        started = time.perf_counter()
        async with engine.begin() as conn:
            for sql, params in statements:
                await conn.execute(text(sql), {**p, **params})
        timings[name] = round(time.perf_counter() - started, 2)
        log(f"  {name}: {timings[name]:.1f} s")

    sizes, starts = shape.group_levels, offsets(shape.group_levels)
    name = "'g' || lpad(i::text, 6, '0')"
    await step(
        "groups",
        [
            (
                f"""INSERT INTO groups (id, tenant_id, name, name_key, description, search_key,
                        external_id, created_at, updated_at)
                    SELECT md5('g:' || i)::uuid, :tid, {name}, {name}, '', {name} || chr(31),
                        NULL, now(), now()
                    FROM generate_series(0, :n - 1) AS i""",
                {"n": shape.groups},
            )
        ],
    )
    edges = [
        (
            """INSERT INTO group_members (tenant_id, group_id, member_type, member_id, source,
                    created_at)
                SELECT :tid, md5('g:' || (:up_start + (i::bigint * :up_n) / :n))::uuid, 'group',
                    md5('g:' || (:start + i))::uuid, NULL, now()
                FROM generate_series(0, :n - 1) AS i""",
            {
                "start": starts[level],
                "n": sizes[level],
                "up_start": starts[level - 1],
                "up_n": sizes[level - 1],
            },
        )
        for level in range(1, len(sizes))
    ]
    await step("group nesting", edges)
    username = "'user' || lpad(i::text, 7, '0')"
    await step(
        "users",
        [
            (
                f"""INSERT INTO users (id, tenant_id, username, email, display_name, search_key,
                        status, mfa_enabled, password_hash, version, created_at, updated_at)
                    SELECT md5('u:' || i)::uuid, :tid, {username},
                        {username} || '@example.com', 'Bench User ' || i,
                        {username} || chr(10) || {username} || '@example.com' || chr(10)
                            || 'bench user ' || i,
                        'active', false, NULL, 1,
                        now() - make_interval(secs => :n - i), now() - make_interval(secs => :n - i)
                    FROM generate_series(0, :n - 1) AS i""",
                {"n": shape.users},
            )
        ],
    )
    heavy = min(shape.heavy_users, shape.users)
    heavy_rows: list[dict[str, Any]] = []
    heavy_users: list[tuple[uuid.UUID, int]] = []
    for user in range(heavy):
        picked, reached = heavy_memberships(shape, user)
        heavy_users.append((user_uuid(user), reached))
        heavy_rows += [
            {"tid": tid, "g": str(group_uuid(g)), "u": str(user_uuid(user))} for g in picked
        ]
    budget = shape.memberships - (shape.groups - sizes[0]) - len(heavy_rows)
    others = shape.users - heavy
    base, extra = divmod(max(0, budget), max(1, others))
    # Each user stays within one top-level branch (a block of leaves), as people mostly
    # belong to teams of one division: a top-level group holds about 1/top of the users.
    block = sizes[-1] // sizes[0]
    if base + (1 if extra else 0) > block:
        raise SystemExit(
            f"bench.authz_scale: {base + 1} memberships per user need more than "
            f"{block} leaf groups per top-level group"
        )
    stride = max(1, block // (base + 1))
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            """INSERT INTO group_members (tenant_id, group_id, member_type, member_id, source,
                    created_at)
                SELECT :tid,
                    md5('g:' || (:leaf_start + (u % :top) * :block
                        + ((u / :top) + j * :stride) % :block))::uuid,
                    'user', md5('u:' || u)::uuid, NULL, now()
                FROM generate_series(:heavy, :users - 1) AS u
                CROSS JOIN generate_series(0, :base) AS j
                WHERE j < :base OR u - :heavy < :extra""",
            {
                "leaf_start": starts[-1],
                "top": sizes[0],
                "block": block,
                "stride": stride,
                "heavy": heavy,
                "users": shape.users,
                "base": base,
                "extra": extra,
            },
        )
    ]
    await step("user memberships", statements)
    if heavy_rows:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    """INSERT INTO group_members (tenant_id, group_id, member_type, member_id,
                            source, created_at)
                        VALUES (:tid, CAST(:g AS uuid), 'user', CAST(:u AS uuid), NULL, now())"""
                ),
                heavy_rows,
            )

    rsizes = shape.resource_levels
    resource_steps: list[tuple[str, dict[str, Any]]] = []
    acl_steps: list[tuple[str, dict[str, Any]]] = []
    for level, n in enumerate(rsizes, start=1):
        kind = "doc" if level == len(rsizes) else "folder"
        parent = (
            "NULL"
            if level == 1
            else f"'folder:l{level - 1}-' || ((i::bigint * {rsizes[level - 2]}) / :n)"
        )
        owner = f"'user:' || md5('u:' || (i % {shape.users}))::uuid" if kind == "doc" else "NULL"
        resource_steps.append(
            (
                f"""INSERT INTO resources (tenant_id, id, type, parent, owner, created_at)
                    SELECT :tid, '{kind}:l{level}-' || i, '{kind}', {parent}, {owner}, now()
                    FROM generate_series(0, :n - 1) AS i""",
                {"n": n},
            )
        )
        every = LEAVES_WITH_ACL if kind == "doc" else 1
        acl_steps.append(
            (
                f"""INSERT INTO acls (tenant_id, resource, inherit, version)
                    SELECT :tid, '{kind}:l{level}-' || i, true, 1
                    FROM generate_series(0, :n - 1) AS i WHERE i % {every} = 0""",
                {"n": n},
            )
        )
    await step("resources", resource_steps)
    acl_steps += [
        (
            """INSERT INTO acl_entries (tenant_id, resource, position, effect, principal, actions)
                SELECT :tid, a.resource, e,
                    CASE WHEN e % 5 = 4 THEN 'deny' ELSE 'allow' END,
                    'group:' || md5('g:' || (((hashtext(a.resource)::bigint & 2147483647)
                        + e * 977) % :groups))::uuid,
                    CASE WHEN e % 5 = 4 THEN '["delete"]'::json ELSE '["read", "write"]'::json END
                FROM acls a CROSS JOIN generate_series(0, :entries - 1) AS e
                WHERE a.tenant_id = :tid AND a.resource NOT LIKE 'tenant:%'""",
            {"groups": shape.groups, "entries": shape.acl_entries},
        ),
        # The top folders' last entry lets a top-level group read everything below.
        (
            """UPDATE acl_entries
                SET effect = 'allow', actions = '["read"]'::json,
                    principal = 'group:' || md5('g:' ||
                        (substring(resource FROM 11)::int % :top))::uuid
                WHERE tenant_id = :tid AND resource LIKE 'folder:l1-%' AND position = :last""",
            {"top": sizes[0], "last": shape.acl_entries - 1},
        ),
        (
            """INSERT INTO dacls (tenant_id, resource, applies_to)
                SELECT :tid, 'folder:l1-' || i, 'doc' FROM generate_series(0, :n - 1) AS i""",
            {"n": rsizes[0]},
        ),
        (
            """INSERT INTO dacl_entries (tenant_id, resource, applies_to, position, effect,
                    principal, actions)
                SELECT :tid, 'folder:l1-' || i, 'doc', 0, 'allow', 'owner',
                    '["read", "write"]'::json
                FROM generate_series(0, :n - 1) AS i""",
            {"n": rsizes[0]},
        ),
        (
            """INSERT INTO policy_versions (tenant_id, version) VALUES (:tid, 1)
                ON CONFLICT (tenant_id) DO UPDATE SET version = policy_versions.version + 1""",
            {},
        ),
    ]
    await step("ACLs and default ACLs", acl_steps)
    started = time.perf_counter()
    async with engine.connect() as conn:
        # What autovacuum does after a bulk load (inserts trigger it since PostgreSQL 13).
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))
        counts = {}
        for table in (
            "users",
            "groups",
            "group_members",
            "resources",
            "acls",
            "acl_entries",
            "dacls",
            "dacl_entries",
        ):
            counts[table] = int(
                (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            )
    timings["vacuum analyze"] = round(time.perf_counter() - started, 2)
    log(f"  vacuum analyze: {timings['vacuum analyze']:.1f} s")
    rng = random.Random(7)
    leaf_level, leaf_count = len(rsizes), rsizes[-1]
    return Seeded(
        tenant_id=tid,
        heavy=heavy_users,
        ordinary=[user_uuid(i) for i in rng.sample(range(heavy, shape.users), min(200, others))],
        leaves=[
            f"doc:l{leaf_level}-{i}" for i in rng.sample(range(leaf_count), min(1000, leaf_count))
        ],
        largest_group=group_uuid(0),
        middle_group=group_uuid(starts[-2]),
        counts=counts,
        seconds=timings,
    )


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    call: Callable[[int], Awaitable[Any]]
    target_s: float | None = None
    samples: int = 0


class Capture:
    """The SQL statements the engine runs while ``on`` (for EXPLAIN)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.statements.append((statement, parameters))


async def explain(engine: AsyncEngine, statements: list[tuple[str, Any]]) -> list[str]:
    plans = []
    async with engine.connect() as conn:
        for statement, parameters in statements:
            result = await conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
            )
            plans.append(statement + "\n" + "\n".join(row[0] for row in result))
    return plans


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("PostgreSQL scale (bench.authz_scale)")
    g.add_argument("--scale", type=float, help="multiplies the four sizes (default 1; quick 0.01)")
    g.add_argument("--groups", type=int, default=10_000, help="groups (default 10000)")
    g.add_argument("--users", type=int, default=100_000, help="users (default 100000)")
    g.add_argument(
        "--memberships", type=int, default=1_000_000, help="group_members rows (default 1000000)"
    )
    g.add_argument("--resources", type=int, default=100_000, help="resources (default 100000)")
    g.add_argument("--acl-entries", type=int, default=10, help="entries per ACL (default 10)")
    g.add_argument("--heavy-users", type=int, default=50, help="users in many groups (default 50)")
    g.add_argument(
        "--effective-groups", type=int, default=100, help="their effective groups (default 100)"
    )
    g.add_argument(
        "--scale-samples", type=int, help="samples per check measurement (default 300; quick 20)"
    )
    g.add_argument(
        "--page-samples", type=int, help="samples per listing measurement (default 50; quick 5)"
    )
    g.add_argument(
        "--page-size", type=int, default=DEFAULT_LIMIT, help=f"page size (default {DEFAULT_LIMIT})"
    )
    g.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="EXPLAIN ANALYZE the statements of one call of each, into the JSON (default on)",
    )
    g.add_argument(
        "--scale-postgres-db", default="truapi_bench_authz_scale", help="database made and dropped"
    )
    g.add_argument(
        "--keep-database", action="store_true", help="leave the database for a look by hand"
    )


async def _measure(
    url: str, shape: Shape, args: argparse.Namespace, log: Callable[[str], None]
) -> tuple[Seeded, list[tuple[Measure, list[float]]], dict[str, list[str]]]:
    engine = make_engine(url)
    uow = SqlUnitOfWorkFactory(engine)
    try:
        log(
            f"seeding {shape.groups:,} groups, {shape.users:,} users, "
            f"{shape.memberships:,} memberships, {shape.resources:,} resources with SQL"
        )
        seeded = await seed(engine, shape, log)
        tid = seeded.tenant_id
        versions = PolicyVersions()
        async with uow(readonly=True) as work:
            versions.advance(tid, await work.policy_versions.current(tid))

        def fresh() -> Authorizer:
            return Authorizer(
                uow, versions, max_depth=MAX_DEPTH, fallback_allow=False, cache_size=100_000
            )

        rng = random.Random(11)
        decisions: dict[str, int] = {}
        wrong_counts: list[str] = []

        async def baseline(i: int) -> None:
            async with uow(readonly=True) as work:
                await work.policy_versions.current(tid)

        async def cold_heavy(i: int) -> None:
            user, _ = seeded.heavy[i % len(seeded.heavy)]
            verdict_ = await fresh().check(tid, f"user:{user}", "read", rng.choice(seeded.leaves))
            decisions[verdict_.decision.value] = decisions.get(verdict_.decision.value, 0) + 1

        async def cold_ordinary(i: int) -> None:
            user = seeded.ordinary[i % len(seeded.ordinary)]
            await fresh().check(tid, f"user:{user}", "read", rng.choice(seeded.leaves))

        async def groups_of(i: int) -> None:
            user, expected = seeded.heavy[i % len(seeded.heavy)]
            found = await fresh().groups(tid, MemberType.USER, user)
            if len(found) != expected:
                wrong_counts.append(f"{user}: {len(found)} groups, expected {expected}")

        def page_of(group: uuid.UUID) -> Callable[[int], Awaitable[None]]:
            async def page(i: int) -> None:
                after = None
                if i % 10:  # the first page now and then, else a page after a random user
                    after = MemberKeyset(MemberType.USER, user_uuid(rng.randrange(shape.users)))
                async with uow(readonly=True) as work:
                    await work.groups.members_page(
                        tid,
                        group,
                        transitive=True,
                        max_depth=MAX_DEPTH,
                        after=after,
                        limit=args.page_size + 1,  # the service asks one more, to know of a next
                    )

            return page

        quick = args.quick
        samples = args.scale_samples or (20 if quick else 300)
        pages = args.page_samples or (5 if quick else 50)
        heavy_count = seeded.heavy[0][1] if seeded.heavy else 0
        measures = [
            Measure(
                "baseline", "baseline: primary-key read in a unit of work", baseline, None, samples
            ),
            Measure(
                "cold_check",
                f"cold check, user in {heavy_count} groups, random leaf",
                cold_heavy,
                CHECK_TARGET_S,
                samples,
            ),
            Measure(
                "cold_check_ordinary",
                "  cold check, ordinary user, random leaf",
                cold_ordinary,
                None,
                samples,
            ),
            Measure(
                "groups",
                f"Authorizer.groups, user in {heavy_count} groups",
                groups_of,
                GROUPS_TARGET_S,
                samples,
            ),
            Measure(
                "members_largest",
                f"members_page transitive, largest group, {args.page_size}/page",
                page_of(seeded.largest_group),
                PAGE_TARGET_S,
                pages,
            ),
            Measure(
                "members_middle",
                f"  members_page transitive, group above leaves, {args.page_size}/page",
                page_of(seeded.middle_group),
                None,
                pages,
            ),
        ]
        log("warming up (connections, prepared statements, PostgreSQL's buffers)")
        for m in measures:
            for i in range(3):
                await m.call(i)
        decisions.clear()
        results: dict[str, list[float]] = {m.key: [] for m in measures}
        rounds = max(m.samples for m in measures)
        log(f"measuring: {samples} samples per check, {pages} per listing, interleaved")
        for i in range(rounds):
            for m in measures:
                if i < m.samples:
                    t0 = time.perf_counter_ns()
                    await m.call(i)
                    results[m.key].append((time.perf_counter_ns() - t0) / 1e9)
        seeded.decisions = dict(decisions)
        if wrong_counts:
            raise RuntimeError(f"Authorizer.groups disagrees with the seeding: {wrong_counts[:3]}")
        plans: dict[str, list[str]] = {}
        if args.explain:
            capture = Capture(engine)
            for m in measures[1:]:
                capture.statements.clear()
                capture.on = True
                await m.call(1)
                capture.on = False
                log(f"EXPLAIN ANALYZE of {len(capture.statements)} statement(s): {m.key}")
                plans[m.key] = await explain(engine, list(capture.statements))
        return seeded, [(m, results[m.key]) for m in measures], plans
    finally:
        await uow.close()
        await engine.dispose()


def run(args: argparse.Namespace, log: Callable[[str], None] = bench_log) -> Section:
    section = Section("scale")
    if args.no_postgres:
        section.rows.append(Row(PART, "everything", NONE, runs="--no-postgres", result="SKIP"))
        section.record = {"skipped": "--no-postgres"}
        return section
    factor = args.scale if args.scale is not None else (0.01 if args.quick else 1.0)
    shape = Shape(
        groups=max(20, round(args.groups * factor)),
        users=max(20, round(args.users * factor)),
        memberships=max(40, round(args.memberships * factor)),
        resources=max(20, round(args.resources * factor)),
        acl_entries=max(1, args.acl_entries),
        heavy_users=max(1, args.heavy_users if not args.quick else min(args.heavy_users, 10)),
        effective_groups=args.effective_groups,
    )
    log(f"creating PostgreSQL database {args.scale_postgres_db}")
    url = asyncio.run(create_postgres_database(args.postgres_url, args.scale_postgres_db))
    try:
        asyncio.run(seed_database(url, 0))  # migrations and the default tenant only
        seeded, measured, plans = asyncio.run(_measure(url, shape, args, log))
    finally:
        if args.keep_database:
            log(f"keeping PostgreSQL database {args.scale_postgres_db}: {url}")
        else:
            log(f"dropping PostgreSQL database {args.scale_postgres_db}")
            asyncio.run(drop_postgres_database(args.postgres_url, args.scale_postgres_db))
    base = statistics.median(measured[0][1])
    records = []
    for m, values in measured:
        p50, p95 = statistics.median(values), percentile(values, 95)
        passed = None if m.target_s is None else p95 <= m.target_s
        ratio = p50 / base if base else float("nan")
        section.rows.append(
            Row(
                part=PART,
                measurement=m.label,
                value=ms(p50),
                p95=f"p95 {ms(p95)}",
                runs=f"n={len(values)}, max {ms(max(values))}",
                ratio="reference" if m.key == "baseline" else f"{ratio:.1f}x baseline",
                target=NONE if m.target_s is None else f"p95 <= {m.target_s * 1000:g} ms",
                result=verdict(passed),
            )
        )
        records.append(
            {
                "key": m.key,
                "label": m.label.strip(),
                "samples": len(values),
                "p50_s": round(p50, 6),
                "p95_s": round(p95, 6),
                "p99_s": round(percentile(values, 99), 6),
                "max_s": round(max(values), 6),
                "mean_s": round(statistics.fmean(values), 6),
                "ratio_to_baseline_p50": round(ratio, 3),
                "target_p95_s": m.target_s,
                "result": verdict(passed),
                "values_s": [round(v, 6) for v in values],
            }
        )
    section.record = {
        "shape": {
            **vars(shape),
            "group_levels": shape.group_levels,
            "resource_levels": shape.resource_levels,
        },
        "rows": seeded.counts,
        "heavy_user_effective_groups": sorted({n for _, n in seeded.heavy}),
        "cold_check_decisions": seeded.decisions,
        "seed_seconds": seeded.seconds,
        "page_size": args.page_size,
        "timer": "time.perf_counter_ns around each call; interleaved samples",
        "measurements": records,
        "explain": plans,
    }
    return section


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.authz_scale", description=__doc__)
    add_common(p)
    add_arguments(p)
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    env_info = environment()
    before = load_average()
    section = run(args)
    print(render_table(section.rows))
    summary = {
        "started_at": started.isoformat(),
        "mode": "quick" if args.quick else "full",
        "environment": env_info,
        "load_average": {"before": before, "after": load_average()},
        "scale": section.record,
    }
    out = write_results(started, "authz-scale", summary)
    print(f"\nresults: {relative(out)}")
    if section.errored:
        return 2
    return 1 if section.failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
