"""Raw argon2id verifications per second in this process (``python -m bench.auth_argon2``).

The reference for login throughput: ``argon2.PasswordHasher(...).verify`` of one hash, back
to back, on one thread, with the cost parameters TruAPI is given. Run it pinned to the
server's CPU (``taskset -c 0``) so it gets the single core a server gets. Prints one JSON
line: verifications, wall seconds, CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import json
import time

import argon2

# The same length and kind of password the login scenarios send.
PASSWORD = "Flood-pw-99127x"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, required=True, help="how long to verify")
    parser.add_argument("--time-cost", type=int, required=True)
    parser.add_argument("--memory-cost-kib", type=int, required=True)
    parser.add_argument("--parallelism", type=int, required=True)
    args = parser.parse_args(argv)
    hasher = argon2.PasswordHasher(
        time_cost=args.time_cost,
        memory_cost=args.memory_cost_kib,
        parallelism=args.parallelism,
        type=argon2.Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)  # first touch of the memory, outside the measurement
    count = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + args.seconds
    while True:
        hasher.verify(stored, PASSWORD)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    result = {
        "verifications": count,
        "seconds": now - start,
        "cpu_seconds": time.process_time() - cpu0,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
